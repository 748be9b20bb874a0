package jobs

import (
	"context"
	"errors"

	"github.com/zeromicro/go-zero/core/logx"

	"jobs/internal/apperr"
	"jobs/internal/auth"
	"jobs/internal/jobview"
	"jobs/internal/svc"
	"jobs/internal/types"
	"jobs/model"
)

type GetJobLogic struct {
	logx.Logger
	ctx    context.Context
	svcCtx *svc.ServiceContext
}

// Job detail with result
func NewGetJobLogic(ctx context.Context, svcCtx *svc.ServiceContext) *GetJobLogic {
	return &GetJobLogic{
		Logger: logx.WithContext(ctx),
		ctx:    ctx,
		svcCtx: svcCtx,
	}
}

func (l *GetJobLogic) GetJob(req *types.JobIdReq) (*types.JobDetail, error) {
	job, err := FindJob(l.ctx, l.svcCtx.Jobs, req.Id)
	if err != nil {
		return nil, err
	}
	return jobview.Detail(job), nil
}

// FindJob validates id and loads the job if it belongs to the caller's tenant (any tenant
// for an admin). A missing job and another tenant's job are the same 404, so ids of other
// tenants reveal nothing.
func FindJob(ctx context.Context, jobs model.JobsModel, id string) (*model.Jobs, error) {
	tenant, err := auth.Scope(ctx)
	if err != nil {
		return nil, err
	}
	if err := jobview.ParseID(id); err != nil {
		return nil, err
	}
	var job *model.Jobs
	if tenant == "" {
		job, err = jobs.FindOne(ctx, id)
	} else {
		job, err = jobs.FindOneInTenant(ctx, tenant, id)
	}
	if errors.Is(err, model.ErrNotFound) {
		return nil, apperr.New(apperr.NotFound, "job %s not found", id)
	}
	return job, err
}

// ScopeFilter confines f to the jobs the caller may see. f.Tenant is the tenant_id asked
// for: an admin sees that tenant's jobs, or every tenant's without one; an ordinary token
// sees its own tenant's only, and naming another is a 403. name is the parameter's name in
// messages (tenant_id, or filter.tenant_id in a bulk body).
func ScopeFilter(ctx context.Context, f *model.JobFilter, name string) error {
	caller, err := auth.FromContext(ctx)
	if err != nil {
		return err
	}
	if f.Tenant != "" {
		if err := (auth.Identity{Tenant: f.Tenant}).Check(); err != nil {
			return apperr.Invalid("%s: %v", name, err)
		}
	}
	switch {
	case caller.Admin:
		f.AllTenants = f.Tenant == ""
	case f.Tenant != "" && f.Tenant != caller.Tenant:
		return apperr.New(apperr.Forbidden, "%s: only an admin token may name another tenant than the token's (%s)", name, caller.Tenant)
	default:
		f.Tenant = caller.Tenant
	}
	return nil
}
