-- Reruns and retention (issue 12). rerun_of names the job a rerun started from (empty for
-- every other job, so existing rows need no update). Pruning finds a status's jobs finished
-- before its cut-off across all tenants: (status, finished_at) is that range, oldest first
-- (the tenant-led index cannot serve it).
ALTER TABLE `jobs`
  ADD COLUMN IF NOT EXISTS `rerun_of` char(36) CHARACTER SET ascii NOT NULL DEFAULT '' COMMENT 'the job this one reruns; empty: none' AFTER `env`,
  ADD KEY IF NOT EXISTS `idx_status_finished` (`status`, `finished_at`);
