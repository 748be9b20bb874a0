package functions

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strings"
	"time"

	"jobs/internal/config"
)

// Defaults of configured functions (README, "Configuration").
const (
	DefaultTimeout   = time.Minute
	DefaultKillGrace = 5 * time.Second
	// MaxConfiguredAttempts bounds a function's MaxAttempts.
	MaxConfiguredAttempts = 1000
)

var (
	idPattern     = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,128}$`)
	envKeyPattern = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
	paramPattern  = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
)

// FromConfig turns the configured functions into definitions. The first bad entry is an
// error naming it and the key, e.g. `Functions[2] (id "resize"): Command.Argv is required`.
func FromConfig(confs []config.FunctionConf) ([]*Definition, error) {
	defs := make([]*Definition, 0, len(confs))
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

func fromConfig(fc config.FunctionConf) (*Definition, error) {
	if fc.Id == "" {
		return nil, fmt.Errorf("Id is required")
	}
	if !idPattern.MatchString(fc.Id) {
		return nil, fmt.Errorf("Id must be 1 to 128 letters, digits, '_', '.' or '-'")
	}
	def := &Definition{ID: fc.Id, Kind: fc.Kind, Description: fc.Description, Timeout: fc.Timeout,
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
	for i, p := range fc.RequiredParams {
		if !paramPattern.MatchString(p) {
			return nil, fmt.Errorf("RequiredParams[%d] %q is not a param name (letters, digits, '_')", i, p)
		}
	}
	def.RequiredParams = slices.Clone(fc.RequiredParams)

	switch fc.Kind {
	case "command":
		cmd, err := commandFromConfig(fc.Command)
		if err != nil {
			return nil, err
		}
		for _, p := range cmd.params() {
			if !slices.Contains(def.RequiredParams, p) {
				def.RequiredParams = append(def.RequiredParams, p)
			}
		}
		def.CheckParams = cmd.check
		def.Run = func(ctx context.Context, call Call, report Reporter) (any, error) {
			return cmd.run(ctx, call, report)
		}
	case "http":
		h, err := httpFromConfig(fc.HTTP)
		if err != nil {
			return nil, err
		}
		id := fc.Id
		def.Run = func(ctx context.Context, call Call, _ Reporter) (any, error) {
			return h.run(ctx, id, call)
		}
	case "":
		return nil, fmt.Errorf("Kind is required (command or http)")
	default:
		return nil, fmt.Errorf("Kind must be command or http, not %q", fc.Kind)
	}
	return def, nil
}

func commandFromConfig(cc config.CommandConf) (*command, error) {
	if len(cc.Argv) == 0 || cc.Argv[0] == "" {
		return nil, fmt.Errorf("Command.Argv is required (the program and its arguments)")
	}
	c := &command{dir: cc.Dir, killGrace: cc.KillGrace}
	for i, a := range cc.Argv {
		if m := placeholder.FindStringSubmatch(a); m != nil {
			if i == 0 {
				return nil, fmt.Errorf("Command.Argv[0] must name the program, not a template")
			}
			c.argv = append(c.argv, argTemplate{param: m[1]})
			continue
		}
		if strings.Contains(a, "{{") {
			return nil, fmt.Errorf("Command.Argv[%d] %q: a template must be a whole argument, {{params.NAME}}", i, a)
		}
		c.argv = append(c.argv, argTemplate{literal: a})
	}
	if cc.Dir != "" {
		if st, err := os.Stat(cc.Dir); err != nil || !st.IsDir() {
			return nil, fmt.Errorf("Command.Dir %q is not a directory", cc.Dir)
		}
	}
	for _, code := range cc.PermanentExitCodes {
		if code < 1 || code > 255 {
			return nil, fmt.Errorf("Command.PermanentExitCodes: %d is not an exit code of a failure (1 to 255)", code)
		}
	}
	c.permanentExits = cc.PermanentExitCodes
	switch {
	case cc.KillGrace < 0:
		return nil, fmt.Errorf("Command.KillGrace must not be negative")
	case cc.KillGrace == 0:
		c.killGrace = DefaultKillGrace
	}
	keys := make([]string, 0, len(cc.Env))
	for k := range cc.Env {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	c.env = append(c.env, "PATH="+os.Getenv("PATH"))
	for _, k := range keys {
		if !envKeyPattern.MatchString(k) {
			return nil, fmt.Errorf("Command.Env key %q is not a variable name", k)
		}
		if k == "JOB_ID" || k == "JOB_ATTEMPT" || k == "JOB_PARAMS" {
			return nil, fmt.Errorf("Command.Env must not set %s (the job sets it)", k)
		}
		if k == "PATH" {
			c.env[0] = "PATH=" + cc.Env[k]
			continue
		}
		c.env = append(c.env, k+"="+cc.Env[k])
	}
	return c, nil
}

func httpFromConfig(hc config.HTTPConf) (*httpFunction, error) {
	if hc.URL == "" {
		return nil, fmt.Errorf("HTTP.URL is required")
	}
	u, err := url.Parse(hc.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("HTTP.URL %q must be an absolute http or https URL", hc.URL)
	}
	for k, v := range hc.Headers {
		if k == "" || strings.ContainsAny(k, " :\r\n") || strings.ContainsAny(v, "\r\n") {
			return nil, fmt.Errorf("HTTP.Headers %q is not a valid header", k)
		}
	}
	return &httpFunction{url: hc.URL, headers: hc.Headers, client: &http.Client{
		// A redirect would turn the POST into something else; answer with what we got.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}, nil
}
