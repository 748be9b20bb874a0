-- A job's own bound on one attempt (timeoutSeconds at start, else the function's timeout when
-- the job was started), in milliseconds; 0 (jobs from before this migration): the function's.
ALTER TABLE `jobs`
  ADD COLUMN IF NOT EXISTS `timeout_ms` bigint NOT NULL DEFAULT 0 COMMENT 'bound of one attempt; 0: the function''s' AFTER `max_attempts`;
