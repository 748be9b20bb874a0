// Package jobquery holds the reads of the caller's tenant's jobs that several routes share
// (the jobs and the function-calls routes): one job by id, and one page of a list with its
// total. Each reads the tenant from the request's context, so no route reads another
// tenant's job by accident.
package jobquery

import (
	"cmp"
	"context"
	"errors"
	"sync"

	"jobs/internal/apperr"
	"jobs/internal/auth"
	"jobs/internal/jobview"
	"jobs/model"
)

// Find validates id and loads the job if it belongs to the caller's tenant (any tenant for an
// admin). A missing job and another tenant's job are the same 404, so ids of other tenants
// reveal nothing.
func Find(ctx context.Context, jobs model.JobsModel, id string) (*model.Jobs, error) {
	tenant, err := auth.Scope(ctx)
	if err != nil {
		return nil, err
	}
	if err := jobview.ParseID(id); err != nil {
		return nil, err
	}
	var job *model.Jobs
	if tenant == "" {
		job, err = jobs.FindAnyTenant(ctx, id)
	} else {
		job, err = jobs.FindForTenant(ctx, tenant, id)
	}
	if errors.Is(err, model.ErrNotFound) {
		return nil, apperr.New(apperr.NotFound, "job %s not found", id)
	}
	return job, err
}

// Total is a list's count of matches: exact, or a lower bound (Limits.ExactTotalUpTo).
type Total struct {
	N     int64
	Exact bool
}

// Page reads one page of the jobs the caller may see (Scope) and the total count of matches
// (exact up to exactUpTo) concurrently. Both reads end before it returns, failed or not (go-zero's
// mr.Finish returns at the first error while the other read still writes its result).
func Page(ctx context.Context, jobs model.JobsModel, f model.JobFilter, withResult bool, exactUpTo int64) ([]*model.Jobs, Total, error) {
	var total Total
	if err := Scope(ctx, &f, "tenant_id"); err != nil {
		return nil, total, err
	}
	var page []*model.Jobs
	var listErr error
	var wg sync.WaitGroup
	wg.Go(func() { page, listErr = jobs.List(ctx, f, withResult) })
	var countErr error
	total.N, total.Exact, countErr = jobs.Count(ctx, f, exactUpTo)
	wg.Wait()
	return page, total, cmp.Or(listErr, countErr)
}

// Scope confines f to the jobs the caller may see. f.Tenant is the tenant_id asked for: an
// admin sees that tenant's jobs, or every tenant's without one; an ordinary token sees its
// own tenant's only, and naming another is a 403. name is the parameter's name in messages
// (tenant_id, or filter.tenant_id in a bulk body).
func Scope(ctx context.Context, f *model.JobFilter, name string) error {
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
