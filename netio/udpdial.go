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
// (dialedUDP.fd, a dup taken at dial) that outlives gnet's: when gnet drops
// its registration unasked, OnClose records the error instead of reporting
// a close, and the socket is enrolled again from that descriptor. Sends go
// straight to dialedUDP.fd, so they work while the enrolment is under way.

// dialedUDP is the transport part of a dialled UDP socket. Fields belong
// to the Conn's loop unless noted.
type dialedUDP struct {
	gc       gnet.Conn      // gnet's current connection of the socket; stale while detached
	el       gnet.EventLoop // immutable: the loop that owns the Conn (every enrolment's)
	fd       int            // immutable: our own descriptor of the socket
	pending  winsock.Code   // an asynchronous error (an ICMP report) for the next operation
	detached bool           // gnet dropped its registration; re-enrolling
}

// dialedOf returns c's dialled-UDP part. The callers hold only dialled UDP
// sockets (a re-enrolment's tag, Engine.detached).
func dialedOf(c *Conn) *dialedUDP { return c.t.(*dialedUDP) }

// loop returns the socket's loop, which stays the same across enrolments.
func (d *dialedUDP) loop() gnet.EventLoop { return d.el }

// write sends p as one datagram on the socket's own descriptor, so a send
// works while an enrolment is under way.
func (d *dialedUDP) write(c *Conn, p []byte) (int, error) {
	if err := c.datagramCheck(p); err != nil {
		return 0, err
	}
	_, err := unix.Write(d.fd, p)
	return c.datagramSent(len(p), err)
}

// shutdownSend: UDP has no FIN (shutdownDatagram).
func (*dialedUDP) shutdownSend(c *Conn) error { return c.shutdownDatagram() }

// close closes the socket through gnet, or itself while detached; inside
// a read callback, as the callback returns.
func (d *dialedUDP) close(c *Conn, r Reason) {
	if !c.beginClose(r) {
		return
	}
	if c.inTraffic {
		c.closeReq = true
		return
	}
	if d.detached {
		d.closeDetached(c)
		return
	}
	_ = d.gc.EventLoop().Close(d.gc)
}

// shutdownRecv has nothing to do: gnet's buffer holds no datagram between
// two reads, and what the layer above queued it drops itself, never with a
// reset (docs/SEMANTICS.md §6).
func (*dialedUDP) shutdownRecv(*Conn, int) {}

// outboundBuffered is 0: a datagram is sent whole or refused, never queued.
func (*dialedUDP) outboundBuffered() int { return 0 }

// maxDatagram is the largest UDP payload to the remote address's family.
func (*dialedUDP) maxDatagram(c *Conn) int { return maxUDPPayload(c.remote) }

// takeError returns and clears the error an ICMP report left.
func (d *dialedUDP) takeError() winsock.Code {
	code := d.pending
	d.pending = winsock.OK
	return code
}

// onTraffic is the read path of a dialled UDP socket: as a stream's
// without pauses or TLS, and the ban drops what arrives (UDP is never
// reset, docs/SEMANTICS.md §6).
func (d *dialedUDP) onTraffic(c *Conn, gc gnet.Conn) gnet.Action {
	buf, _ := gc.Next(-1)
	c.active = true
	c.bytesIn += uint64(len(buf))
	if c.recvShut {
		c.addBanned(uint64(len(buf)))
		return gnet.None
	}
	return c.deliver(buf)
}

// onClose is OnClose for a dialled UDP socket: a close nobody asked for
// keeps the socket (lostRegistration); otherwise it is reported, and the
// socket's own descriptor closed. No send side outlives it.
func (d *dialedUDP) onClose(c *Conn, gc gnet.Conn, err error) gnet.Action {
	e := c.eng
	if c.reason == ReasonNone && !e.stopping.Load() && d.lostRegistration(c, err) {
		return gnet.None
	}
	if c.reason == ReasonNone {
		c.reason = ReasonShutdown
		if !e.stopping.Load() {
			c.reason = ReasonPeerReset // it could not be kept
		}
	}
	c.closed.Store(true)
	e.traffic.closedConn(c, gc.EventLoop())
	e.open.Add(-1)
	if c.idle != nil {
		c.idle.Stop()
	}
	_ = unix.Close(d.fd)
	e.h.OnClose(c, c.reason)
	return gnet.None
}

// lostRegistration handles OnClose for a dialled UDP socket that nobody
// closed: it keeps the socket and enrolls it again. It reports false when
// the socket must close after all. Loop goroutine (OnClose), while gnet's
// descriptor is still open.
func (d *dialedUDP) lostRegistration(c *Conn, err error) bool {
	soErr, _ := unix.GetsockoptInt(d.fd, unix.SOL_SOCKET, unix.SO_ERROR)
	var errno syscall.Errno
	switch {
	case soErr != 0:
		d.pending = winsock.CodeOf(syscall.Errno(soErr), winsock.WSAECONNREFUSED)
	case errors.As(err, &errno):
		d.pending = winsock.CodeOf(errno, winsock.WSAECONNREFUSED)
	}
	if !d.reenroll(c) {
		return false
	}
	var se *os.SyscallError
	if errors.As(err, &se) && errors.Is(se.Err, io.EOF) && soErr == 0 {
		// gnet read 0 bytes: an empty datagram arrived.
		if !c.recvShut {
			c.inTraffic = true
			c.eng.h.OnData(c, nil)
			c.inTraffic = false
			if c.closeReq {
				c.closeReq = false
				d.closeDetached(c)
			}
		}
	}
	return true
}

// reenroll registers c's own descriptor with its loop again. Loop goroutine.
func (d *dialedUDP) reenroll(c *Conn) bool {
	e := c.eng
	nfd, err := unix.FcntlInt(uintptr(d.fd), unix.F_DUPFD_CLOEXEC, 0)
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
	d.detached = true
	// gnet dups nc's descriptor on a worker and closes nc; OnOpen sees the
	// tag and reattaches c. If the engine is stopping, Stop ends c.
	gctx := gnet.NewNetConnContext(gnet.NewContext(context.Background(), &dialTag{again: c}), nc)
	if _, err := d.el.Enroll(gctx, nc); err != nil {
		_ = nc.Close()
	}
	return true
}

// reattach completes a re-enrolment: gc is c's new gnet connection.
// Loop goroutine (OnOpen).
func (d *dialedUDP) reattach(c *Conn, gc gnet.Conn) gnet.Action {
	e := c.eng
	e.halfMu.Lock()
	delete(e.detached, c)
	e.halfMu.Unlock()
	if c.closed.Load() {
		return gnet.Close // closed while detached: drop gnet's copy
	}
	d.gc = gc
	d.detached = false
	gc.SetContext(c)
	return gnet.None
}

// closeDetached closes a dialled UDP socket that gnet does not hold now (or
// after the engine stopped). Loop goroutine, or the stop helper.
func (d *dialedUDP) closeDetached(c *Conn) {
	if c.closed.Load() {
		return
	}
	e := c.eng
	c.closed.Store(true)
	e.traffic.closedConn(c, d.el)
	e.open.Add(-1)
	if c.idle != nil {
		c.idle.Stop()
	}
	_ = unix.Close(d.fd)
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
		dialedOf(c).closeDetached(c)
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
