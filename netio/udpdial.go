package netio

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"syscall"
	"time"

	"github.com/panjf2000/gnet/v2"
	"golang.org/x/sys/unix"

	"github.com/sockactor/sockactor/winsock"
)

// Dialled UDP sockets: a connected UDP socket enrolled on a loop of the main
// engine, like a dialled TCP connection (docs/SEMANTICS.md §6).
//
// gnet treats an enrolled UDP socket as a stream: an ICMP error (EPOLLERR,
// or a read failing with ECONNREFUSED) and a zero-length datagram (a read of
// 0 bytes) make it close the connection. A connected Winsock UDP socket
// survives both: the ICMP report is the error of the next operation, and an
// empty datagram is a datagram. So the Conn keeps a descriptor of its own
// (dgram.fd, a dup taken at dial) that outlives gnet's: when gnet drops its
// registration unasked, OnClose records the error instead of reporting a
// close, and the socket is enrolled again from that descriptor. Sends go
// straight to dgram.fd, so they work while the enrolment is under way.

// lostRegistration handles OnClose for a dialled UDP socket that nobody
// closed: it keeps the socket and enrolls it again. It reports false when
// the socket must close after all. Loop goroutine (OnClose), while gnet's
// descriptor is still open.
func (e *Engine) lostRegistration(c *Conn, err error) bool {
	d := c.dg
	soErr, _ := unix.GetsockoptInt(d.fd, unix.SOL_SOCKET, unix.SO_ERROR)
	var errno syscall.Errno
	switch {
	case soErr != 0:
		d.pending = winsock.CodeOf(syscall.Errno(soErr), winsock.WSAECONNREFUSED)
	case errors.As(err, &errno):
		d.pending = winsock.CodeOf(errno, winsock.WSAECONNREFUSED)
	}
	if !e.reenroll(c) {
		return false
	}
	var se *os.SyscallError
	if errors.As(err, &se) && errors.Is(se.Err, io.EOF) && soErr == 0 {
		// gnet read 0 bytes: an empty datagram arrived.
		if !c.recvShut {
			c.inTraffic = true
			e.h.OnData(c, nil)
			c.inTraffic = false
			if c.closeReq {
				c.closeReq = false
				c.closeDetached()
			}
		}
	}
	return true
}

// reenroll registers c's own descriptor with its loop again. Loop goroutine.
func (e *Engine) reenroll(c *Conn) bool {
	nfd, err := unix.FcntlInt(uintptr(c.dg.fd), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		return false
	}
	f := os.NewFile(uintptr(nfd), "udp")
	nc, err := net.FileConn(f)
	_ = f.Close()
	if err != nil {
		return false
	}
	// Under halfMu with Stop's waitEnrolments: either Stop waits for this
	// enrolment, or this sees stopping and the socket closes instead.
	e.halfMu.Lock()
	if e.stopping.Load() {
		e.halfMu.Unlock()
		_ = nc.Close()
		return false
	}
	if e.detached == nil {
		e.detached = map[*Conn]struct{}{}
	}
	e.detached[c] = struct{}{}
	e.halfMu.Unlock()
	c.dg.detached = true
	// gnet dups nc's descriptor on a worker and closes nc; OnOpen sees the
	// tag and reattaches c. If the engine is stopping, Stop ends c.
	gctx := gnet.NewNetConnContext(gnet.NewContext(context.Background(), &dialTag{again: c}), nc)
	if _, err := c.dg.loop.Enroll(gctx, nc); err != nil {
		_ = nc.Close()
	}
	return true
}

// reattach completes a re-enrolment: gc is c's new gnet connection.
// Loop goroutine (OnOpen).
func (e *Engine) reattach(c *Conn, gc gnet.Conn) gnet.Action {
	e.halfMu.Lock()
	delete(e.detached, c)
	e.halfMu.Unlock()
	if c.closed.Load() {
		return gnet.Close // closed while detached: drop gnet's copy
	}
	c.gc = gc
	c.dg.detached = false
	gc.SetContext(c)
	return gnet.None
}

// closeDetached closes a dialled UDP socket that gnet does not hold now (or
// after the engine stopped). Loop goroutine, or the stop helper.
func (c *Conn) closeDetached() {
	if c.closed.Load() {
		return
	}
	e := c.eng
	c.closed.Store(true)
	e.traffic.closedConn(c, c.dg.loop)
	e.open.Add(-1)
	if c.idle != nil {
		c.idle.Stop()
	}
	_ = unix.Close(c.dg.fd)
	e.h.OnClose(c, c.reason)
}

// closeDetachedAll ends the dialled UDP sockets still waiting for an
// enrolment when the engine stopped. Goroutine: the stop helper, after
// every loop has returned.
func (e *Engine) closeDetachedAll() {
	e.halfMu.Lock()
	cs := make([]*Conn, 0, len(e.detached))
	for c := range e.detached {
		cs = append(cs, c)
	}
	e.detached = nil
	e.halfMu.Unlock()
	for _, c := range cs {
		if c.reason == ReasonNone {
			c.reason = ReasonShutdown
		}
		c.closeDetached()
	}
}

// waitEnrolments waits (at most a second, or until ctx ends) until no
// dialled UDP socket is between two enrolments. Stopping is set, so none
// starts now. Goroutine: Stop's.
func (e *Engine) waitEnrolments(ctx context.Context) {
	deadline := time.Now().Add(time.Second)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		e.halfMu.Lock()
		n := len(e.detached)
		e.halfMu.Unlock()
		if n == 0 {
			return
		}
		time.Sleep(time.Millisecond)
	}
}
