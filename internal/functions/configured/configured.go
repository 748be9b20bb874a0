// Package configured turns the Functions of the config into function definitions: command
// functions (package command) and HTTP functions (package httpcall).
package configured

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"time"

	"jobs/internal/config"
	"jobs/internal/functions"
	"jobs/internal/functions/command"
	"jobs/internal/functions/httpcall"
)

// Defaults of configured functions (README, "Configuration").
const (
	DefaultTimeout = time.Minute
	// MaxConfiguredAttempts bounds a function's MaxAttempts.
	MaxConfiguredAttempts = 1000
)

var (
	idPattern    = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,128}$`)
	paramPattern = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
)

// FromConfig turns the configured functions into definitions. The first bad entry is an
// error naming it and the key, e.g. `Functions[2] (id "resize"): Command.Argv is required`.
func FromConfig(confs []config.FunctionConf) ([]*functions.Definition, error) {
	defs := make([]*functions.Definition, 0, len(confs))
	seen := make(map[string]bool, len(confs))
	for i, fc := range confs {
		def, err := fromConfig(fc)
		if err == nil && seen[fc.Id] {
			err = fmt.Errorf("Id %q is used by an earlier function too", fc.Id)
		}
		if err != nil {
			if fc.Id == "" {
				return nil, fmt.Errorf("Functions[%d]: %w", i, err)
			}
			return nil, fmt.Errorf("Functions[%d] (id %q): %w", i, fc.Id, err)
		}
		seen[fc.Id] = true
		defs = append(defs, def)
	}
	return defs, nil
}

func fromConfig(fc config.FunctionConf) (*functions.Definition, error) {
	if fc.Id == "" {
		return nil, fmt.Errorf("Id is required")
	}
	if !idPattern.MatchString(fc.Id) {
		return nil, fmt.Errorf("Id must be 1 to 128 letters, digits, '_', '.' or '-'")
	}
	def := &functions.Definition{ID: fc.Id, Kind: fc.Kind, Description: fc.Description, Timeout: fc.Timeout,
		MaxAttempts: fc.MaxAttempts, Backoff: fc.Backoff, MaxBackoff: fc.MaxBackoff}
	switch {
	case fc.Timeout < 0:
		return nil, fmt.Errorf("Timeout must not be negative")
	case fc.Timeout == 0:
		def.Timeout = DefaultTimeout
	}
	switch {
	case fc.MaxAttempts < 0 || fc.MaxAttempts > MaxConfiguredAttempts:
		return nil, fmt.Errorf("MaxAttempts must be from 1 to %d", MaxConfiguredAttempts)
	case fc.MaxAttempts == 0:
		def.MaxAttempts = 1
	}
	if fc.Backoff < 0 || fc.MaxBackoff < 0 {
		return nil, fmt.Errorf("Backoff and MaxBackoff must not be negative")
	}
	if fc.MaxBackoff > 0 && fc.MaxBackoff < fc.Backoff {
		return nil, fmt.Errorf("MaxBackoff (%s) must be at least Backoff (%s)", fc.MaxBackoff, fc.Backoff)
	}
	for i, p := range fc.RequiredParams {
		if !paramPattern.MatchString(p) {
			return nil, fmt.Errorf("RequiredParams[%d] %q is not a param name (letters, digits, '_')", i, p)
		}
	}
	def.RequiredParams = slices.Clone(fc.RequiredParams)

	switch fc.Kind {
	case "command":
		cmd, err := command.New(fc.Command)
		if err != nil {
			return nil, err
		}
		for _, p := range cmd.Params() {
			if !slices.Contains(def.RequiredParams, p) {
				def.RequiredParams = append(def.RequiredParams, p)
			}
		}
		def.CheckParams = cmd.Check
		def.MaxParamsBytes = command.MaxParamsBytes
		def.Run = cmd.Run
	case "http":
		h, err := httpcall.New(fc.HTTP)
		if err != nil {
			return nil, err
		}
		id := fc.Id
		def.Run = func(ctx context.Context, call functions.Call, _ functions.Reporter) (any, error) {
			return h.Run(ctx, id, call)
		}
	case "":
		return nil, fmt.Errorf("Kind is required (command or http)")
	default:
		return nil, fmt.Errorf("Kind must be command or http, not %q", fc.Kind)
	}
	return def, nil
}
