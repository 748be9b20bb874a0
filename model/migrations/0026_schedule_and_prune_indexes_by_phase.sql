-- The schedule filter's list index (0020) and retention's index (0015) were written beside
-- the hot-path change (0010) and still carried `status`, so every claim, retry and hand-back
-- rewrote their entries. Like the other list indexes they carry `phase` instead: a finished
-- job's phase is its terminal status, so pruning ranges over (phase, finished_at) as before.
ALTER TABLE `jobs`
  DROP INDEX IF EXISTS `idx_tenant_schedule_created`,
  DROP INDEX IF EXISTS `idx_status_finished`,
  ADD KEY `idx_tenant_schedule_created` (`tenant_id`, `schedule_id`, `created_at`, `id`, `phase`),
  ADD KEY IF NOT EXISTS `idx_phase_finished` (`phase`, `finished_at`);
