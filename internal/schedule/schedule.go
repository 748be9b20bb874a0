package schedule

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"jobs/internal/apperr"
	"jobs/internal/auth"
	"jobs/internal/config"
	"jobs/internal/jobview"
	"jobs/internal/startreq"
	"jobs/internal/types"
	"jobs/model"
)

// Definition is what a schedule is made of: through the API or in the config.
type Definition struct {
	Id, Cron, Timezone, Overlap string
	Start                       startreq.Fields
}

// Build checks d as a schedule of tenant from source (model.ScheduleFromAPI or
// ScheduleFromConfig) and returns its row, first fire time after now included. Errors
// name the field and are 400s (413 for params over the limit).
func Build(tenant, source string, d Definition, rules startreq.Rules, now time.Time) (*model.Schedules, error) {
	if err := CheckID(d.Id); err != nil {
		return nil, err
	}
	sched, err := Parse(d.Cron, d.Timezone)
	if err != nil {
		return nil, err
	}
	overlap, err := CheckOverlap(d.Overlap)
	if err != nil {
		return nil, err
	}
	checked, err := rules.Check(d.Start)
	if err != nil {
		return nil, err
	}
	timezone := d.Timezone
	if timezone == "" {
		timezone = "UTC"
	}
	now = now.UTC().Truncate(time.Millisecond)
	return &model.Schedules{TenantId: tenant, Id: d.Id, Cron: d.Cron, Timezone: timezone, Overlap: overlap,
		FunctionId: checked.Function.ID, Name: d.Start.Name, Params: checked.ParamsJSON, Actor: d.Start.Actor,
		GameId: d.Start.GameId, Env: d.Start.Env, MaxAttempts: d.Start.MaxAttempts, TimeoutSeconds: d.Start.TimeoutSeconds,
		CallbackUrl: d.Start.CallbackUrl, Source: source, NextFireAt: Next(sched, now), CreatedAt: now}, nil
}

// Declared checks the schedules of the config, c.Schedules; an error names the entry and
// its key (Schedules[1].Cron).
func Declared(list []config.ScheduleConf, rules startreq.Rules, now time.Time) ([]*model.Schedules, error) {
	declared := make([]*model.Schedules, 0, len(list))
	seen := map[[2]string]bool{}
	for i, sc := range list {
		where := fmt.Sprintf("Schedules[%d]", i)
		if err := (auth.Identity{Tenant: sc.Tenant, Actor: sc.Actor}).Check(); err != nil {
			return nil, fmt.Errorf("%s: %v", where, err)
		}
		key := [2]string{sc.Tenant, sc.Id}
		if seen[key] {
			return nil, fmt.Errorf("%s.Id: tenant %s declares schedule %q twice", where, sc.Tenant, sc.Id)
		}
		seen[key] = true
		var params any
		if sc.Params != nil {
			params = map[string]any(sc.Params)
		}
		s, err := Build(sc.Tenant, model.ScheduleFromConfig, Definition{Id: sc.Id, Cron: sc.Cron, Timezone: sc.Timezone,
			Overlap: sc.Overlap, Start: startreq.Fields{FunctionId: sc.FunctionId, Name: sc.Name, Params: params,
				Actor: sc.Actor, GameId: sc.GameId, Env: sc.Env, MaxAttempts: sc.MaxAttempts,
				TimeoutSeconds: sc.TimeoutSeconds, CallbackUrl: sc.CallbackUrl}}, rules, now)
		if err != nil {
			return nil, fmt.Errorf("%s: %v", where, err)
		}
		declared = append(declared, s)
	}
	return declared, nil
}

// View is a schedule as the API shows it.
func View(s *model.Schedules) types.Schedule {
	v := types.Schedule{Id: s.Id, TenantId: s.TenantId, Cron: s.Cron, Timezone: s.Timezone, Overlap: s.Overlap,
		FunctionId: s.FunctionId, Name: s.Name, Params: json.RawMessage(s.Params), Actor: s.Actor, GameId: s.GameId,
		Env: s.Env, MaxAttempts: s.MaxAttempts, TimeoutSeconds: s.TimeoutSeconds, CallbackUrl: s.CallbackUrl,
		Source: s.Source, Paused: s.Paused, Fired: s.Fired, Triggered: s.Triggered, MissedFires: s.MissedFires,
		OverlapSkipped: s.OverlapSkipped, LastJobId: s.LastJobId, LastError: s.LastError,
		CreatedAt: jobview.FormatTime(s.CreatedAt), UpdatedAt: jobview.FormatTime(s.UpdatedAt)}
	if !s.Paused {
		next := jobview.FormatTime(s.NextFireAt)
		v.NextRunAt = &next
	}
	if s.LastFireAt.Valid {
		last := jobview.FormatTime(s.LastFireAt.Time)
		v.LastFireAt = &last
	}
	return v
}

// Views converts a list; none is [] rather than null.
func Views(list []*model.Schedules) []types.Schedule {
	views := make([]types.Schedule, len(list))
	for i, s := range list {
		views[i] = View(s)
	}
	return views
}

// Shown bounds of a schedule's detail.
const (
	nextRunsShown = 5
	lastJobsShown = 10
)

// Detail is s with its next run times (none while paused) and its last jobs, newest first.
func Detail(ctx context.Context, jobs model.JobsModel, s *model.Schedules) (*types.ScheduleDetail, error) {
	d := &types.ScheduleDetail{Schedule: View(s), NextRuns: []string{}}
	if !s.Paused {
		if sched, err := Parse(s.Cron, s.Timezone); err == nil {
			at := s.NextFireAt
			for range nextRunsShown {
				d.NextRuns = append(d.NextRuns, jobview.FormatTime(at))
				if at = Next(sched, at); at.IsZero() {
					break
				}
			}
		}
	}
	last, err := jobs.List(ctx, model.JobFilter{Tenant: s.TenantId, ScheduleId: s.Id, Page: 1, Size: lastJobsShown}, false)
	if err != nil {
		return nil, err
	}
	d.LastJobs = jobview.Items(last)
	return d, nil
}

// Tenant is the tenant whose schedules the caller addresses: asked (tenant_id), or the
// token's. Only an admin token may ask for another tenant's (else a 403 naming tenant_id).
func Tenant(ctx context.Context, asked string) (string, error) {
	caller, err := auth.FromContext(ctx)
	if err != nil {
		return "", err
	}
	if asked == "" || asked == caller.Tenant {
		return caller.Tenant, nil
	}
	if !caller.Admin {
		return "", apperr.New(apperr.Forbidden, "tenant_id: only an admin token may name another tenant than the token's (%s)", caller.Tenant)
	}
	return asked, nil
}

// ListScope is the tenant whose schedules a list shows: as Tenant, except that an admin
// token asking for none gets every tenant's (""). A tenant_id that no tenant can have is a
// 400.
func ListScope(ctx context.Context, asked string) (string, error) {
	caller, err := auth.FromContext(ctx)
	if err != nil {
		return "", err
	}
	if asked != "" {
		if err := (auth.Identity{Tenant: asked}).Check(); err != nil {
			return "", apperr.Invalid("tenant_id: %v", err)
		}
	}
	if caller.Admin && asked == "" {
		return "", nil
	}
	return Tenant(ctx, asked)
}

// FindAsked returns schedule id of the tenant the caller asks for (see Tenant), or a 404.
func FindAsked(ctx context.Context, schedules model.SchedulesModel, asked, id string) (*model.Schedules, error) {
	tenant, err := Tenant(ctx, asked)
	if err != nil {
		return nil, err
	}
	return Find(ctx, schedules, tenant, id)
}

// Find returns the tenant's schedule id, or a 404 naming it.
func Find(ctx context.Context, schedules model.SchedulesModel, tenant, id string) (*model.Schedules, error) {
	notFound := apperr.New(apperr.NotFound, "schedule %q not found", id)
	if CheckID(id) != nil { // no schedule has it, and MySQL refuses to compare one not ASCII
		return nil, notFound
	}
	s, err := schedules.FindOne(ctx, tenant, id)
	if err == model.ErrNotFound {
		return nil, notFound
	}
	return s, err
}
