package client_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// The README's Go client example compiles, as the body of a function given ctx and token,
// in a module of its own that imports jobs/client with the replace directive the README
// names: a renamed method or field fails here rather than in a newcomer's editor.
func TestTheREADMEsGoExampleCompiles(t *testing.T) {
	t.Parallel()
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	section := string(readme)
	if i := strings.Index(section, "\n## Go client"); i >= 0 {
		section = section[i:]
	}
	start := strings.Index(section, "```go\n")
	end := strings.Index(section[start+1:], "\n```")
	if start < 0 || end < 0 {
		t.Fatal("README has no go block under ## Go client")
	}
	example := section[start+len("```go\n") : start+1+end]

	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	gomod := "module example.com/readme\n\ngo 1.26.0\n\nrequire jobs v0.0.0\n\nreplace jobs => " + root + "\n"
	src := `package main

import (
	"context"
	"errors"
	"log"
	"time"

	"jobs/client"
)

func example(ctx context.Context, token string) {
` + example + `
	_, _, _ = err, final, res // what the example leaves for its reader to check
}

func main() { example(context.Background(), "") }
`
	for name, text := range map[string]string{"go.mod": gomod, "main.go": src} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	vet := exec.CommandContext(t.Context(), "go", "vet", ".")
	vet.Dir = dir
	if out, err := vet.CombinedOutput(); err != nil {
		t.Fatalf("the README's example does not compile: %v\n%s\n%s", err, out, src)
	}
}
