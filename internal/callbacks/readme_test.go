package callbacks

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"jobs/internal/config"
	"jobs/internal/jobview"
	"jobs/internal/testutil"
)

// A receiver checks a delivery as README says: the header is "sha256=" and the hex
// HMAC-SHA256 of the exact body, keyed with Callbacks.Secret, and README's openssl line
// says "genuine" of it (and not of a body changed by one byte).
func TestAReceiverVerifiesADeliveryAsTheREADMESays(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("openssl"); err != nil {
		t.Skip("no openssl to run README's verification with")
	}
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	var verify string
	for _, line := range strings.Split(string(readme), "\n") {
		if strings.Contains(line, "openssl dgst") {
			verify = line
		}
	}
	if verify == "" {
		t.Fatal("README has no openssl line that verifies a delivery")
	}

	const secret = "a secret of our own: with spaces & quotes'"
	type delivery struct {
		body      []byte
		signature string
	}
	got := make(chan delivery, 1)
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		got <- delivery{body, r.Header.Get("X-Jobs-Signature")}
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(receiver.Close)
	store := testutil.NewStore(t)
	testutil.NewFactory(t, store).Completed(`{"html": "<b>&</b>", "text": "naïve"}`, testutil.WithCallback(receiver.URL))
	cfg := config.CallbacksConf{Secret: secret, Timeout: 5 * time.Second, MaxAttempts: 1, Backoff: time.Second,
		MaxBackoff: time.Minute, Interval: 10 * time.Millisecond, Concurrency: 1}
	d := NewDeliverer(cfg, []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}, jobview.CallbackBody, store.Jobs)
	d.Start()
	t.Cleanup(d.Stop)
	var dl delivery
	select {
	case dl = <-got:
	case <-time.After(10 * time.Second):
		t.Fatal("no delivery")
	}

	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(dl.body)
	if want := "sha256=" + hex.EncodeToString(mac.Sum(nil)); dl.signature != want {
		t.Errorf("X-Jobs-Signature %q, want %q", dl.signature, want)
	}
	for _, tc := range []struct {
		body []byte
		want string
	}{{dl.body, "genuine\n"}, {append(append([]byte(nil), dl.body...), ' '), ""}} {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, "body.json"), tc.body, 0o600); err != nil {
			t.Fatal(err)
		}
		sh := exec.Command("sh", "-c", verify)
		sh.Dir = dir
		sh.Env = append(os.Environ(), "SECRET="+secret, "SIG="+dl.signature)
		out, _ := sh.CombinedOutput()
		if string(out) != tc.want {
			t.Errorf("README's %q on a body of %d bytes says %q, want %q", verify, len(tc.body), out, tc.want)
		}
	}
}
