package backoff_test

import (
	"testing"
	"time"

	"jobs/internal/backoff"
)

func TestDelayGrowsWithJitterUpToTheCap(t *testing.T) {
	t.Parallel()
	for n, want := range map[int64]time.Duration{1: 100 * time.Millisecond, 2: 200 * time.Millisecond, 3: 400 * time.Millisecond, 10: time.Second} {
		for range 50 {
			d := backoff.Delay(100*time.Millisecond, time.Second, n)
			if d < want/2 || d > want {
				t.Fatalf("retry %d waits %s, want within [%s, %s]", n, d, want/2, want)
			}
		}
	}
}
