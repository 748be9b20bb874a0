package sse

import "net"

// watchByReading closes s when the client hangs up conn, with a goroutine parked in Read
// (a client sends nothing after its request). It is the way for connections without a
// file descriptor to watch (TLS) and for systems without epoll.
func watchByReading(conn net.Conn, s *Stream) {
	go func() {
		var b [1]byte
		for {
			if _, err := conn.Read(b[:]); err != nil {
				s.Close()
				return
			}
		}
	}()
}
