package stats

import (
	"context"
	"database/sql"
	"time"

	"github.com/zeromicro/go-zero/core/logx"

	"jobs/internal/auth"
	"jobs/internal/jobquery"
	"jobs/internal/jobview"
	"jobs/internal/svc"
	"jobs/internal/types"
	"jobs/model"
)

// throughputMinutes is how many minutes the throughput covers, the current one included.
const throughputMinutes = 60

type GetStatsLogic struct {
	logx.Logger
	ctx    context.Context
	svcCtx *svc.ServiceContext
}

// Overview numbers: jobs by status, finished per minute, pending backlog by function
func NewGetStatsLogic(ctx context.Context, svcCtx *svc.ServiceContext) *GetStatsLogic {
	return &GetStatsLogic{
		Logger: logx.WithContext(ctx),
		ctx:    ctx,
		svcCtx: svcCtx,
	}
}

// GetStats reads the numbers of the caller's tenant, or of the one an admin token names by
// the lists' rule (jobquery.Scope); an admin naming none reads its own, as one tenant's
// numbers are what the overview shows. Counts are capped like list totals
// (Limits.ExactTotalUpTo), so every query reads a bounded index range.
func (l *GetStatsLogic) GetStats(req *types.StatsReq) (*types.Stats, error) {
	scope := model.JobFilter{Tenant: req.TenantId}
	if err := jobquery.Scope(l.ctx, &scope, "tenant_id"); err != nil {
		return nil, err
	}
	tenant := scope.Tenant
	if scope.AllTenants {
		var err error
		if tenant, err = auth.Tenant(l.ctx); err != nil {
			return nil, err
		}
	}
	upTo := l.svcCtx.Config.Limits.ExactTotalUpTo
	now := time.Now().UTC()
	counts, err := l.svcCtx.Stats.CountByStatus(l.ctx, tenant, upTo)
	if err != nil {
		return nil, err
	}
	first := now.Truncate(time.Minute).Add(-(throughputMinutes - 1) * time.Minute)
	finished, err := l.svcCtx.Stats.FinishedPerMinute(l.ctx, tenant, first, throughputMinutes)
	if err != nil {
		return nil, err
	}
	var ids []string
	for _, fn := range l.svcCtx.Functions.All() {
		ids = append(ids, fn.ID)
	}
	backlog, err := l.svcCtx.Stats.Backlog(l.ctx, tenant, ids, upTo)
	if err != nil {
		return nil, err
	}

	stats := &types.Stats{GeneratedAt: now.Format(jobview.TimeFormat)}
	for _, status := range []model.Status{model.StatusPending, model.StatusRunning, model.StatusCompleted, model.StatusFailed, model.StatusCancelled} {
		n := counts[status]
		stats.Counts = append(stats.Counts, types.StatusCount{Status: string(status), Count: min(n, upTo), CountIsEstimate: n > upTo})
	}
	stats.Throughput = make([]types.ThroughputMinute, len(finished))
	for i, m := range finished {
		stats.Throughput[i] = types.ThroughputMinute{Minute: first.Add(time.Duration(i) * time.Minute).Format(jobview.TimeFormat),
			Completed: m.Completed, Failed: m.Failed}
	}
	stats.Functions = make([]types.FunctionBacklog, 0, len(backlog))
	for _, b := range backlog {
		fb := types.FunctionBacklog{FunctionId: b.FunctionId, Pending: min(b.Pending, upTo), PendingIsEstimate: b.Pending > upTo}
		if oldest, ok := earliest(b.OldestNew, b.OldestDue); ok {
			at := oldest.UTC().Format(jobview.TimeFormat)
			fb.OldestDueAt = &at
			fb.OldestDueAgeSeconds = max(0, now.Sub(oldest).Seconds())
		}
		stats.Functions = append(stats.Functions, fb)
	}
	return stats, nil
}

func earliest(times ...sql.NullTime) (time.Time, bool) {
	var out time.Time
	found := false
	for _, t := range times {
		if t.Valid && (!found || t.Time.Before(out)) {
			out, found = t.Time, true
		}
	}
	return out, found
}
