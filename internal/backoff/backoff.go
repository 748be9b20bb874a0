// Package backoff spaces repeated attempts: a job's retries and a callback's deliveries.
package backoff

import (
	"math/rand/v2"
	"time"
)

// Delay is base*2^(n-1) capped at maxDelay, of which a random upper half is kept
// ("equal jitter"): the result lies in [d/2, d], so that attempts failing together do not
// retry together. A base of 0 is no delay.
func Delay(base, maxDelay time.Duration, n int64) time.Duration {
	if base <= 0 {
		return 0
	}
	d := base
	for i := int64(1); i < n && d < maxDelay; i++ {
		d *= 2
	}
	if maxDelay > 0 && d > maxDelay {
		d = maxDelay
	}
	half := d / 2
	return half + rand.N(d-half+1)
}
