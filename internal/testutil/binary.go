package testutil

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
)

// BuildJobs builds the jobs command for a TestMain (which has no testing.T) and returns its
// path, and a function that removes it.
func BuildJobs() (path string, remove func(), err error) {
	dir, err := os.MkdirTemp("", "jobs-test-bin")
	if err != nil {
		return "", nil, err
	}
	remove = func() { os.RemoveAll(dir) }
	path = filepath.Join(dir, "jobs")
	build := exec.Command("go", "build", "-o", path, "jobs")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		remove()
		return "", nil, fmt.Errorf("build jobs: %w", err)
	}
	return path, remove, nil
}
