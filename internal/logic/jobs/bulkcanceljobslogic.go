package jobs

import (
	"context"
	"slices"

	"github.com/zeromicro/go-zero/core/logx"

	"jobs/internal/events"
	"jobs/internal/metrics"
	"jobs/internal/svc"
	"jobs/internal/types"
	"jobs/model"
)

type BulkCancelJobsLogic struct {
	logx.Logger
	ctx    context.Context
	svcCtx *svc.ServiceContext
}

// Cancel many jobs
func NewBulkCancelJobsLogic(ctx context.Context, svcCtx *svc.ServiceContext) *BulkCancelJobsLogic {
	return &BulkCancelJobsLogic{
		Logger: logx.WithContext(ctx),
		ctx:    ctx,
		svcCtx: svcCtx,
	}
}

// cancelBatch bounds the jobs one CancelMany transaction locks.
const cancelBatch = 500

// BulkCancelJobs cancels the pending and running jobs the request names, in transactions of
// cancelBatch jobs, each job with its own compare-and-set (CancelMany). Once every batch is
// committed, the workers of the running ones are told to stop them in one round trip, and
// then the streams hear of every cancel. A job a worker finished meanwhile is skipped. Once
// the targets are read, the rest runs whatever the client does (detached).
func (l *BulkCancelJobsLogic) BulkCancelJobs(req *types.BulkReq) (*types.BulkResp, error) {
	targets, skipped, limited, err := bulkTargets(l.ctx, l.svcCtx, req, model.StatusPending, model.StatusRunning)
	if err != nil {
		return nil, err
	}
	ctx, cancel := detached(l.ctx)
	defer cancel()
	byID := make(map[string]*model.Jobs, len(targets))
	ids := make([]string, len(targets))
	for i, j := range targets {
		byID[j.Id], ids[i] = j, j.Id
	}
	var cancelled []model.Cancelled
	for batch := range slices.Chunk(ids, cancelBatch) {
		moved, err := l.svcCtx.Jobs.CancelMany(ctx, batch)
		if err != nil {
			return nil, err
		}
		cancelled = append(cancelled, moved...)
	}
	resp := &types.BulkResp{Acted: int64(len(cancelled)), Skipped: skipped + int64(len(targets)-len(cancelled)),
		Ids: make([]string, len(cancelled)), RerunIds: []string{}, Limited: limited}
	var running []string
	var announce []events.Pending
	for i, c := range cancelled {
		resp.Ids[i] = c.Id
		if c.From == model.StatusRunning {
			running = append(running, c.Id)
		}
		j := byID[c.Id]
		metrics.JobFinished(j.FunctionId, string(model.StatusCancelled))
		announce = append(announce, events.StatusChange(j.Id, events.OwnerOf(j), model.StatusCancelled, c.Attempt, c.Error)...)
	}
	if err := l.svcCtx.Queue.PublishCancels(ctx, running); err != nil {
		l.Errorf("%d jobs cancelled; signalling their workers failed (they stop at their next heartbeat): %v", len(running), err)
	}
	if err := l.svcCtx.Events.Publish(ctx, announce...); err != nil {
		l.Errorf("%d jobs cancelled; announcing it to streams failed: %v", len(cancelled), err)
	}
	return resp, nil
}
