package jobs

import (
	"context"

	"github.com/zeromicro/go-zero/core/logx"

	"jobs/internal/apperr"
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

// BulkRerunJobs reruns each terminal job the request names (rerunJob); one whose function is
// no longer registered is skipped. A failure of MySQL ends the request: the reruns made so
// far stand, each complete.
func (l *BulkRerunJobsLogic) BulkRerunJobs(req *types.BulkReq) (*types.BulkResp, error) {
	targets, skipped, limited, err := bulkTargets(l.ctx, l.svcCtx, req, model.StatusCompleted, model.StatusFailed, model.StatusCancelled)
	if err != nil {
		return nil, err
	}
	resp := &types.BulkResp{Skipped: skipped, Ids: []string{}, RerunIds: []string{}, Limited: limited}
	for _, old := range targets {
		rerun, err := rerunJob(l.ctx, l.svcCtx, old)
		if apperr.KindOf(err) == apperr.Conflict {
			resp.Skipped++
			continue
		}
		if err != nil {
			return nil, err
		}
		resp.Ids, resp.RerunIds = append(resp.Ids, old.Id), append(resp.RerunIds, rerun.Id)
	}
	resp.Acted = int64(len(resp.Ids))
	return resp, nil
}
