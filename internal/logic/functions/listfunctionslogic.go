package functions

import (
	"context"

	"github.com/zeromicro/go-zero/core/logx"

	"jobs/internal/svc"
	"jobs/internal/types"
)

type ListFunctionsLogic struct {
	logx.Logger
	ctx    context.Context
	svcCtx *svc.ServiceContext
}

// Registered functions
func NewListFunctionsLogic(ctx context.Context, svcCtx *svc.ServiceContext) *ListFunctionsLogic {
	return &ListFunctionsLogic{
		Logger: logx.WithContext(ctx),
		ctx:    ctx,
		svcCtx: svcCtx,
	}
}

func (l *ListFunctionsLogic) ListFunctions() ([]types.FunctionInfo, error) {
	defs := l.svcCtx.Functions.All()
	out := make([]types.FunctionInfo, len(defs))
	for i, d := range defs {
		out[i] = types.FunctionInfo{
			Id:             d.ID,
			Kind:           d.Kind,
			Description:    d.Description,
			TimeoutSeconds: d.Timeout.Seconds(),
			MaxAttempts:    int64(d.MaxAttempts),
			RequiredParams: append([]string{}, d.RequiredParams...),
		}
	}
	return out, nil
}
