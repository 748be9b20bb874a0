-- The W3C traceparent of the start request's span (jobs.start), so that a worker continues
-- the request's trace when it runs the job, after any Redis loss and on any worker. Jobs
-- started before this column, or without tracing, have none ('').
ALTER TABLE `jobs`
  ADD COLUMN IF NOT EXISTS `trace_parent` varchar(64) CHARACTER SET ascii NOT NULL DEFAULT '' COMMENT 'W3C traceparent of the start request; empty: none' AFTER `env`;
