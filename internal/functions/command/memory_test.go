package command

import (
	"context"
	"runtime"
	"strings"
	"testing"
	"time"

	"jobs/internal/config"
	"jobs/internal/functions"
)

// A running command's long stderr lines are not all held: an error carries 3,000 bytes of
// its stderr's end, but the last 20 lines were kept whole, up to 20 MiB a job while it ran
// (320 MiB for Worker.Concurrency 16 jobs dumping a blob to stderr). Not parallel: it reads
// the heap.
func TestLongStderrLinesAreNotHeld(t *testing.T) {
	r, err := New(config.CommandConf{Argv: []string{"sh", "-c",
		`for i in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20; do head -c 1000000 /dev/zero | tr '\0' x >&2; echo >&2; done
echo "::progress 1"; echo tail-end >&2; exec sleep 100`}, KillGrace: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	report := &groupReporter{started: make(chan struct{})}
	var heap uint64
	go func() {
		<-report.started
		runtime.GC()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		heap = m.HeapAlloc
		cancel()
	}()
	_, err = r.Run(ctx, functions.Call{JobID: "j", Attempt: 1, Params: []byte(`{}`)}, report)
	if err == nil || !strings.Contains(err.Error(), "canceled") {
		t.Fatalf("Run: %v", err)
	}
	if heap > 8<<20 {
		t.Errorf("heap of %d MiB while the command ran, after 20 MB of stderr lines", heap>>20)
	}
}
