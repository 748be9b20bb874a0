package client

import "time"

// SetWatchTimings shortens Watch's idle cut-off and reconnect budget for tests.
func SetWatchTimings(c *Client, idle, reconnectFor time.Duration) {
	c.watchIdle, c.reconnectFor = idle, reconnectFor
}

// SetMaxResultWait lowers the wait one result request asks for, so that tests see Result
// spread a wait over several requests without waiting a minute.
func SetMaxResultWait(c *Client, d time.Duration) { c.maxWait = d }
