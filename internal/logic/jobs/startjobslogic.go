package jobs

import (
	"context"
	"errors"
	"fmt"

	"github.com/zeromicro/go-zero/core/logx"

	"jobs/internal/apperr"
	"jobs/internal/auth"
	"jobs/internal/jobview"
	"jobs/internal/starts"
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
// anything is written; then starts.Writer commits the jobs in one transaction, announces them
// and enqueues the due ones in one pipeline. An idempotency key used by an earlier item of
// the batch answers that item's job; one used before the batch answers the job it started
// then.
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
	jobs := make([]*model.Jobs, len(req.Jobs))
	for i := range req.Jobs {
		if jobs[i], err = newJob(l.svcCtx, caller, &req.Jobs[i]); err != nil {
			return nil, inItem(i, err)
		}
	}
	end := starts.Traced(l.ctx, jobs)
	held, err := l.svcCtx.Starts.Write(l.ctx, jobs)
	end(held)
	if err != nil {
		return nil, err
	}
	return &types.StartJobsResp{Jobs: jobview.Items(held)}, nil
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
