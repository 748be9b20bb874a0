package testutil

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/zeromicro/go-zero/core/conf"
	"github.com/zeromicro/go-zero/core/logx"
)

// logFile receives the logs of every app this test binary starts, so that they stay out of
// the test output: a failing test's first lines say why it failed, and it names this file
// last (parallel tests write to it at once, so it holds their lines interleaved).
var logFile *os.File

// logDir keeps the log files of test runs; files older than a day are removed.
var logDir = filepath.Join(os.TempDir(), "jobs-test-logs")

func init() {
	var lc logx.LogConf
	if err := conf.FillDefault(&lc); err != nil {
		panic(err)
	}
	lc.Mode, lc.Level, lc.Stat = "console", "error", false
	// SetUp runs once per process: later calls (rest.NewServer's) leave this set-up alone.
	if err := logx.SetUp(lc); err != nil {
		panic(err)
	}
	if err := os.MkdirAll(logDir, 0o755); err == nil {
		removeOldLogs()
		logFile, err = os.CreateTemp(logDir, filepath.Base(os.Args[0])+"-*.log")
		if err == nil {
			logx.SetWriter(logx.NewWriter(logFile))
		}
	}
}

func removeOldLogs() {
	entries, _ := os.ReadDir(logDir)
	for _, e := range entries {
		if info, err := e.Info(); err == nil && time.Since(info.ModTime()) > 24*time.Hour {
			_ = os.Remove(filepath.Join(logDir, e.Name()))
		}
	}
}

// NameLogsOnFailure makes t, if it fails, end by naming the file that holds the logs
// written while it ran.
func NameLogsOnFailure(t testing.TB) {
	t.Helper()
	if logFile == nil {
		return
	}
	var from int64
	if info, err := logFile.Stat(); err == nil {
		from = info.Size()
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("app logs: %s, from byte %d (tests running in parallel write there too)", logFile.Name(), from)
		}
	})
}

// LogsOnFailure makes t, if it fails, end by logging output (a child process's, say),
// trimmed to its last lines, after its failure message.
func LogsOnFailure(t testing.TB, what string, output func() string) {
	t.Helper()
	t.Cleanup(func() {
		if !t.Failed() {
			return
		}
		lines := strings.Split(strings.TrimRight(output(), "\n"), "\n")
		const keep = 200
		if len(lines) > keep {
			lines = append([]string{fmt.Sprintf("[%d earlier lines left out]", len(lines)-keep)}, lines[len(lines)-keep:]...)
		}
		t.Logf("%s:\n%s", what, strings.Join(lines, "\n"))
	})
}
