//go:build !linux

package sse

import "net"

// hangups notices clients closing hijacked connections: here with a goroutine per stream
// parked in Read (Linux uses one epoll set for all streams).
type hangups struct{}

func newHangups() (*hangups, error) { return &hangups{}, nil }

// watch closes s when the client hangs up conn.
func (h *hangups) watch(conn net.Conn, s *Stream) (func(), error) {
	go func() {
		var b [1]byte
		for {
			if _, err := conn.Read(b[:]); err != nil {
				s.Close()
				return
			}
		}
	}()
	return func() {}, nil
}

func (h *hangups) stop() {}
