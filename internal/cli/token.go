package cli

import (
	"flag"
	"fmt"
	"time"

	"jobs/internal/auth"
	"jobs/internal/config"
)

// token prints an access token signed with the config's Auth.AccessSecret.
func token(env Env, args []string) int {
	fs := flag.NewFlagSet("jobs token", flag.ContinueOnError)
	fs.SetOutput(env.Stderr)
	file := fs.String("f", "etc/jobs.yaml", "the config file whose Auth.AccessSecret signs the token")
	tenant := fs.String("tenant", "", "the tenant whose jobs the token gives access to (required)")
	actor := fs.String("actor", "", "who the token's holder is; jobs they start default to this actor")
	ttl := fs.Duration("ttl", 0, "how long the token is valid (default: Auth.AccessExpire seconds)")
	admin := fs.Bool("admin", false, "an operator token (role admin): lists and acts on every tenant's jobs; -tenant defaults to admin")
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	if *admin && *tenant == "" {
		*tenant = auth.RoleAdmin
	}
	if *tenant == "" {
		fmt.Fprintln(env.Stderr, "jobs token: -tenant is required")
		fs.Usage()
		return exitUsage
	}
	var c config.Config
	if err := config.Load(*file, &c); err != nil {
		fmt.Fprintf(env.Stderr, "jobs token: %v\n", err)
		return exitUsage // as jobs serve: the config is the caller's to fix
	}
	if *ttl == 0 {
		*ttl = time.Duration(c.Auth.AccessExpire) * time.Second
	}
	token, err := auth.Mint(c.Auth.AccessSecret, auth.Identity{Tenant: *tenant, Actor: *actor, Admin: *admin}, *ttl)
	if err != nil {
		// Every refusal of Mint is of the flags' names or lifetime: the caller's to fix.
		fmt.Fprintf(env.Stderr, "jobs token: %v\n", err)
		return exitUsage
	}
	fmt.Fprintln(env.Stdout, token)
	return exitOK
}
