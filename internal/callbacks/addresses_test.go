package callbacks

import (
	"errors"
	"strings"
	"testing"
	"time"
)

// In an IPv6-only network with DNS64, a name whose only address is IPv4 resolves into the
// NAT64 prefix 64:ff9b::/96, and the gateway forwards to the IPv4 address in its last 32 bits:
// the dialler must check that one, or a name with an internal A record reaches it.
func TestDialsThroughNAT64AreCheckedAsTheirIPv4Address(t *testing.T) {
	t.Parallel()
	client := NewClient(300*time.Millisecond, nil)
	for url, want := range map[string]string{
		"http://[64:ff9b::7f00:1]:1/":    "is a loopback address",
		"http://[64:ff9b::a00:5]:1/":     "is a private address",
		"http://[64:ff9b::a9fe:a9fe]:1/": "is a link-local address",
	} {
		resp, err := client.Post(url, "application/json", strings.NewReader("{}"))
		if err == nil {
			resp.Body.Close()
		}
		if !errors.Is(err, errRefused) || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want refused: %s", url, err, want)
		}
	}
	// A public IPv4 address through NAT64 is dialled (and fails here: nothing routes it).
	resp, err := client.Post("http://[64:ff9b::808:808]:1/", "application/json", strings.NewReader("{}"))
	if err == nil {
		resp.Body.Close()
	}
	if errors.Is(err, errRefused) {
		t.Errorf("a public address through NAT64 was refused: %v", err)
	}
}
