-- The overview's numbers (GET /api/v1/stats) read one index range each: a tenant's jobs
-- completed or failed since an hour ago (tenant, status, finished_at), and, for each function,
-- its pending jobs (finished_at is NULL for every non-terminal job, so it is an equality here):
-- their count, the oldest created among those without run_at, and the earliest run_at among
-- those with one, both first entries of their range.
ALTER TABLE `jobs`
  ADD KEY IF NOT EXISTS `idx_tenant_status_finished` (`tenant_id`, `status`, `finished_at`, `function_id`, `run_at`, `created_at`);
