package sse

import (
	"net"
	"sync"
	"syscall"
)

// hangups notices clients closing hijacked connections, for all streams at once: one
// epoll set and one goroutine, instead of a goroutine per stream parked in Read.
type hangups struct {
	epfd int
	wake [2]int // a pipe whose read end is in the set: a byte on it stops the loop

	mu      sync.Mutex
	streams map[int32]*Stream // by the id the epoll set carries
	next    int32
	stopped bool
}

func newHangups() (*hangups, error) {
	epfd, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
	if err != nil {
		return nil, err
	}
	h := &hangups{epfd: epfd, streams: make(map[int32]*Stream)}
	if err := syscall.Pipe2(h.wake[:], syscall.O_CLOEXEC|syscall.O_NONBLOCK); err != nil {
		syscall.Close(epfd)
		return nil, err
	}
	ev := syscall.EpollEvent{Events: syscall.EPOLLIN, Fd: 0} // id 0: the wake pipe
	if err := syscall.EpollCtl(epfd, syscall.EPOLL_CTL_ADD, h.wake[0], &ev); err != nil {
		h.closeFDs()
		return nil, err
	}
	go h.loop()
	return h, nil
}

// watch closes s when the client hangs up conn. It returns the function that stops
// watching, to be called before conn is closed.
func (h *hangups) watch(conn net.Conn, s *Stream) (func(), error) {
	tcp := conn
	if tlsConn, ok := conn.(interface{ NetConn() net.Conn }); ok {
		tcp = tlsConn.NetConn() // a hangup shows on the TCP connection underneath
	}
	sc, ok := tcp.(syscall.Conn)
	if !ok {
		watchByReading(conn, s)
		return func() {}, nil
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return nil, err
	}
	h.mu.Lock()
	if h.stopped {
		h.mu.Unlock()
		return nil, net.ErrClosed
	}
	id := h.newIDLocked()
	h.streams[id] = s
	h.mu.Unlock()

	ev := syscall.EpollEvent{Events: syscall.EPOLLRDHUP | syscall.EPOLLONESHOT, Fd: id}
	var ctlErr error
	if err := raw.Control(func(fd uintptr) {
		ctlErr = syscall.EpollCtl(h.epfd, syscall.EPOLL_CTL_ADD, int(fd), &ev)
	}); err != nil {
		ctlErr = err
	}
	unwatch := func() {
		// The connection may already be closed, which took it out of the set.
		_ = raw.Control(func(fd uintptr) { _ = syscall.EpollCtl(h.epfd, syscall.EPOLL_CTL_DEL, int(fd), nil) })
		h.mu.Lock()
		delete(h.streams, id)
		h.mu.Unlock()
	}
	if ctlErr != nil {
		unwatch()
		return nil, ctlErr
	}
	return unwatch, nil
}

func (h *hangups) newIDLocked() int32 {
	for {
		h.next++
		if h.next <= 0 {
			h.next = 1 // wrapped; 0 is the wake pipe
		}
		if _, taken := h.streams[h.next]; !taken {
			return h.next
		}
	}
}

func (h *hangups) loop() {
	defer h.closeFDs()
	events := make([]syscall.EpollEvent, 128)
	for {
		n, err := syscall.EpollWait(h.epfd, events, -1)
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			return
		}
		for _, ev := range events[:n] {
			if ev.Fd == 0 {
				return
			}
			h.mu.Lock()
			s := h.streams[ev.Fd]
			h.mu.Unlock()
			if s != nil {
				s.Close()
			}
		}
	}
}

// stop ends the loop; streams still watched are no longer noticed.
func (h *hangups) stop() {
	h.mu.Lock()
	defer h.mu.Unlock()
	if !h.stopped {
		h.stopped = true
		_, _ = syscall.Write(h.wake[1], []byte{0})
	}
}

func (h *hangups) closeFDs() {
	syscall.Close(h.wake[0])
	syscall.Close(h.wake[1])
	syscall.Close(h.epfd)
}
