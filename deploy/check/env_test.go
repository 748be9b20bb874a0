package check

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// buildService builds the service as make build does, into a folder of the test's.
func buildService(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "jobs")
	cmd := exec.Command("make", "-s", "build", "BIN="+bin)
	cmd.Dir = repoRoot(t)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("make build: %v\n%s", err, out)
	}
	return bin
}

// The containers get their secrets as environment variables (Secret, compose environment):
// they must reach the service, over what deploy/jobs.yaml says.
func TestSecretsFromTheEnvironmentReachTheService(t *testing.T) {
	t.Parallel()
	bin := buildService(t)
	config := filepath.Join(repoRoot(t), "deploy", "jobs.yaml")

	// JOBS_ACCESS_SECRET signs the tokens.
	const secret = "a-secret-from-the-environment"
	cmd := exec.Command(bin, "token", "-f", config, "-tenant", "t1")
	cmd.Env = append(os.Environ(), "JOBS_ACCESS_SECRET="+secret)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("jobs token: %v", err)
	}
	token := strings.TrimSpace(string(out))
	dot := strings.LastIndex(token, ".")
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(token[:dot]))
	if dot < 0 || token[dot+1:] != base64.RawURLEncoding.EncodeToString(mac.Sum(nil)) {
		t.Errorf("the token is not signed with JOBS_ACCESS_SECRET: %s", token)
	}

	// JOBS_MYSQL_DSN is where the service goes (here a closed port, so it stops naming it).
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := l.Addr().String()
	l.Close()
	cmd = exec.Command(bin, "-f", config, "-role", "worker")
	// With secrets of its own, as a production process must have (Mode pro).
	cmd.Env = append(os.Environ(), "JOBS_MYSQL_DSN=jobs:pw@tcp("+closed+")/jobs",
		"JOBS_ACCESS_SECRET="+secret, "JOBS_CALLBACK_SECRET="+secret)
	out, err = cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), closed) {
		t.Errorf("with JOBS_MYSQL_DSN at %s the service said (%v):\n%s", closed, err, out)
	}
}
