package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// The committed document is what make gen makes of api/jobs.api and the patch now: an edit
// of either without make gen fails here. It needs the pinned goctl (make goctl installs it).
func TestDocumentIsUpToDate(t *testing.T) {
	t.Parallel()
	goctl := pinnedGoctl(t)
	dir := t.TempDir()
	cmd := exec.Command(goctl, "api", "swagger", "--api", "api/jobs.api", "--dir", dir, "--filename", "jobs")
	cmd.Dir = "../.."
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("goctl api swagger: %v\n%s", err, out)
	}
	swagger := filepath.Join(dir, "jobs.json")
	out := filepath.Join(dir, "openapi.json")
	if err := run(swagger, "../../api/openapi.patch.json", "../../internal/types/types.go", out); err != nil {
		t.Fatal(err)
	}
	made, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	committed, err := os.ReadFile("../../internal/openapi/openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(made, committed) {
		t.Fatal("internal/openapi/openapi.json is not what api/jobs.api and api/openapi.patch.json make: run make gen")
	}
	// A second run makes the same bytes: nothing in the output depends on the time or on
	// map order.
	if err := run(swagger, "../../api/openapi.patch.json", "../../internal/types/types.go", out); err != nil {
		t.Fatal(err)
	}
	if again, _ := os.ReadFile(out); !bytes.Equal(again, made) {
		t.Fatal("two runs on the same input differ")
	}
}

// pinnedGoctl returns the path of the goctl the Makefile pins, skipping the test if it is
// not installed.
func pinnedGoctl(t *testing.T) string {
	t.Helper()
	makefile, err := os.ReadFile("../../Makefile")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^GOCTL_VERSION \?= v(\S+)$`).FindSubmatch(makefile)
	if m == nil {
		t.Fatal("no GOCTL_VERSION in the Makefile")
	}
	gopath, err := exec.Command("go", "env", "GOPATH").Output()
	if err != nil {
		t.Fatal(err)
	}
	goctl := filepath.Join(strings.TrimSpace(string(gopath)), "bin", "goctl")
	version, err := exec.Command(goctl, "--version").Output()
	if err != nil || !strings.Contains(string(version), string(m[1])) {
		t.Skipf("goctl %s is not installed at %s (make goctl installs it)", m[1], goctl)
	}
	return goctl
}
