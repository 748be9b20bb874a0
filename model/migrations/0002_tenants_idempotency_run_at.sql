-- Tenants, idempotency keys and delayed start (one ALTER, so it applies entirely or not at all).
-- Jobs created before this migration belong to the tenant "default".
-- Every list query filters on tenant_id first, so the list indexes lead with it; the id
-- (UUIDv7, the primary key) is the implicit last column of each, which orders ties.
ALTER TABLE `jobs`
  ADD COLUMN IF NOT EXISTS `tenant_id` varchar(64) NOT NULL DEFAULT 'default' COMMENT 'tenant that started the job' AFTER `id`,
  ADD COLUMN IF NOT EXISTS `idempotency_key` varchar(255) NULL COMMENT 'caller key: one job per (tenant, key)' AFTER `tenant_id`,
  ADD COLUMN IF NOT EXISTS `run_at` datetime(3) NULL COMMENT 'not started before this time; NULL: at once' AFTER `enqueued_at`,
  DROP INDEX IF EXISTS `idx_created`,
  DROP INDEX IF EXISTS `idx_status_created`,
  DROP INDEX IF EXISTS `idx_function_created`,
  DROP INDEX IF EXISTS `idx_actor_created`,
  DROP INDEX IF EXISTS `idx_game_created`,
  DROP INDEX IF EXISTS `idx_env_created`,
  DROP INDEX IF EXISTS `idx_status_enqueued`,
  ADD UNIQUE KEY IF NOT EXISTS `uk_tenant_idempotency` (`tenant_id`, `idempotency_key`),
  ADD KEY IF NOT EXISTS `idx_tenant_created` (`tenant_id`, `created_at`),
  ADD KEY IF NOT EXISTS `idx_tenant_status_created` (`tenant_id`, `status`, `created_at`),
  ADD KEY IF NOT EXISTS `idx_tenant_function_created` (`tenant_id`, `function_id`, `created_at`),
  ADD KEY IF NOT EXISTS `idx_tenant_name_created` (`tenant_id`, `name`, `created_at`),
  ADD KEY IF NOT EXISTS `idx_tenant_actor_created` (`tenant_id`, `actor`, `created_at`),
  ADD KEY IF NOT EXISTS `idx_tenant_game_created` (`tenant_id`, `game_id`, `created_at`),
  ADD KEY IF NOT EXISTS `idx_tenant_env_created` (`tenant_id`, `env`, `created_at`),
  ADD KEY IF NOT EXISTS `idx_status_enqueued_run` (`status`, `enqueued_at`, `run_at`);
