-- The hot path stops rewriting the listing indexes on every transition (issue 11; the numbers
-- are in docs/ARCHITECTURE.md, "Hot path"). `phase` is the status as the listing sees it:
-- 'active' for pending and running, else the terminal status. MariaDB keeps it (a stored
-- generated column, so no statement can forget it); a claim (pending -> running), a retry and
-- a hand-back (running -> pending) leave it as it is, so they leave the seven list indexes and
-- the overview's index alone: InnoDB only rewrites an index entry whose columns changed.
-- Pending and running jobs are told apart by (status, tenant_id, created_at), which also
-- serves the lease reaper (running jobs are as few as the workers' slots), so the index on
-- (status, lease_expires_at) goes. The table is rebuilt once, computing `phase` of every row.
ALTER TABLE `jobs`
  ADD COLUMN IF NOT EXISTS `phase` varchar(16) CHARACTER SET ascii GENERATED ALWAYS AS (if(`status` in ('pending','running'),'active',`status`)) STORED COMMENT 'status as the list indexes see it: active (pending or running), completed, failed, cancelled' AFTER `status`,
  DROP INDEX IF EXISTS `idx_tenant_created`,
  DROP INDEX IF EXISTS `idx_tenant_status_created`,
  DROP INDEX IF EXISTS `idx_tenant_status_finished`,
  DROP INDEX IF EXISTS `idx_tenant_function_created`,
  DROP INDEX IF EXISTS `idx_tenant_name_created`,
  DROP INDEX IF EXISTS `idx_tenant_actor_created`,
  DROP INDEX IF EXISTS `idx_tenant_game_created`,
  DROP INDEX IF EXISTS `idx_tenant_env_created`,
  DROP INDEX IF EXISTS `idx_status_lease`,
  ADD KEY `idx_tenant_created` (`tenant_id`, `created_at`, `id`, `phase`),
  ADD KEY IF NOT EXISTS `idx_tenant_phase_created` (`tenant_id`, `phase`, `created_at`),
  ADD KEY IF NOT EXISTS `idx_tenant_phase_finished` (`tenant_id`, `phase`, `finished_at`, `function_id`, `run_at`, `created_at`),
  ADD KEY `idx_tenant_function_created` (`tenant_id`, `function_id`, `created_at`, `id`, `phase`),
  ADD KEY `idx_tenant_name_created` (`tenant_id`, `name`, `created_at`, `id`, `phase`),
  ADD KEY `idx_tenant_actor_created` (`tenant_id`, `actor`, `created_at`, `id`, `phase`),
  ADD KEY `idx_tenant_game_created` (`tenant_id`, `game_id`, `created_at`, `id`, `phase`),
  ADD KEY `idx_tenant_env_created` (`tenant_id`, `env`, `created_at`, `id`, `phase`),
  ADD KEY IF NOT EXISTS `idx_status_tenant_created` (`status`, `tenant_id`, `created_at`);
