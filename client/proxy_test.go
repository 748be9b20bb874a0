package client_test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"sync"
	"testing"
	"time"
)

// faultProxy is a TCP proxy in front of a real app that can fail the way networks and load
// balancers do: cut the open connections, hold new ones, go silent, answer a connection
// itself (a 503 with Retry-After, a 204) instead of passing it on, or refuse connections
// and take them again for another app (a restart in place).
type faultProxy struct {
	t        *testing.T
	mu       sync.Mutex
	ln       net.Listener
	target   string            // host:port of the app
	open     map[net.Conn]bool // both ends of every proxied connection
	hold     chan struct{}     // while not nil, new connections wait for it to close
	silenced map[net.Conn]bool // connections that stopped passing bytes on
	answers  []string          // raw HTTP responses for the next connections, in turn
	accepted []time.Time       // when each connection came in
}

func newFaultProxy(t *testing.T, appURL string) *faultProxy {
	t.Helper()
	u, err := url.Parse(appURL)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &faultProxy{t: t, ln: ln, target: u.Host, open: map[net.Conn]bool{}, silenced: map[net.Conn]bool{}}
	go p.serve(ln)
	t.Cleanup(func() {
		p.mu.Lock()
		p.ln.Close()
		p.mu.Unlock()
		p.release()
		p.cut()
	})
	return p
}

// URL is the proxy's base URL.
func (p *faultProxy) URL() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return "http://" + p.ln.Addr().String()
}

func (p *faultProxy) serve(ln net.Listener) {
	for {
		conn, err := ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		p.accepted = append(p.accepted, time.Now())
		hold := p.hold
		p.open[conn] = true
		p.mu.Unlock()
		go p.handle(conn, hold)
	}
}

func (p *faultProxy) handle(conn net.Conn, hold chan struct{}) {
	if hold != nil {
		<-hold
	}
	p.mu.Lock()
	var answer string
	if len(p.answers) > 0 {
		answer, p.answers = p.answers[0], p.answers[1:]
	}
	target := p.target
	p.mu.Unlock()
	if answer != "" {
		defer p.drop(conn)
		// Read the request head, so the client sees the answer rather than a reset.
		r := bufio.NewReader(conn)
		if _, err := http.ReadRequest(r); err == nil {
			_, _ = io.WriteString(conn, answer)
		}
		return
	}
	up, err := net.Dial("tcp", target)
	if err != nil {
		p.drop(conn)
		return
	}
	p.mu.Lock()
	p.open[up] = true
	p.mu.Unlock()
	go p.pipe(up, conn)
	p.pipe(conn, up)
}

// pipe copies from src to dst until either ends, dropping what comes while silent.
func (p *faultProxy) pipe(dst, src net.Conn) {
	defer p.drop(src)
	defer p.drop(dst)
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			p.mu.Lock()
			silent := p.silenced[src] || p.silenced[dst]
			p.mu.Unlock()
			if !silent {
				if _, werr := dst.Write(buf[:n]); werr != nil {
					return
				}
			}
		}
		if err != nil {
			return
		}
	}
}

func (p *faultProxy) drop(c net.Conn) {
	c.Close()
	p.mu.Lock()
	delete(p.open, c)
	delete(p.silenced, c)
	p.mu.Unlock()
}

// cut closes every open connection, as a network failure would.
func (p *faultProxy) cut() {
	p.mu.Lock()
	conns := make([]net.Conn, 0, len(p.open))
	for c := range p.open {
		conns = append(conns, c)
	}
	p.mu.Unlock()
	for _, c := range conns {
		p.drop(c)
	}
}

// holdNew makes new connections wait until release (before any answerNext applies).
func (p *faultProxy) holdNew() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.hold == nil {
		p.hold = make(chan struct{})
	}
}

// release lets held connections through.
func (p *faultProxy) release() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.hold != nil {
		close(p.hold)
		p.hold = nil
	}
}

// silence stops the open connections passing bytes on, without closing them: a half-open
// connection, or a stuck proxy. Later connections pass bytes as usual.
func (p *faultProxy) silence() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for c := range p.open {
		p.silenced[c] = true
	}
}

// answerNext makes the proxy answer the next connection itself with status, headers and
// a JSON envelope body (none for a 204).
func (p *faultProxy) answerNext(status int, header string) {
	body := ""
	if status != http.StatusNoContent {
		body = fmt.Sprintf(`{"code":%d,"message":"proxy says %d"}`, status, status)
	}
	p.answerRaw(fmt.Sprintf("HTTP/1.1 %d %s\r\n%sContent-Type: application/json\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s",
		status, http.StatusText(status), header, len(body), body))
}

// answerRaw makes the proxy answer the next connection itself with raw, a whole response.
func (p *faultProxy) answerRaw(raw string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.answers = append(p.answers, raw)
}

// stopListening closes the listener, so that new connections are refused, and leaves the
// open ones be: a process that stops while it finishes the requests it has.
func (p *faultProxy) stopListening() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.ln.Close()
}

// forgetAnswers drops the answers answerNext and answerRaw left for connections to come.
func (p *faultProxy) forgetAnswers() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.answers = nil
}

// refuse closes the listener and every open connection: the service is gone.
func (p *faultProxy) refuse() {
	p.stopListening()
	p.cut()
}

// listenAgain listens at the same address again, passing connections on to the app at
// appURL: the service restarted in place.
func (p *faultProxy) listenAgain(appURL string) {
	p.t.Helper()
	u, err := url.Parse(appURL)
	if err != nil {
		p.t.Fatal(err)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	ln, err := net.Listen("tcp", p.ln.Addr().String())
	if err != nil {
		p.t.Fatal(err)
	}
	p.ln, p.target = ln, u.Host
	go p.serve(ln)
}

// connections returns when each connection so far came in.
func (p *faultProxy) connections() []time.Time {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]time.Time(nil), p.accepted...)
}
