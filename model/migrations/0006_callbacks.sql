-- Completion callbacks. The delivery state lives on the job: the terminal transitions set
-- callback_due_at in the same UPDATE that makes the job terminal, so no terminal job with a
-- callback_url can miss its delivery. Deliverers claim due rows with a compare-and-set that
-- pushes callback_due_at forward (a lease) and sets callback_token, and finish them with a
-- compare-and-set on that token.
ALTER TABLE `jobs`
  ADD COLUMN IF NOT EXISTS `callback_url` varchar(2048) NOT NULL DEFAULT '' COMMENT 'POSTed the job once it is terminal; empty: none' AFTER `env`,
  ADD COLUMN IF NOT EXISTS `callback_id` char(36) CHARACTER SET ascii NOT NULL DEFAULT '' COMMENT 'delivery id, the same on every attempt' AFTER `callback_url`,
  ADD COLUMN IF NOT EXISTS `callback_status` varchar(16) CHARACTER SET ascii NOT NULL DEFAULT '' COMMENT 'empty (no callback), pending, delivered, failed' AFTER `callback_id`,
  ADD COLUMN IF NOT EXISTS `callback_attempts` int NOT NULL DEFAULT 0 AFTER `callback_status`,
  ADD COLUMN IF NOT EXISTS `callback_error` varchar(1024) NOT NULL DEFAULT '' AFTER `callback_attempts`,
  ADD COLUMN IF NOT EXISTS `callback_due_at` datetime(3) NULL COMMENT 'next delivery attempt; NULL until the job is terminal' AFTER `callback_error`,
  ADD COLUMN IF NOT EXISTS `callback_token` char(36) CHARACTER SET ascii NOT NULL DEFAULT '' COMMENT 'claim of the attempt in flight' AFTER `callback_due_at`,
  ADD COLUMN IF NOT EXISTS `callback_delivered_at` datetime(3) NULL AFTER `callback_token`,
  ADD KEY IF NOT EXISTS `idx_callback_due` (`callback_status`, `callback_due_at`);
