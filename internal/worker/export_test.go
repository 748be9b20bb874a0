package worker

// CancelHeardWhileClaiming reports whether a cancel signal for jobID reached p while the
// claim of jobID was in flight, for a test to wait on before letting the claim go on.
func CancelHeardWhileClaiming(p *Pool, jobID string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.claiming[jobID]
}

// MaxLogTailBytes bounds an attempt's kept output lines as JSON.
const MaxLogTailBytes = maxLogTailBytes
