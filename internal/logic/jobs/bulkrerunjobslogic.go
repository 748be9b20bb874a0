package jobs

import (
	"context"
	"slices"

	"github.com/zeromicro/go-zero/core/logx"

	"jobs/internal/apperr"
	"jobs/internal/starts"
	"jobs/internal/svc"
	"jobs/internal/types"
	"jobs/model"
)

type BulkRerunJobsLogic struct {
	logx.Logger
	ctx    context.Context
	svcCtx *svc.ServiceContext
}

// Rerun many terminal jobs
func NewBulkRerunJobsLogic(ctx context.Context, svcCtx *svc.ServiceContext) *BulkRerunJobsLogic {
	return &BulkRerunJobsLogic{
		Logger: logx.WithContext(ctx),
		ctx:    ctx,
		svcCtx: svcCtx,
	}
}

// BulkRerunJobs reruns each terminal job the request names (rerunJob); one that rerunJob
// refuses (its function gone, or its fields refused as a start's would be now) is skipped. The reruns are written as the batch route writes its jobs
// (starts.Writer.Write), Limits.MaxBatch to a transaction: one start at a time took 2-3 ms per
// job, so a filter's 10,000 ran past the route's timeout, answered 503 and went on rerunning,
// and the client's retry reran them all again. A failure of MySQL ends the request: the
// transactions committed so far stand, each whole.
func (l *BulkRerunJobsLogic) BulkRerunJobs(req *types.BulkReq) (*types.BulkResp, error) {
	targets, skipped, limited, err := bulkTargets(l.ctx, l.svcCtx, req, model.StatusCompleted, model.StatusFailed, model.StatusCancelled)
	if err != nil {
		return nil, err
	}
	resp := &types.BulkResp{Skipped: skipped, Ids: []string{}, RerunIds: []string{}, Limited: limited}
	var reruns []*model.Jobs
	for _, old := range targets {
		rerun, err := rerunJob(l.svcCtx, old)
		if apperr.KindOf(err) == apperr.Conflict {
			resp.Skipped++
			continue
		}
		if err != nil {
			return nil, err
		}
		reruns = append(reruns, rerun)
	}
	for chunk := range slices.Chunk(reruns, max(l.svcCtx.Config.Limits.MaxBatch, 1)) {
		end := starts.Traced(l.ctx, chunk)
		held, err := l.svcCtx.Starts.Write(l.ctx, chunk)
		end(held)
		if err != nil {
			return nil, err
		}
		for _, rerun := range chunk {
			resp.Ids, resp.RerunIds = append(resp.Ids, rerun.RerunOf), append(resp.RerunIds, rerun.Id)
		}
	}
	resp.Acted = int64(len(resp.Ids))
	return resp, nil
}
