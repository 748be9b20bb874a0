-- Finish writes a worker's outcomes in one statement and marks the rows it changed with its
-- own token, read back only when some outcome of the batch lost; lease_token so names the
-- claim of a running job and, once a worker's outcome is written, that write. A comment
-- change: no row is rewritten.
ALTER TABLE `jobs`
  MODIFY COLUMN `lease_token` char(36) CHARACTER SET ascii NOT NULL DEFAULT '' COMMENT 'claim that won the running job; after a worker outcome, the write of it';
