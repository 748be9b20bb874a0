package queue

import (
	"context"
	"errors"

	"github.com/redis/go-redis/v9"

	"jobs/internal/apperr"
)

// TypeOutages makes every error of rdb's commands and pipelines that means Redis could not
// serve an apperr.Outage("redis"), so the API answers it with 503 "redis unavailable",
// whichever part of the service (queue, events) sent the command.
func TypeOutages(rdb redis.UniversalClient) {
	rdb.AddHook(outageHook{})
}

// unavailablePrefixes start Redis error replies that mean it cannot serve now (the space
// keeps BUSY from matching BUSYGROUP).
var unavailablePrefixes = []string{"LOADING ", "READONLY ", "MASTERDOWN ", "CLUSTERDOWN ", "TRYAGAIN ", "MISCONF ", "BUSY "}

// IsUnavailable reports whether err means Redis could not serve a command: it could not be
// reached, dropped the connection, ran out of pooled connections, or replied with one of
// unavailablePrefixes.
func IsUnavailable(err error) bool {
	if errors.Is(err, redis.Nil) {
		return false
	}
	for _, p := range unavailablePrefixes {
		if redis.HasErrorPrefix(err, p) {
			return true
		}
	}
	return errors.Is(err, redis.ErrPoolTimeout) || errors.Is(err, redis.ErrClosed) || apperr.IsConnectionFailure(err)
}

type outageHook struct{}

func (outageHook) DialHook(next redis.DialHook) redis.DialHook { return next }

func (outageHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		if ctx.Err() != nil {
			return next(ctx, cmd) // the caller's deadline, not Redis's
		}
		err := next(ctx, cmd)
		if err != nil && IsUnavailable(err) {
			err = apperr.Outage("redis", err)
			cmd.SetErr(err)
		}
		return err
	}
}

func (outageHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		if ctx.Err() != nil {
			return next(ctx, cmds)
		}
		err := next(ctx, cmds)
		outage := err != nil && IsUnavailable(err)
		// Callers read each command's own error (a pipeline of GETs, say). A pipeline whose
		// retries ran out leaves its commands without one: they get the pipeline's.
		for _, cmd := range cmds {
			cmdErr := cmd.Err()
			if cmdErr == nil && outage {
				cmdErr = err
			}
			if cmdErr != nil && IsUnavailable(cmdErr) {
				cmd.SetErr(apperr.Outage("redis", cmdErr))
			}
		}
		if outage {
			return apperr.Outage("redis", err)
		}
		return err
	}
}
