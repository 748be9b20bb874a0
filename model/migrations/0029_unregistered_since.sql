-- A worker that claims a job whose function it does not have (a rolling deploy that adds the
-- function) hands it back to pending; the first such hand-back since the job last ran is kept
-- here, and the job fails once workers have handed it back for Worker.UnknownFunctionGrace.
ALTER TABLE `jobs`
  ADD COLUMN IF NOT EXISTS `unregistered_since` datetime(3) NULL COMMENT 'first hand-back by a worker without its function since the job last ran; NULL: none';
