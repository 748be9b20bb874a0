// Package auth mints the service's access tokens and reads the caller's identity from a
// request context once go-zero's JWT middleware has verified the token.
package auth

import (
	"context"
	"fmt"
	"time"
	"unicode/utf8"

	"github.com/golang-jwt/jwt/v4"

	"jobs/internal/apperr"
)

// Claim names. go-zero's JWT middleware puts every non-standard claim into the request
// context under its name.
const (
	ClaimTenant = "tenant"
	ClaimActor  = "actor"
)

// MaxTenantLen is the longest tenant id (the tenant_id column).
const MaxTenantLen = 64

// Identity is who is calling: the tenant whose jobs they see, and their name.
type Identity struct {
	Tenant string
	Actor  string
}

// Mint returns an HS256 token for id, signed with secret and valid for ttl.
func Mint(secret string, id Identity, ttl time.Duration) (string, error) {
	if err := checkTenant(id.Tenant); err != nil {
		return "", err
	}
	if ttl <= 0 {
		return "", fmt.Errorf("token lifetime must be positive, not %s", ttl)
	}
	now := time.Now()
	claims := jwt.MapClaims{
		ClaimTenant: id.Tenant,
		ClaimActor:  id.Actor,
		"iat":       now.Unix(),
		"exp":       now.Add(ttl).Unix(),
	}
	return jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString([]byte(secret))
}

// FromContext returns the identity of a verified request. A token without a usable
// tenant claim is an Unauthenticated error: such a caller can see no job.
func FromContext(ctx context.Context) (Identity, error) {
	tenant, ok := ctx.Value(ClaimTenant).(string)
	if !ok {
		return Identity{}, apperr.New(apperr.Unauthenticated, "the token has no tenant claim")
	}
	if err := checkTenant(tenant); err != nil {
		return Identity{}, apperr.Wrap(apperr.Unauthenticated, err, "the token's tenant claim is not usable: %v", err)
	}
	actor, _ := ctx.Value(ClaimActor).(string)
	return Identity{Tenant: tenant, Actor: actor}, nil
}

// Tenant returns the caller's tenant (see FromContext).
func Tenant(ctx context.Context) (string, error) {
	id, err := FromContext(ctx)
	return id.Tenant, err
}

func checkTenant(tenant string) error {
	if tenant == "" || utf8.RuneCountInString(tenant) > MaxTenantLen {
		return fmt.Errorf("tenant must be 1 to %d characters, not %q", MaxTenantLen, tenant)
	}
	return nil
}
