-- Schedules (periodic starts, docs/SCHEDULES.md). A schedule belongs to a tenant; its id is
-- the caller's, unique within the tenant. next_fire_at is the earliest fire time not yet
-- handled: a scheduler fires a schedule by moving next_fire_at forward with a
-- compare-and-set in the same transaction that inserts the jobs it starts, so each
-- (schedule, fire time) starts at most one job whatever the number of processes, and the
-- fire times it passes are either started or counted (missed_fires, overlap_skipped).
CREATE TABLE IF NOT EXISTS `schedules` (
  `tenant_id` varchar(64) CHARACTER SET utf8mb4 COLLATE utf8mb4_nopad_bin NOT NULL,
  `id` varchar(128) CHARACTER SET ascii COLLATE ascii_bin NOT NULL COMMENT 'the caller''s id, unique within the tenant',
  `cron` varchar(255) NOT NULL COMMENT '5 fields or a descriptor (@hourly, @every 30s)',
  `timezone` varchar(64) NOT NULL DEFAULT 'UTC' COMMENT 'IANA name the cron fields are read in',
  `overlap` varchar(8) CHARACTER SET ascii NOT NULL DEFAULT 'allow' COMMENT 'allow, or skip while the last job is not terminal',
  `function_id` varchar(128) NOT NULL,
  `name` varchar(255) NOT NULL DEFAULT '',
  `params` mediumtext NOT NULL COMMENT 'JSON object',
  `actor` varchar(128) NOT NULL DEFAULT '',
  `game_id` varchar(128) NOT NULL DEFAULT '',
  `env` varchar(64) NOT NULL DEFAULT '',
  `max_attempts` int NOT NULL DEFAULT 0 COMMENT '0: the function''s',
  `timeout_seconds` bigint NOT NULL DEFAULT 0 COMMENT '0: the function''s',
  `callback_url` varchar(2048) NOT NULL DEFAULT '',
  `source` varchar(8) CHARACTER SET ascii NOT NULL DEFAULT 'api' COMMENT 'api, or config (declared in the config file)',
  `paused` tinyint(1) NOT NULL DEFAULT 0,
  `next_fire_at` datetime(3) NOT NULL COMMENT 'earliest fire time not yet handled',
  `fired` bigint NOT NULL DEFAULT 0 COMMENT 'jobs started for fire times',
  `triggered` bigint NOT NULL DEFAULT 0 COMMENT 'jobs started by trigger',
  `missed_fires` bigint NOT NULL DEFAULT 0 COMMENT 'fire times skipped because they were missed (service down)',
  `overlap_skipped` bigint NOT NULL DEFAULT 0 COMMENT 'fire times skipped because the last job was not terminal',
  `last_fire_at` datetime(3) NULL COMMENT 'latest fire time handled',
  `last_job_id` char(36) CHARACTER SET ascii NOT NULL DEFAULT '' COMMENT 'latest job started (fire or trigger)',
  `last_error` varchar(1024) NOT NULL DEFAULT '' COMMENT 'why the latest fire started nothing, if it did not',
  `created_at` datetime(3) NOT NULL,
  `updated_at` datetime(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3) ON UPDATE CURRENT_TIMESTAMP(3),
  PRIMARY KEY (`tenant_id`, `id`),
  KEY `idx_due` (`paused`, `next_fire_at`),
  CONSTRAINT `chk_overlap` CHECK (`overlap` IN ('allow', 'skip')),
  CONSTRAINT `chk_source` CHECK (`source` IN ('api', 'config'))
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

-- A job started by a schedule carries its id and the fire time it was started for (NULL for a
-- trigger); the index makes the schedule_id list filter and a schedule's last jobs one range.
-- Existing jobs were started by no schedule: the defaults say so.
ALTER TABLE `jobs`
  ADD COLUMN IF NOT EXISTS `schedule_id` varchar(128) CHARACTER SET ascii COLLATE ascii_bin NOT NULL DEFAULT '' COMMENT 'schedule that started the job; empty: none' AFTER `callback_delivered_at`,
  ADD COLUMN IF NOT EXISTS `scheduled_for` datetime(3) NULL COMMENT 'fire time the schedule started the job for; NULL: not a fire' AFTER `schedule_id`,
  ADD KEY IF NOT EXISTS `idx_tenant_schedule_created` (`tenant_id`, `schedule_id`, `created_at`, `id`, `status`);
