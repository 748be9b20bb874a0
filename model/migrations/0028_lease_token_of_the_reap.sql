-- The sweep's reap marks the jobs it moves with its token too, so a retry of a reap whose
-- reply was lost reads back what it moved and announces it. A comment change: no row is
-- rewritten.
ALTER TABLE `jobs`
  MODIFY COLUMN `lease_token` char(36) CHARACTER SET ascii NOT NULL DEFAULT '' COMMENT 'claim that won the running job; after a worker outcome or a reap, the write of it';
