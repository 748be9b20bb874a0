-- List indexes carry status, so a status filter combined with another filter is checked
-- inside the index (no row lookups) for both the page and the capped total. The primary key
-- is spelled out before status so that each index still reads in (created_at, id) order.
-- idx_lease_token goes: claims read their winners by primary key, so it only cost writes.
ALTER TABLE `jobs`
  DROP INDEX IF EXISTS `idx_tenant_created`,
  DROP INDEX IF EXISTS `idx_tenant_function_created`,
  DROP INDEX IF EXISTS `idx_tenant_name_created`,
  DROP INDEX IF EXISTS `idx_tenant_actor_created`,
  DROP INDEX IF EXISTS `idx_tenant_game_created`,
  DROP INDEX IF EXISTS `idx_tenant_env_created`,
  DROP INDEX IF EXISTS `idx_lease_token`,
  ADD KEY `idx_tenant_created` (`tenant_id`, `created_at`, `id`, `status`),
  ADD KEY `idx_tenant_function_created` (`tenant_id`, `function_id`, `created_at`, `id`, `status`),
  ADD KEY `idx_tenant_name_created` (`tenant_id`, `name`, `created_at`, `id`, `status`),
  ADD KEY `idx_tenant_actor_created` (`tenant_id`, `actor`, `created_at`, `id`, `status`),
  ADD KEY `idx_tenant_game_created` (`tenant_id`, `game_id`, `created_at`, `id`, `status`),
  ADD KEY `idx_tenant_env_created` (`tenant_id`, `env`, `created_at`, `id`, `status`);
