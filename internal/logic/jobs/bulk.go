package jobs

import (
	"context"
	"errors"
	"slices"

	"jobs/internal/apperr"
	"jobs/internal/jobquery"
	"jobs/internal/jobview"
	"jobs/internal/svc"
	"jobs/internal/types"
	"jobs/model"
)

// MaxBulkIDs is how many job ids one bulk request may name.
const MaxBulkIDs = 1000

// bulkTargets reads the jobs a bulk request names that the caller may see, split into those
// in one of the statuses the action applies to and the number of the others (skipped: not
// found, or in another status). A filter without a status matches only jobs in those
// statuses, up to Limits.MaxBulk of them; limited says more matched.
func bulkTargets(ctx context.Context, svcCtx *svc.ServiceContext, req *types.BulkReq, statuses ...model.Status) (
	targets []*model.Jobs, skipped int64, limited bool, err error) {
	var f model.JobFilter
	switch {
	case len(req.Ids) > 0 && req.Filter != nil:
		return nil, 0, false, apperr.Invalid("give either ids or filter, not both")
	case len(req.Ids) > 0:
		if f, err = idsFilter(req.Ids); err != nil {
			return nil, 0, false, err
		}
	case req.Filter != nil:
		if f, err = bulkFilter(req.Filter, svcCtx.Config.Limits.MaxBulk); err != nil {
			return nil, 0, false, err
		}
		if f.Status == "" {
			f.Statuses = statuses
		}
	default:
		return nil, 0, false, apperr.Invalid("ids or filter is required")
	}
	name := "tenant_id"
	if req.Filter != nil {
		name = "filter.tenant_id"
	}
	if err := jobquery.Scope(ctx, &f, name); err != nil {
		return nil, 0, false, err
	}
	found, err := svcCtx.Jobs.List(ctx, f, false)
	if err != nil {
		return nil, 0, false, err
	}
	if req.Filter != nil && int64(len(found)) > svcCtx.Config.Limits.MaxBulk {
		found, limited = found[:svcCtx.Config.Limits.MaxBulk], true
	}
	for _, j := range found {
		if slices.Contains(statuses, j.State()) {
			targets = append(targets, j)
		}
	}
	skipped = int64(len(found) - len(targets))
	if req.Filter == nil {
		skipped = int64(len(f.Ids) - len(targets)) // ids not found count too
	}
	return targets, skipped, limited, nil
}

// idsFilter selects up to MaxBulkIDs jobs by id, each named once.
func idsFilter(ids []string) (model.JobFilter, error) {
	if len(ids) > MaxBulkIDs {
		return model.JobFilter{}, apperr.Invalid("ids names %d jobs; at most %d are allowed", len(ids), MaxBulkIDs)
	}
	var unique []string
	for i, id := range ids {
		if err := jobview.ParseID(id); err != nil {
			return model.JobFilter{}, apperr.Invalid("ids[%d]: %q is not a valid job id (a lowercase UUID)", i, id)
		}
		if !slices.Contains(unique, id) {
			unique = append(unique, id)
		}
	}
	return model.JobFilter{Ids: unique, Page: 1, Size: int64(len(unique))}, nil
}

// bulkFilter reads a bulk filter by the list's rules (jobview.ParseListQuery), naming a bad
// field as filter.<name>; it selects one more than maxBulk jobs, to tell when there are more.
func bulkFilter(bf *types.BulkFilter, maxBulk int64) (model.JobFilter, error) {
	f, err := jobview.ParseListQuery(&types.ListJobsReq{Status: bf.Status, FunctionId: bf.FunctionId, Actor: bf.Actor,
		GameId: bf.GameId, Env: bf.Env, Name: bf.Name, ScheduleId: bf.ScheduleId, CreatedFrom: bf.CreatedFrom,
		CreatedTo: bf.CreatedTo, TenantId: bf.TenantId}, 1)
	var invalid *apperr.Error
	if errors.As(err, &invalid) {
		return f, apperr.New(invalid.Kind, "filter.%s", invalid.Message)
	}
	f.Page, f.Size = 1, maxBulk+1
	return f, err
}
