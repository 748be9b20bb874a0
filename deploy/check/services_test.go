package check

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

// The stubs stand in for what deploy/services.sh runs: they record each call in $STATE/calls
// and keep the machine's state in files under $STATE (mysql_running, redis_running, uid,
// root_tcp_ok, users/NAME holding a password). apt-get install copies the stubs of a package
// into bin, so a fresh machine starts with neither servers nor clients.
var stubs = map[string]string{
	"id": `
case $1 in
  -u) cat "$STATE/uid" ;;
  mysql) [ -f "$STATE/mysql_user" ] ;; # made by the mariadb-server package
  *) exit 1 ;;
esac`,
	"install": ``,
	"apt-get": `
case $1 in
  update) touch "$STATE/apt_updated" ;;
  install)
    [ -f "$STATE/apt_updated" ] || { echo "E: Unable to locate package" >&2; exit 100; }
    for arg in "$@"; do [ -d "$PKGS/$arg" ] && cp "$PKGS/$arg"/* "$BIN/"; done
    [[ "$*" == *mariadb-server* ]] && touch "$STATE/mysql_user" ;;
esac
exit 0`,
	"start-stop-daemon": `[[ "$*" == *mariadbd* && ! -f "$STATE/mysql_wont_start" ]] && touch "$STATE/mysql_running"; exit 0`,
	"systemctl": `
case "$*" in
  "start mariadb") touch "$STATE/mysql_running" ;;
  "start redis-server") touch "$STATE/redis_running" ;;
esac`,
	"redis-server": `touch "$STATE/redis_running"`,
	"redis-cli": `
[ -f "$STATE/redis_running" ] || { echo "Could not connect to Redis at 127.0.0.1:6379: Connection refused"; exit 1; }
[ -f "$STATE/redis_noauth" ] && { echo "NOAUTH Authentication required."; exit 0; }
echo PONG`,
	// mariadb-admin ping says alive even when the server refuses the credentials: a check on
	// it would pass. Nothing may rely on it.
	"mariadb-admin": `echo "mysqld is alive"; exit 0`,
	"mariadbd":      `exit 0`,
	"mariadb": `
tcp= user= sql=
while [ $# -gt 0 ]; do
  case $1 in
    --protocol=tcp) tcp=1 ;;
    -u*) user=${1#-u} ;;
    -e) shift; sql=$1 ;;
  esac
  shift
done
if [ ! -f "$STATE/mysql_running" ]; then
  echo "ERROR 2002 (HY000): Can't connect to server on '127.0.0.1' (115)" >&2; exit 1
fi
if [ -n "$tcp" ]; then
  if [ "$user" = root ]; then
    [ -f "$STATE/root_tcp_ok" ] && [ -z "${MYSQL_PWD:-}" ] ||
      { echo "ERROR 1698 (28000): Access denied for user 'root'@'localhost'" >&2; exit 1; }
  else
    [ -f "$STATE/users/$user" ] && [ "$(cat "$STATE/users/$user")" = "${MYSQL_PWD:-}" ] ||
      { echo "ERROR 1045 (28000): Access denied for user '$user'@'localhost' (using password: YES)" >&2; exit 1; }
  fi
else
  # The unix socket lets the system's root in as root, and no one else.
  [ "$user" = root ] && [ "$(cat "$STATE/uid")" = 0 ] ||
    { echo "ERROR 1698 (28000): Access denied for user '$user'@'localhost'" >&2; exit 1; }
  if [[ $sql =~ CREATE\ USER\ IF\ NOT\ EXISTS\ \'([a-z]+)\'@\'127.0.0.1\'\ IDENTIFIED\ BY\ \'([^\']*)\' ]]; then
    mkdir -p "$STATE/users"; printf '%s' "${BASH_REMATCH[2]}" >"$STATE/users/${BASH_REMATCH[1]}"
  fi
fi
echo 1`,
}

// packages are the stubs each Debian package brings.
var packages = map[string][]string{
	"mariadb-server": {"mariadbd", "mariadb", "mariadb-admin"},
	"mariadb-client": {"mariadb", "mariadb-admin"},
	"redis-server":   {"redis-server", "redis-cli"},
	"redis-tools":    {"redis-cli"},
}

// realTools are the ordinary commands services.sh uses, linked into the stub machine's PATH.
var realTools = []string{"bash", "dirname", "timeout", "od", "tr", "cat", "chown", "sleep", "env", "touch", "cp", "mkdir"}

type machine struct {
	t                         *testing.T
	bin, pkgs, state, envFile string
	extraEnv                  []string
}

// newMachine is a machine whose only commands are the real basics and the stubs named.
func newMachine(t *testing.T, uid string, commands ...string) *machine {
	t.Helper()
	dir := t.TempDir()
	m := &machine{t: t, bin: filepath.Join(dir, "bin"), pkgs: filepath.Join(dir, "pkgs"),
		state: filepath.Join(dir, "state"), envFile: filepath.Join(dir, "local.env")}
	for _, d := range []string{m.bin, m.pkgs, m.state} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, tool := range realTools {
		path, err := exec.LookPath(tool)
		if err != nil {
			t.Fatalf("%s: %v", tool, err)
		}
		if err := os.Symlink(path, filepath.Join(m.bin, tool)); err != nil {
			t.Fatal(err)
		}
	}
	for pkg, names := range packages {
		for _, name := range names {
			m.writeStub(filepath.Join(m.pkgs, pkg), name)
		}
	}
	for _, name := range append([]string{"id", "install"}, commands...) {
		m.writeStub(m.bin, name)
	}
	m.set("uid", uid)
	return m
}

func (m *machine) writeStub(dir, name string) {
	m.t.Helper()
	body, ok := stubs[name]
	if !ok {
		m.t.Fatalf("no stub for %s", name)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		m.t.Fatal(err)
	}
	script := "#!/bin/bash\necho \"" + name + " $*\" >>\"$STATE/calls\"\n" + body + "\n"
	if err := os.WriteFile(filepath.Join(dir, name), []byte(script), 0o755); err != nil {
		m.t.Fatal(err)
	}
}

// install puts the stubs of packages on the machine, as if installed before.
func (m *machine) install(pkgs ...string) *machine {
	for _, pkg := range pkgs {
		for _, name := range packages[pkg] {
			m.writeStub(m.bin, name)
		}
	}
	return m
}

// set writes a state file ("" content: a flag).
func (m *machine) set(name, content string) *machine {
	m.t.Helper()
	if err := os.WriteFile(filepath.Join(m.state, name), []byte(content), 0o644); err != nil {
		m.t.Fatal(err)
	}
	return m
}

// run runs deploy/services.sh on the machine and returns its output and exit code.
func (m *machine) run() (string, int) {
	m.t.Helper()
	os.Remove(filepath.Join(m.state, "calls"))
	cmd := exec.Command(filepath.Join(repoRoot(m.t), "deploy", "services.sh"))
	cmd.Env = append([]string{"PATH=" + m.bin, "STATE=" + m.state, "BIN=" + m.bin, "PKGS=" + m.pkgs,
		"JOBS_LOCAL_ENV=" + m.envFile, "JOBS_SERVICES_WAIT=1", "JOBS_SERVICES_INIT=other"}, m.extraEnv...)
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		m.t.Fatalf("services.sh: %v", err)
	}
	return string(out), cmd.ProcessState.ExitCode()
}

// calls are the stubbed commands the last run ran, e.g. "apt-get update".
func (m *machine) calls() []string {
	data, _ := os.ReadFile(filepath.Join(m.state, "calls"))
	return strings.Split(strings.TrimSpace(string(data)), "\n")
}

// ran reports the calls that start with prefix.
func (m *machine) ran(prefix string) []string {
	var found []string
	for _, c := range m.calls() {
		if strings.HasPrefix(c, prefix) {
			found = append(found, c)
		}
	}
	return found
}

// wantNoChanges fails if the last run installed, started or created anything.
func (m *machine) wantNoChanges() {
	m.t.Helper()
	for _, c := range m.calls() {
		if !strings.HasPrefix(c, "mariadb ") && !strings.HasPrefix(c, "redis-cli ") && c != "id -u" {
			m.t.Errorf("ran %q", c)
		}
		if strings.HasPrefix(c, "mariadb ") && !strings.Contains(c, "--protocol=tcp") {
			m.t.Errorf("ran %q: more than a check", c)
		}
	}
}

func wantExit(t *testing.T, out string, code, want int) {
	t.Helper()
	if code != want {
		t.Fatalf("services.sh exited %d, want %d; output:\n%s", code, want, out)
	}
}

var dsnLine = regexp.MustCompile(`(?m)^JOBS_MYSQL_DSN='jobs:([0-9a-f]{32})@tcp\(127\.0\.0\.1:3306\)/jobs'$`)

func TestServicesAlreadyAnswering(t *testing.T) {
	t.Parallel()
	m := newMachine(t, "0", "apt-get", "start-stop-daemon", "systemctl").install("mariadb-server", "redis-server").
		set("mysql_running", "").set("redis_running", "").set("root_tcp_ok", "")
	out, code := m.run()
	wantExit(t, out, code, 0)
	if out != "" {
		t.Errorf("printed %q", out)
	}
	m.wantNoChanges()
	if _, err := os.Stat(m.envFile); err == nil {
		t.Error("wrote local.env although root logs in over TCP")
	}
}

func TestServicesFreshDebianAsRoot(t *testing.T) {
	t.Parallel()
	m := newMachine(t, "0", "apt-get", "start-stop-daemon")
	out, code := m.run()
	wantExit(t, out, code, 0)

	calls := m.calls()
	update, install := slices.Index(calls, "apt-get update -q"), slices.Index(calls, "apt-get install -y -q mariadb-server redis-server")
	if update < 0 || install < 0 || update > install {
		t.Fatalf("want apt-get update, then one apt-get install of both servers; ran %q", calls)
	}
	// As the package's system user: Debian's config does not say so, its systemd unit does.
	if got := m.ran("start-stop-daemon"); len(got) != 1 || !strings.HasSuffix(got[0], "--exec "+m.bin+"/mariadbd -- --user=mysql") {
		t.Errorf("MariaDB start: ran %q", got)
	}
	if got := m.ran("install"); !slices.Equal(got, []string{"install -d -o mysql -g mysql /run/mysqld"}) {
		t.Errorf("before the MariaDB start: ran %q", got)
	}
	if got := m.ran("redis-server"); len(got) != 1 || !strings.Contains(got[0], "--bind 127.0.0.1 --port 6379") {
		t.Errorf("Redis start: ran %q", got)
	}
	// Root is refused over TCP (a fresh mariadb-server), so the service gets a user of its own,
	// made over the socket, whose password is in local.env, mode 0600.
	env, err := os.ReadFile(m.envFile)
	if err != nil {
		t.Fatalf("local.env: %v; output:\n%s", err, out)
	}
	match := dsnLine.FindSubmatch(env)
	if match == nil || !strings.Contains(string(env), "TEST_MYSQL_DSN='jobs:"+string(match[1])+"@tcp(127.0.0.1:3306)/'") {
		t.Fatalf("local.env:\n%s", env)
	}
	if info, _ := os.Stat(m.envFile); info.Mode().Perm() != 0o600 {
		t.Errorf("local.env mode %v, want 0600", info.Mode().Perm())
	}
	if pw, _ := os.ReadFile(filepath.Join(m.state, "users", "jobs")); string(pw) != string(match[1]) {
		t.Errorf("the user jobs has password %q, local.env says %q", pw, match[1])
	}
	if !strings.Contains(out, "creating the MariaDB user jobs") {
		t.Errorf("output does not say a user was made:\n%s", out)
	}

	// A second run finds everything answering as the new user and changes nothing.
	out, code = m.run()
	wantExit(t, out, code, 0)
	if out != "" {
		t.Errorf("second run printed %q", out)
	}
	m.wantNoChanges()
	if again, _ := os.ReadFile(m.envFile); string(again) != string(env) {
		t.Errorf("second run rewrote local.env")
	}
	if got := m.ran("mariadb "); len(got) != 1 || !strings.Contains(got[0], "-ujobs") {
		t.Errorf("second run checked MariaDB with %q, want one query as jobs", got)
	}
}

func TestServicesFreshDebianWhereRootLogsInOverTCP(t *testing.T) {
	t.Parallel()
	m := newMachine(t, "0", "apt-get", "start-stop-daemon").set("root_tcp_ok", "")
	out, code := m.run()
	wantExit(t, out, code, 0)
	if len(m.ran("apt-get install")) != 1 {
		t.Errorf("ran %q", m.calls())
	}
	if _, err := os.Stat(m.envFile); err == nil {
		t.Error("wrote local.env although root logs in over TCP")
	}
}

func TestServicesStartedBySystemd(t *testing.T) {
	t.Parallel()
	m := newMachine(t, "0", "systemctl", "start-stop-daemon").install("mariadb-server", "redis-server").set("root_tcp_ok", "")
	m.extraEnv = []string{"JOBS_SERVICES_INIT=systemd"}
	out, code := m.run()
	wantExit(t, out, code, 0)
	if got := m.ran("systemctl"); !slices.Equal(got, []string{"systemctl start mariadb", "systemctl start redis-server"}) {
		t.Errorf("ran %q", got)
	}
	if got := m.ran("start-stop-daemon"); len(got) > 0 {
		t.Errorf("ran %q under systemd", got)
	}
}

func TestServicesNotRootStopsAtOnceWithTheCommands(t *testing.T) {
	t.Parallel()
	m := newMachine(t, "1000", "apt-get", "start-stop-daemon")
	start := time.Now()
	out, code := m.run()
	wantExit(t, out, code, 1)
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("took %v: it must stop at once", took)
	}
	for _, want := range []string{"sudo ./deploy/services.sh",
		"sudo apt-get update && sudo apt-get install -y mariadb-server redis-server"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if got := m.ran("apt-get"); len(got) > 0 {
		t.Errorf("ran %q as a user", got)
	}
}

func TestServicesWithoutAptStopsAtOnce(t *testing.T) {
	t.Parallel()
	for _, uid := range []string{"0", "1000"} {
		m := newMachine(t, uid, "start-stop-daemon")
		out, code := m.run()
		wantExit(t, out, code, 1)
		if !strings.Contains(out, "install MariaDB and Redis") {
			t.Errorf("uid %s: output:\n%s", uid, out)
		}
		m.wantNoChanges()
	}
}

// The case: mariadb-admin ping exits 0 on "Access denied". The script must see the
// refusal, and as a user print the SQL that makes the service's user, with the password it
// wrote to local.env.
func TestServicesAccessDeniedDoesNotPass(t *testing.T) {
	t.Parallel()
	m := newMachine(t, "1000", "apt-get", "start-stop-daemon").install("mariadb-server", "redis-server").
		set("mysql_running", "").set("redis_running", "")
	out, code := m.run()
	wantExit(t, out, code, 1)
	env, err := os.ReadFile(m.envFile)
	match := dsnLine.FindSubmatch(env)
	if err != nil || match == nil {
		t.Fatalf("local.env: %v\n%s", err, env)
	}
	if !strings.Contains(out, "sudo mariadb -e \"CREATE USER IF NOT EXISTS 'jobs'@'localhost' IDENTIFIED BY '"+string(match[1])+"'") ||
		!strings.Contains(out, "Access denied") {
		t.Errorf("output:\n%s", out)
	}
	m.wantNoChanges()

	// Once someone ran that SQL, the next run passes as the user.
	if err := os.MkdirAll(filepath.Join(m.state, "users"), 0o755); err != nil {
		t.Fatal(err)
	}
	m.set("users/jobs", string(match[1]))
	out, code = m.run()
	wantExit(t, out, code, 0)
}

func TestServicesLeavesAnsweringServersAlone(t *testing.T) {
	t.Parallel()
	// MariaDB answers; Redis is installed but stopped.
	m := newMachine(t, "0", "apt-get", "start-stop-daemon", "systemctl").install("mariadb-server", "redis-server").
		set("mysql_running", "").set("root_tcp_ok", "")
	out, code := m.run()
	wantExit(t, out, code, 0)
	for _, c := range m.calls() {
		if strings.HasPrefix(c, "apt-get") || strings.HasPrefix(c, "start-stop-daemon") || strings.HasPrefix(c, "systemctl") {
			t.Errorf("ran %q with MariaDB answering", c)
		}
	}
	if len(m.ran("redis-server")) != 1 {
		t.Errorf("Redis not started: %q", m.calls())
	}

	// Redis wanting a password is reported, not worked around with a second server.
	m = newMachine(t, "0", "apt-get", "start-stop-daemon").install("mariadb-server", "redis-server").
		set("mysql_running", "").set("root_tcp_ok", "").set("redis_running", "").set("redis_noauth", "")
	out, code = m.run()
	wantExit(t, out, code, 1)
	if !strings.Contains(out, "Redis on 127.0.0.1:6379 wants a password") {
		t.Errorf("output:\n%s", out)
	}
	m.wantNoChanges()
}

func TestServicesReportsAServerThatDoesNotComeUp(t *testing.T) {
	t.Parallel()
	m := newMachine(t, "0", "start-stop-daemon").install("mariadb-server", "redis-server").
		set("redis_running", "").set("mysql_wont_start", "")
	out, code := m.run()
	wantExit(t, out, code, 1)
	if !strings.Contains(out, "MariaDB is not answering on 127.0.0.1:3306 as root: ERROR 2002") {
		t.Errorf("output:\n%s", out)
	}
}
