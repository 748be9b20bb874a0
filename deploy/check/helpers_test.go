package check

import (
	"os"
	"path/filepath"
	"testing"
)

// repoRoot is the jobs repository this module sits in (deploy/check).
func repoRoot(t testing.TB) string {
	t.Helper()
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	return root
}

// readRepoFile reads a file by its path in the repository.
func readRepoFile(t testing.TB, path string) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(repoRoot(t), path))
	if err != nil {
		t.Fatal(err)
	}
	return data
}
