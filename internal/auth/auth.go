// Package auth mints and verifies the service's access tokens and carries the verified
// caller's identity in a request's context.
package auth

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v4"

	"jobs/internal/apperr"
)

// Claim names of an access token.
const (
	ClaimTenant = "tenant"
	ClaimActor  = "actor"
	// ClaimRole is absent on ordinary tokens; RoleAdmin is the only value it may take.
	ClaimRole = "role"
)

// RoleAdmin is the operator role: its tokens list and act on every tenant's jobs.
const RoleAdmin = "admin"

// Algorithm is the only signing algorithm tokens may use: HMAC-SHA256 with Auth.AccessSecret.
const Algorithm = "HS256"

// What a tenant and an actor may be (README, "Tokens and tenants"). Both are ASCII, so a
// tenant compares byte for byte in MySQL and in every log and URL it appears in.
const (
	// TenantRule describes tenantPattern for error messages.
	TenantRule = "1 to 64 characters: letters, digits, '.', '_' or '-', starting with a letter or digit"
	// ActorRule describes actorPattern for error messages.
	ActorRule = "at most 128 characters: letters, digits, '.', '_', '@', '+' or '-'"
)

var (
	tenantPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)
	actorPattern  = regexp.MustCompile(`^[A-Za-z0-9._@+-]{0,128}$`)
)

// Identity is who is calling: the tenant whose jobs they see, and their name. An Admin
// (an operator) sees every tenant's jobs; the jobs it starts still belong to Tenant.
type Identity struct {
	Tenant string
	Actor  string
	Admin  bool
}

// Check reports whether id's tenant and actor follow TenantRule and ActorRule.
func (id Identity) Check() error {
	if !tenantPattern.MatchString(id.Tenant) {
		return fmt.Errorf("tenant must be %s", TenantRule)
	}
	if !actorPattern.MatchString(id.Actor) {
		return fmt.Errorf("actor must be %s", ActorRule)
	}
	return nil
}

// Mint returns an HS256 token for id, signed with secret and valid for ttl.
func Mint(secret string, id Identity, ttl time.Duration) (string, error) {
	if err := id.Check(); err != nil {
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
	if id.Admin {
		claims[ClaimRole] = RoleAdmin
	}
	return jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString([]byte(secret))
}

// parser checks the algorithm and the signature; checkTimes checks the time claims.
var parser = jwt.NewParser(jwt.WithValidMethods([]string{Algorithm}), jwt.WithoutClaimsValidation())

// ClockSkew is how far ahead of this process's clock a token's iat and nbf may be: a token
// minted on a host whose clock runs a little ahead (jobs token, another API process's
// development token) and used at once was refused for up to a second.
const ClockSkew = time.Minute

// checkTimes checks claims' exp (which must be after now), nbf and iat (not after now plus
// ClockSkew), each optional, and says which one failed. golang-jwt v4's own check read an
// exp of 0 as no exp at all, and refused an iat a second ahead as "not valid".
func checkTimes(claims jwt.MapClaims) error {
	now := jwt.TimeFunc()
	seconds := float64(now.UnixNano()) / float64(time.Second)
	for _, name := range []string{"exp", "nbf", "iat"} {
		v, present := claims[name]
		if !present {
			continue
		}
		at, ok := v.(float64)
		if !ok {
			return unauthenticated(fmt.Sprintf("the access token's %s claim must be a number", name))
		}
		switch {
		case name == "exp" && at <= seconds:
			return unauthenticated("the access token has expired")
		case name == "nbf" && at > seconds+ClockSkew.Seconds():
			return unauthenticated("the access token is not valid yet (nbf)")
		case name == "iat" && at > seconds+ClockSkew.Seconds():
			return unauthenticated("the access token's iat claim is ahead of this server's clock")
		}
	}
	return nil
}

// maxKnownTokens bounds the tokens a Verifier remembers.
const maxKnownTokens = 1024

// Verifier verifies the access tokens signed with one secret. It remembers the tokens it
// admitted: a caller sends the same token with every request, and decoding it and checking
// its signature again each time cost half as much CPU as the rest of a start's handler. Only the
// clock can change a token's verdict, so a remembered token's claims are checked against it
// (exp, iat, nbf) on every use, and one that fails is verified afresh, for the same error.
type Verifier struct {
	secret string

	mu    sync.RWMutex
	known map[string]knownToken
}

type knownToken struct {
	id     Identity
	claims jwt.MapClaims
}

// NewVerifier verifies tokens signed with secret (Auth.AccessSecret).
func NewVerifier(secret string) *Verifier {
	return &Verifier{secret: secret, known: make(map[string]knownToken)}
}

// Verify checks token (HS256, signed with the secret, not expired, with a tenant and an
// actor as Identity.Check wants them) and returns its identity. Every failure is an
// Unauthenticated error saying what was wrong.
func (v *Verifier) Verify(token string) (Identity, error) {
	v.mu.RLock()
	known, ok := v.known[token]
	v.mu.RUnlock()
	if ok && checkTimes(known.claims) == nil {
		return known.id, nil
	}
	id, claims, err := verify(v.secret, token)
	v.mu.Lock()
	defer v.mu.Unlock()
	if err != nil {
		delete(v.known, token) // expired, or not yet valid
		return Identity{}, err
	}
	if len(v.known) >= maxKnownTokens {
		for old := range v.known { // any one: a token in use comes back at its next request
			delete(v.known, old)
			break
		}
	}
	v.known[token] = knownToken{id: id, claims: claims}
	return id, nil
}

// verify is Verify without the memory; it also returns the token's claims.
func verify(secret, token string) (Identity, jwt.MapClaims, error) {
	if token == "" {
		return Identity{}, nil, unauthenticated("missing access token: send Authorization: Bearer <token> (mint one with: jobs token -tenant <tenant>)")
	}
	parsed, err := parser.Parse(token, func(*jwt.Token) (any, error) { return []byte(secret), nil })
	if err != nil {
		return Identity{}, nil, unauthenticated(describeTokenError(parsed, err))
	}
	claims, _ := parsed.Claims.(jwt.MapClaims)
	if err := checkTimes(claims); err != nil {
		return Identity{}, nil, err
	}
	tenant, ok := claims[ClaimTenant].(string)
	if !ok {
		if claims[ClaimTenant] == nil {
			return Identity{}, nil, unauthenticated("the access token has no tenant claim")
		}
		return Identity{}, nil, unauthenticated("the access token's tenant claim must be a string")
	}
	actor, ok := claims[ClaimActor].(string)
	if !ok && claims[ClaimActor] != nil {
		return Identity{}, nil, unauthenticated("the access token's actor claim must be a string")
	}
	id := Identity{Tenant: tenant, Actor: actor}
	// A role this service does not know is refused rather than read as an ordinary token:
	// whoever minted it meant something else by it.
	switch role, present := claims[ClaimRole]; {
	case !present:
	case role == RoleAdmin:
		id.Admin = true
	default:
		return Identity{}, nil, unauthenticated(fmt.Sprintf("the access token's role claim must be %q or absent, not %v", RoleAdmin, role))
	}
	if err := id.Check(); err != nil {
		return Identity{}, nil, unauthenticated("the access token's " + err.Error())
	}
	return id, claims, nil
}

func unauthenticated(message string) *apperr.Error {
	return apperr.New(apperr.Unauthenticated, "%s", message)
}

func describeTokenError(parsed *jwt.Token, err error) string {
	var invalid *jwt.ValidationError
	if parsed != nil && parsed.Header["alg"] != Algorithm && errors.As(err, &invalid) && invalid.Errors&jwt.ValidationErrorMalformed == 0 {
		return fmt.Sprintf("the access token must be signed with %s, not %v", Algorithm, parsed.Header["alg"])
	}
	if errors.As(err, &invalid) && invalid.Errors&jwt.ValidationErrorMalformed != 0 {
		return "the access token is malformed"
	}
	if errors.As(err, &invalid) && invalid.Errors&jwt.ValidationErrorSignatureInvalid != 0 {
		// The usual cause: a token minted with another secret (another deployment's, or
		// this one's before Auth.AccessSecret was rotated).
		return "the access token's signature does not match this server's Auth.AccessSecret"
	}
	return "the access token is not valid"
}

type identityKey struct{}

// WithIdentity returns ctx carrying the verified caller's identity.
func WithIdentity(ctx context.Context, id Identity) context.Context {
	return context.WithValue(ctx, identityKey{}, id)
}

// FromContext returns the identity of a verified request (see WithIdentity). A context
// without one is an Unauthenticated error: such a caller can see no job.
func FromContext(ctx context.Context) (Identity, error) {
	id, ok := ctx.Value(identityKey{}).(Identity)
	if !ok {
		return Identity{}, unauthenticated("the request carries no verified access token")
	}
	return id, nil
}

// Scope returns the tenant whose jobs the caller may see, or "" for every tenant (an admin).
func Scope(ctx context.Context) (string, error) {
	id, err := FromContext(ctx)
	if id.Admin {
		return "", err
	}
	return id.Tenant, err
}

// Tenant returns the caller's tenant (see FromContext).
func Tenant(ctx context.Context) (string, error) {
	id, err := FromContext(ctx)
	return id.Tenant, err
}
