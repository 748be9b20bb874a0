-- The last output lines of a job's latest attempt (command functions' stdout/stderr), as a
-- JSON array of {"stream", "line"}; NULL when the function logged nothing.
ALTER TABLE `jobs`
  ADD COLUMN IF NOT EXISTS `log_tail` mediumtext NULL COMMENT 'JSON array of the last output lines' AFTER `result`;
