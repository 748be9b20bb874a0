//go:build !linux

package sse

import "net"

// hangups notices clients closing hijacked connections; here with a goroutine per stream
// (Linux uses one epoll set for all streams).
type hangups struct{}

func newHangups() (*hangups, error) { return &hangups{}, nil }

// watch closes s when the client hangs up conn. It returns the function that stops
// watching, to be called before conn is closed.
func (h *hangups) watch(conn net.Conn, s *Stream) (func(), error) {
	watchByReading(conn, s)
	return func() {}, nil
}

func (h *hangups) stop() {}
