package testutil

import (
	"os"
	"os/exec"
	"testing"
)

// Chromium returns the path of Debian's chromium for browser tests. Without it the test is
// skipped locally, and fails in CI (CI set), where .ci/run installs it.
func Chromium(t testing.TB) string {
	t.Helper()
	path, err := exec.LookPath("chromium")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("chromium is not installed; .ci/run installs it (apt-get install chromium)")
		}
		t.Skip("chromium is not installed (apt-get install chromium)")
	}
	return path
}
