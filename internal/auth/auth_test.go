package auth

import (
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v4"
)

// A remembered token is admitted again only while its time claims hold, with the error a
// fresh verification gives once they do not.
func TestVerifierRemembersOnlyWhatTheClockAllows(t *testing.T) {
	token, err := Mint("secret", Identity{Tenant: "t1", Actor: "a"}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	v := NewVerifier("secret")
	for range 2 { // the second one is remembered
		id, err := v.Verify(token)
		if err != nil || id != (Identity{Tenant: "t1", Actor: "a"}) {
			t.Fatalf("Verify = %+v, %v; want t1/a", id, err)
		}
	}
	if len(v.known) != 1 {
		t.Fatalf("%d tokens remembered, want 1", len(v.known))
	}

	defer func(f func() time.Time) { jwt.TimeFunc = f }(jwt.TimeFunc)
	jwt.TimeFunc = func() time.Time { return time.Now().Add(2 * time.Hour) }
	if _, err := v.Verify(token); err == nil || !strings.Contains(err.Error(), "the access token has expired") {
		t.Fatalf("Verify of an expired remembered token = %v, want expired", err)
	}
	if len(v.known) != 0 {
		t.Fatalf("an expired token is still remembered")
	}

	if _, err := NewVerifier("other").Verify(token); err == nil || !strings.Contains(err.Error(), "signature does not match") {
		t.Fatalf("Verify with another secret = %v, want a signature that does not match", err)
	}
}

// The memory stays bounded whatever number of tokens comes by.
func TestVerifierBoundsItsMemory(t *testing.T) {
	v := NewVerifier("secret")
	for i := range maxKnownTokens + 10 {
		token, err := Mint("secret", Identity{Tenant: "t1", Actor: "a" + strings.Repeat("x", i%100)}, time.Duration(i+1)*time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := v.Verify(token); err != nil {
			t.Fatal(err)
		}
	}
	if len(v.known) != maxKnownTokens {
		t.Fatalf("%d tokens remembered, want %d", len(v.known), maxKnownTokens)
	}
}

// The time claims: exp 0 is long past (golang-jwt v4 read it as no exp at all), iat and nbf
// may be a little ahead of this clock (a token minted on a host whose clock runs ahead,
// used at once), and each refusal says which claim failed.
func TestVerifyTimeClaims(t *testing.T) {
	now := time.Now().Unix()
	for _, tc := range []struct {
		name   string
		claims jwt.MapClaims
		want   string // "" for admitted
	}{
		{"exp 0", jwt.MapClaims{"exp": 0}, "the access token has expired"},
		{"exp past", jwt.MapClaims{"exp": now - 1}, "the access token has expired"},
		{"exp a string", jwt.MapClaims{"exp": "tomorrow"}, "the access token's exp claim must be a number"},
		{"no exp", jwt.MapClaims{}, ""},
		{"iat 2s ahead", jwt.MapClaims{"iat": now + 2, "exp": now + 60}, ""},
		{"nbf 2s ahead", jwt.MapClaims{"nbf": now + 2, "exp": now + 60}, ""},
		{"iat an hour ahead", jwt.MapClaims{"iat": now + 3600, "exp": now + 7200}, "the access token's iat claim is ahead of this server's clock"},
		{"nbf an hour ahead", jwt.MapClaims{"nbf": now + 3600, "exp": now + 7200}, "the access token is not valid yet (nbf)"},
	} {
		tc.claims["tenant"] = "t1"
		token, err := jwt.NewWithClaims(jwt.SigningMethodHS256, tc.claims).SignedString([]byte("secret"))
		if err != nil {
			t.Fatal(err)
		}
		v := NewVerifier("secret")
		for range 2 { // fresh, then remembered if admitted
			_, err := v.Verify(token)
			if tc.want == "" && err != nil || tc.want != "" && (err == nil || err.Error() != tc.want) {
				t.Errorf("%s: Verify = %v, want %q", tc.name, err, tc.want)
			}
		}
	}
}
