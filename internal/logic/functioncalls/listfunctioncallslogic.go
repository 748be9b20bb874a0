package functioncalls

import (
	"context"

	"github.com/zeromicro/go-zero/core/logx"

	"jobs/internal/jobquery"
	"jobs/internal/jobview"
	"jobs/internal/svc"
	"jobs/internal/types"
)

type ListFunctionCallsLogic struct {
	logx.Logger
	ctx    context.Context
	svcCtx *svc.ServiceContext
}

// Function-call history: a read-only view over jobs
func NewListFunctionCallsLogic(ctx context.Context, svcCtx *svc.ServiceContext) *ListFunctionCallsLogic {
	return &ListFunctionCallsLogic{
		Logger: logx.WithContext(ctx),
		ctx:    ctx,
		svcCtx: svcCtx,
	}
}

func (l *ListFunctionCallsLogic) ListFunctionCalls(req *types.ListJobsReq) (*types.FunctionCallList, error) {
	f, err := jobview.ParseListQuery(req, l.svcCtx.Config.Limits.MaxPageSize)
	if err != nil {
		return nil, err
	}
	page, total, err := jobquery.Page(l.ctx, l.svcCtx.Jobs, f, true, l.svcCtx.Config.Limits.ExactTotalUpTo)
	if err != nil {
		return nil, err
	}
	calls := make([]types.FunctionCall, len(page))
	for i, j := range page {
		calls[i] = jobview.FunctionCall(j)
	}
	return &types.FunctionCallList{List: calls, Total: total.N, TotalIsEstimate: !total.Exact, Page: f.Page, Size: f.Size}, nil
}
