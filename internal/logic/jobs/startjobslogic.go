package jobs

import (
	"context"
	"errors"
	"fmt"

	"github.com/zeromicro/go-zero/core/logx"

	"jobs/internal/apperr"
	"jobs/internal/auth"
	"jobs/internal/events"
	"jobs/internal/jobview"
	"jobs/internal/svc"
	"jobs/internal/types"
	"jobs/model"
)

type StartJobsLogic struct {
	logx.Logger
	ctx    context.Context
	svcCtx *svc.ServiceContext
}

// Start jobs in one transaction
func NewStartJobsLogic(ctx context.Context, svcCtx *svc.ServiceContext) *StartJobsLogic {
	return &StartJobsLogic{
		Logger: logx.WithContext(ctx),
		ctx:    ctx,
		svcCtx: svcCtx,
	}
}

// StartJobs checks every start request first, so that a bad one refuses the batch before
// anything is written; then it commits the jobs in one statement (model.InsertMany),
// announces them and enqueues the due ones in one pipeline, like StartJob does for one.
// An idempotency key used by an earlier item of the batch answers that item's job; one
// used before the batch answers the job it started then.
func (l *StartJobsLogic) StartJobs(req *types.StartJobsReq) (*types.StartJobsResp, error) {
	caller, err := auth.FromContext(l.ctx)
	if err != nil {
		return nil, err
	}
	if len(req.Jobs) == 0 {
		return nil, apperr.Invalid("jobs must hold at least one start request")
	}
	if limit := l.svcCtx.Config.Limits.MaxBatch; len(req.Jobs) > limit {
		return nil, apperr.Invalid("jobs holds %d start requests, over the limit of %d (Limits.MaxBatch)", len(req.Jobs), limit)
	}
	// distinct are the jobs to insert; place[i] is the one that answers item i.
	distinct := make([]*model.Jobs, 0, len(req.Jobs))
	place := make([]int, len(req.Jobs))
	byKey := make(map[string]int)
	for i := range req.Jobs {
		job, err := newJob(l.svcCtx, caller, &req.Jobs[i])
		if err != nil {
			return nil, inItem(i, err)
		}
		if job.IdempotencyKey.Valid {
			if first, ok := byKey[job.IdempotencyKey.String]; ok {
				place[i] = first
				continue
			}
			byKey[job.IdempotencyKey.String] = len(distinct)
		}
		place[i] = len(distinct)
		distinct = append(distinct, job)
	}

	ctx, cancel := context.WithTimeout(context.WithoutCancel(l.ctx), commitTimeout)
	defer cancel()
	held, err := l.svcCtx.Jobs.InsertMany(ctx, distinct)
	if err != nil {
		return nil, err
	}
	var created []events.Pending
	var due []string
	for i, job := range distinct {
		if held[i] != job {
			continue // its key started another job before
		}
		created = append(created, events.Created(job))
		if job.EnqueuedAt.Valid {
			due = append(due, job.Id)
		}
	}
	if err := l.svcCtx.Events.Publish(l.ctx, created...); err != nil {
		l.Errorf("%d jobs are stored; announcing them to their tenant's event streams failed: %v", len(created), err)
	}
	if err := l.svcCtx.Dispatcher.Enqueue(ctx, due...); err != nil {
		l.Errorf("%d jobs are stored but not yet enqueued (the sweep will enqueue them): %v", len(due), err)
	}
	items := make([]types.JobItem, len(req.Jobs))
	for i, p := range place {
		items[i] = jobview.Item(held[p])
	}
	return &types.StartJobsResp{Jobs: items}, nil
}

// inItem names item i of the batch in err's message ("jobs[3].functionId is required"),
// keeping its kind (a 400, or a 413 for params over the limit).
func inItem(i int, err error) error {
	var e *apperr.Error
	if !errors.As(err, &e) {
		return err
	}
	return &apperr.Error{Kind: e.Kind, Message: fmt.Sprintf("jobs[%d].%s", i, e.Message), Err: e.Err}
}
