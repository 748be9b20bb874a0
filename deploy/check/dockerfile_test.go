package check

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// instruction is one Dockerfile instruction, continuation lines joined.
type instruction struct {
	cmd  string // upper case: FROM, RUN, COPY...
	args string
}

type stage struct {
	image, name  string
	instructions []instruction
}

// parseDockerfile splits deploy/Dockerfile into its stages. It knows what our Dockerfile uses:
// comments, blank lines and backslash continuations.
func parseDockerfile(t *testing.T) []stage {
	t.Helper()
	var stages []stage
	var pending string
	for _, line := range strings.Split(string(readRepoFile(t, "deploy/Dockerfile")), "\n") {
		trimmed := strings.TrimSpace(line)
		if pending == "" && (trimmed == "" || strings.HasPrefix(trimmed, "#")) {
			continue
		}
		if cont, ok := strings.CutSuffix(trimmed, "\\"); ok {
			pending += cont + " "
			continue
		}
		full := pending + trimmed
		pending = ""
		cmd, args, _ := strings.Cut(full, " ")
		ins := instruction{cmd: strings.ToUpper(cmd), args: strings.TrimSpace(args)}
		if ins.cmd == "FROM" {
			fields := strings.Fields(ins.args)
			s := stage{image: fields[0]}
			if len(fields) == 3 && strings.EqualFold(fields[1], "AS") {
				s.name = fields[2]
			}
			stages = append(stages, s)
			continue
		}
		if len(stages) == 0 {
			t.Fatalf("Dockerfile: %s before FROM", ins.cmd)
		}
		stages[len(stages)-1].instructions = append(stages[len(stages)-1].instructions, ins)
	}
	if len(stages) < 2 {
		t.Fatalf("Dockerfile: want a build stage and a final stage, got %d stages", len(stages))
	}
	return stages
}

func (s stage) all(cmd string) []string {
	var args []string
	for _, ins := range s.instructions {
		if ins.cmd == cmd {
			args = append(args, ins.args)
		}
	}
	return args
}

// image is what the final stage says about the running container.
type image struct {
	uid        string   // USER, numeric
	entrypoint []string // exec form
	configPath string   // the entrypoint's -f
}

func dockerImage(t *testing.T) image {
	t.Helper()
	stages := parseDockerfile(t)
	final := stages[len(stages)-1]
	var img image
	users := final.all("USER")
	if len(users) != 1 {
		t.Fatalf("final stage: want one USER, got %q", users)
	}
	img.uid, _, _ = strings.Cut(users[0], ":")
	entry := final.all("ENTRYPOINT")
	if len(entry) != 1 || json.Unmarshal([]byte(entry[0]), &img.entrypoint) != nil {
		t.Fatalf("final stage: want one ENTRYPOINT in exec form, got %q", entry)
	}
	for i, arg := range img.entrypoint {
		if arg == "-f" && i+1 < len(img.entrypoint) {
			img.configPath = img.entrypoint[i+1]
		}
	}
	if img.configPath == "" {
		t.Fatalf("ENTRYPOINT %q names no config (-f)", img.entrypoint)
	}
	return img
}

// TestDockerfileImage checks the final stage: small base, non-root numeric user, the static
// binary from the build stage, and deploy/jobs.yaml where the entrypoint reads it (a config
// the service accepts).
func TestDockerfileImage(t *testing.T) {
	t.Parallel()
	stages := parseDockerfile(t)
	final := stages[len(stages)-1]
	img := dockerImage(t)
	if strings.HasPrefix(final.image, "golang") {
		t.Errorf("final stage FROM %s: the toolchain does not belong in the image", final.image)
	}
	if img.uid == "" || img.uid == "0" || strings.Trim(img.uid, "0123456789") != "" {
		t.Errorf("USER %q: want a numeric user other than root (runAsNonRoot needs a number)", img.uid)
	}
	var binary, config bool
	for _, c := range final.all("COPY") {
		fields := strings.Fields(c)
		switch {
		case len(fields) == 3 && fields[0] == "--from="+stages[0].name && fields[2] == img.entrypoint[0]:
			binary = true
		case len(fields) == 2 && fields[0] == "deploy/jobs.yaml" && fields[1] == img.configPath:
			config = true
		}
	}
	if !binary || !config {
		t.Errorf("final stage: want the binary copied from stage %s to %s, and deploy/jobs.yaml to %s",
			stages[0].name, img.entrypoint[0], img.configPath)
	}
	serviceConfig(t, readRepoFile(t, "deploy/jobs.yaml"), "all")
	ignore := string(readRepoFile(t, ".dockerignore"))
	for _, private := range []string{"local.env", "deploy/.env", ".git"} {
		if !strings.Contains("\n"+ignore+"\n", "\n"+private+"\n") {
			t.Errorf(".dockerignore does not keep %s out of the build context", private)
		}
	}
}

// TestDockerfileBuildsTheBinaryOfMakeBuild runs the build stage's instructions (WORKDIR,
// COPY from the build context minus .dockerignore, RUN) in a temporary folder and compares
// the binary the final stage copies with the one make build makes: the same bytes.
func TestDockerfileBuildsTheBinaryOfMakeBuild(t *testing.T) {
	t.Parallel()
	stages := parseDockerfile(t)
	build := stages[0]
	if build.name == "" {
		t.Fatal("the first stage needs a name (FROM ... AS build) for the final stage to copy from")
	}
	// The same Go release as the toolchain make build uses here, or the bytes differ.
	goImage := strings.TrimPrefix(build.image, "golang:")
	if version, _, _ := strings.Cut(goImage, "-"); "go"+version != runtime.Version() {
		t.Errorf("build stage FROM %s, but make build uses %s: set the image's Go to it", build.image, runtime.Version())
	}

	root := repoRoot(t)
	tmp := t.TempDir()
	context := contextFiles(t, root)
	host := func(p string) string { return filepath.Join(tmp, filepath.FromSlash(p)) }
	workdir := "/"
	for _, ins := range build.instructions {
		switch ins.cmd {
		case "WORKDIR":
			workdir = path.Join(workdir, ins.args)
			if err := os.MkdirAll(host(workdir), 0o755); err != nil {
				t.Fatal(err)
			}
		case "COPY":
			fields := strings.Fields(ins.args)
			dest := path.Join(workdir, fields[len(fields)-1])
			for _, src := range fields[:len(fields)-1] {
				for _, f := range context {
					if src == "." || f == src {
						target := path.Join(dest, f)
						if src != "." {
							target = path.Join(dest, path.Base(f))
						}
						copyFile(t, filepath.Join(root, f), host(target))
					}
				}
			}
		case "RUN":
			if strings.Contains(ins.args, " /") {
				t.Fatalf("RUN %s: absolute paths do not map into the emulated build", ins.args)
			}
			cmd := exec.Command("sh", "-c", ins.args)
			cmd.Dir = host(workdir)
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("RUN %s: %v\n%s", ins.args, err, out)
			}
		case "ENV", "ARG":
			t.Fatalf("%s in the build stage: the emulation does not know it", ins.cmd)
		}
	}
	final := stages[len(stages)-1]
	var fromBuild string
	for _, c := range final.all("COPY") {
		if fields := strings.Fields(c); fields[0] == "--from="+build.name {
			fromBuild = fields[1]
		}
	}
	imageBinary := sha256File(t, host(fromBuild))

	makeBinary := filepath.Join(tmp, "make", "jobs")
	cmd := exec.Command("make", "-s", "build", "BIN="+makeBinary)
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("make build: %v\n%s", err, out)
	}
	if made := sha256File(t, makeBinary); !bytes.Equal(made, imageBinary) {
		t.Fatalf("the image's binary (%x) is not make build's (%x)", imageBinary, made)
	}
}

// contextFiles are the repository's files docker build would send: tracked and untracked
// ones not ignored by git, minus .dockerignore's patterns (matched from the root against the
// path and the folders above it, as docker does for patterns without **).
func contextFiles(t *testing.T, root string) []string {
	t.Helper()
	cmd := exec.Command("git", "ls-files", "-z", "--cached", "--others", "--exclude-standard")
	cmd.Dir = root
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("git ls-files: %v", err)
	}
	var patterns []string
	for _, line := range strings.Split(string(readRepoFile(t, ".dockerignore")), "\n") {
		if line = strings.TrimSpace(line); line != "" && !strings.HasPrefix(line, "#") {
			patterns = append(patterns, line)
		}
	}
	var files []string
	for _, f := range strings.Split(strings.TrimRight(string(out), "\x00"), "\x00") {
		if _, err := os.Lstat(filepath.Join(root, f)); err != nil {
			continue // deleted, not yet committed
		}
		if !ignored(f, patterns) {
			files = append(files, f)
		}
	}
	return files
}

func ignored(file string, patterns []string) bool {
	for p := file; p != "."; p = path.Dir(p) {
		for _, pattern := range patterns {
			if ok, _ := path.Match(pattern, p); ok {
				return true
			}
		}
	}
	return false
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	info, err := os.Lstat(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(to), 0o755); err != nil {
		t.Fatal(err)
	}
	if info.Mode()&os.ModeSymlink != 0 {
		link, err := os.Readlink(from)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(link, to); err != nil {
			t.Fatal(err)
		}
		return
	}
	src, err := os.Open(from)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	dst, err := os.OpenFile(to, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, info.Mode().Perm())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(dst, src); err != nil {
		t.Fatal(err)
	}
	if err := dst.Close(); err != nil {
		t.Fatal(err)
	}
}

func sha256File(t *testing.T, file string) []byte {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatalf("%v", err)
	}
	sum := sha256.Sum256(data)
	return sum[:]
}
