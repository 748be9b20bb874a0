package functioncalls

import (
	"context"

	"github.com/zeromicro/go-zero/core/logx"

	"jobs/internal/jobquery"
	"jobs/internal/jobview"
	"jobs/internal/svc"
	"jobs/internal/types"
)

type GetFunctionCallLogic struct {
	logx.Logger
	ctx    context.Context
	svcCtx *svc.ServiceContext
}

// One function call
func NewGetFunctionCallLogic(ctx context.Context, svcCtx *svc.ServiceContext) *GetFunctionCallLogic {
	return &GetFunctionCallLogic{
		Logger: logx.WithContext(ctx),
		ctx:    ctx,
		svcCtx: svcCtx,
	}
}

func (l *GetFunctionCallLogic) GetFunctionCall(req *types.FunctionCallIdReq) (*types.FunctionCall, error) {
	job, err := jobquery.Find(l.ctx, l.svcCtx.Jobs, req.Id)
	if err != nil {
		return nil, err
	}
	call := jobview.FunctionCall(job)
	return &call, nil
}
