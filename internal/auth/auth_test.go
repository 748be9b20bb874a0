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

	if _, err := NewVerifier("other").Verify(token); err == nil || !strings.Contains(err.Error(), "not valid") {
		t.Fatalf("Verify with another secret = %v, want not valid", err)
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
