package netio

import (
	"net"
	"sync/atomic"
	"time"

	"github.com/panjf2000/gnet/v2"

	"github.com/sockactor/sockactor/internal/tlsloop"
)

// The gnet callbacks: the hot path, with a stream's read and close (a
// dialled UDP socket's are in udpdial.go). Everything in this file runs on
// an event loop goroutine (OnBoot on the engine's, OnTick on gnet's
// ticker), reports upward through Handler, and never blocks.

// gnetEvents is the gnet.EventHandler of an Engine: gnet's callbacks live on
// this unexported type so that they are not part of Engine's API. It is
// made once by NewEngine and handed to gnet.Rotate; its only state is the
// engine.
type gnetEvents struct {
	gnet.BuiltinEventEngine
	e *Engine
}

// OnBoot records the engine and the listeners' bound addresses. Goroutine:
// the engine's (Start's goroutine running gnet.Rotate).
func (g *gnetEvents) OnBoot(eng gnet.Engine) gnet.Action {
	e := g.e
	e.geng = eng
	for _, l := range e.listeners {
		l.addr = l.address
		// gnet files every TCP listener (tcp, tcp4, tcp6) under "tcp".
		if fd, err := eng.DupListener("tcp", l.address); err == nil {
			if a, err := localTCPAddr(fd); err == nil {
				l.addr = a.String()
				if !a.IP.IsUnspecified() {
					l.bound, l.boundS = a, a.String()
				}
			}
			closeFD(fd)
		}
	}
	return gnet.None
}

// OnTick runs on gnet's ticker goroutine, first right after the loops
// start: it releases Start. It asks for no further ticks in practice.
func (g *gnetEvents) OnTick() (time.Duration, gnet.Action) {
	e := g.e
	e.tickOnce.Do(func() { close(e.booted) })
	return time.Hour, gnet.None
}

// OnOpen creates the Conn and hands it to the Handler.
func (g *gnetEvents) OnOpen(gc gnet.Conn) ([]byte, gnet.Action) {
	e := g.e
	var (
		ln     *Listener
		sess   *tlsloop.Session // an established TLS session (tls.go)
		owner  any
		dialed bool
		udpFD  = -1 // a dialled UDP socket's own descriptor
	)
	switch tag := gc.Context().(type) {
	case *acceptTag:
		// Accepted by an accept goroutine (acceptor.go).
		ln, sess = tag.ln, tag.tls
	case *dialTag:
		if tag.again != nil {
			// A dialled UDP socket enrolled again (udpdial.go).
			return nil, dialedOf(tag.again).reattach(tag.again, gc)
		}
		// A dialled connection enrolled by Engine.Dial.
		sess, owner, dialed = tag.tls, tag.owner, true
		if tag.udpFD >= 0 {
			udpFD = tag.udpFD
			tag.taken.Store(true)
		}
	default:
		// gnet reports the listener's configured address as an accepted
		// connection's LocalAddr: it identifies the listener.
		ln = e.listenerFor(gc.LocalAddr())
		if ln == nil || ln == e.internal {
			return nil, gnet.Close
		}
	}
	var c *Conn
	var s *stream // nil for a dialled UDP socket
	if udpFD >= 0 {
		c = newDialedUDPConn(gc, udpFD)
	} else {
		c, s = newStreamConn(gc)
	}
	c.eng, c.ln, c.Owner, c.dialed = e, ln, owner, dialed
	c.remote = peerAddr(gc.RemoteAddr())
	if ln != nil && ln.bound != nil {
		c.local = ln.bound // one address for all its connections
	} else if a, err := localAddr(gc.Fd()); err == nil {
		c.local = a
	} else {
		c.local = gc.LocalAddr()
	}
	gc.SetContext(c)
	lt := e.traffic.opened(c, gc.EventLoop())
	if s != nil && sess != nil {
		s.startTLS(c, sess, lt)
	}
	overLimit := e.opts.MaxConns > 0 && e.open.Add(1) > int64(e.opts.MaxConns)
	if e.opts.MaxConns <= 0 {
		e.open.Add(1)
	}
	if e.announce(c, overLimit, &e.connHits) {
		return nil, gnet.Close
	}
	if e.opts.IdleTimeout > 0 {
		c.armIdle(e.opts.IdleTimeout)
	}
	if s != nil && s.tls != nil && s.paused == 0 {
		// What crypto/tls read past the handshake (the peer's first
		// records) is delivered now: no read may ever bring it.
		s.tlsRead(c, nil)
		if c.closeReq {
			return nil, gnet.Close
		}
	}
	return nil, gnet.None
}

// announce hands a new connection (or UDP peer) to Handler.OnOpen. over
// says MaxConns refuses it: it is counted in hits and its close with
// ReasonLimit is asked before OnOpen, so the layer above finds Reason() ==
// ReasonLimit there (and need keep nothing of it past OnClose); it is
// closed (RST) as OnOpen returns. A close asked during OnOpen happens as it
// returns too: announce reports whether the caller must close now. Loop
// only.
func (e *Engine) announce(c *Conn, over bool, hits *atomic.Uint64) (closeNow bool) {
	c.inTraffic = true
	if over {
		hits.Add(1)
		c.Close(ReasonLimit)
	}
	e.h.OnOpen(c)
	c.inTraffic = false
	return c.closeReq
}

// OnTraffic is the read path: the hot path of the runtime. gnet polls
// streams and dialled UDP sockets; each kind reads in its own way
// (onTraffic).
func (g *gnetEvents) OnTraffic(gc gnet.Conn) gnet.Action {
	e := g.e
	c := gc.Context().(*Conn)
	if e.traffic.waking.Load() != 0 {
		// Work woken for this loop runs before this read (wake.go).
		e.runWakes(c, gc)
	}
	return c.t.onTraffic(c, gc)
}

// onTraffic is a stream's read: the bytes gnet read go to the Handler,
// through the TLS session if there is one, unless reads are paused or the
// receive ban is in force.
func (s *stream) onTraffic(c *Conn, gc gnet.Conn) gnet.Action {
	if s.paused != 0 && !c.recvShut {
		// A read while paused (gnet set EPOLLIN again for a write of its
		// own): the bytes stay in gnet's buffer until the resume (pause.go).
		s.applyPause()
		return gnet.None
	}
	buf, _ := gc.Next(-1)
	c.active = true
	if s.tls != nil {
		// TLS: decrypted here, on the loop; the ban applies to the
		// plaintext (tlsDeliver).
		s.tlsRead(c, buf)
		if c.closeReq {
			return gnet.Close
		}
		return gnet.None
	}
	c.bytesIn += uint64(len(buf))
	if c.recvShut {
		// The receive ban (docs/SEMANTICS.md §3.4): enforced here, on the loop that
		// owns the connection, with one branch per read.
		if c.policy.resets() {
			c.reason = ReasonRecvBan
			_ = gc.SetLinger(0)
			return gnet.Close
		}
		c.addBanned(uint64(len(buf)))
		return gnet.None
	}
	return c.deliver(buf)
}

// deliver hands what a read brought to Handler.OnData; a close asked
// inside it happens as the read callback returns. Loop only (OnTraffic).
func (c *Conn) deliver(buf []byte) gnet.Action {
	c.inTraffic = true
	c.eng.h.OnData(c, buf)
	c.inTraffic = false
	if c.closeReq {
		return gnet.Close
	}
	return gnet.None
}

// OnClose classifies the close and reports it exactly once, as the
// Conn's kind does (onClose).
func (g *gnetEvents) OnClose(gc gnet.Conn, err error) gnet.Action {
	c, ok := gc.Context().(*Conn)
	if !ok || c.closed.Load() {
		return gnet.None
	}
	return c.t.onClose(c, gc, err)
}

// onClose is a stream's OnClose: the reason found, what gnet and the
// direct path still hold kept (a half-open send side after the peer's FIN,
// a background flush after a graceful close) or counted as dropped, and
// the close reported.
func (s *stream) onClose(c *Conn, gc gnet.Conn, err error) gnet.Action {
	e := c.eng
	r := c.reason
	if r == ReasonNone {
		if err == nil && e.stopping.Load() {
			r = ReasonShutdown
		} else {
			r = closeCauseOf(err)
			if r == ReasonPeerClose && resetPending(gc.Fd(), c.send == finSent) {
				// gnet says io.EOF also when epoll reports an error or a
				// hang-up without readable data: the socket knows better.
				r = ReasonPeerReset
			}
		}
		c.reason = r
	}
	if s.paused != 0 {
		if r == ReasonPeerClose {
			s.heldAtClose(c) // the peer's last bytes before its FIN, then the close
			if c.reason != r && c.reason != ReasonNone {
				r = c.reason // a TLS stream found broken, or banned bytes, among them
			}
		} else {
			n := gc.InboundBuffered() // read while paused, never delivered
			if r == ReasonLocalClose || r == ReasonShutdown {
				// A graceful close: what the kernel still holds unread
				// would make it send RST instead of FIN, and the peer
				// would lose what it was sent.
				n += discardUnread(gc.Fd())
			}
			if n > 0 && !c.recvShut {
				e.recvDropped.Add(uint64(n))
			}
		}
	}
	if r == ReasonPeerClose && s.tls != nil && !s.tls.s.CloseNotified() {
		// A FIN without close_notify: the peer's data may have been cut
		// short by someone in between (docs/SEMANTICS.md §8).
		r = ReasonTruncated
		c.reason = r
	}
	if r == ReasonShutdown && s.tls != nil && !e.abortive.Load() {
		s.tlsCloseNotify(c) // a graceful shutdown closes TLS as Close does
	}
	// No direct write runs from here on, and what one kept for the loop
	// goes out after gnet's buffer (direct.go).
	pend := s.closeDirect()
	s.unwatch(c) // out of the writability watch before gnet closes the descriptor
	switch {
	case r == ReasonPeerClose:
		s.keepSendSide(c, pend)
	case r == ReasonShutdown && e.abortive.Load():
		e.sendDropped.Add(uint64(gc.OutboundBuffered() + len(pend)))
		_ = gc.SetLinger(0) // Runtime.Close: RST, nothing waits on the peer
	case r == ReasonLocalClose || r == ReasonShutdown:
		e.flushInBackground(gc, pend)
	default: // abortive: what gnet still holds is dropped with the connection
		e.sendDropped.Add(uint64(gc.OutboundBuffered() + len(pend)))
	}
	c.closed.Store(true)
	e.traffic.closedConn(c, gc.EventLoop()) // later writes (half-open) count in traffic.late
	if s.halfp.Load() == nil {
		e.open.Add(-1) // a half-open connection holds its descriptor: it counts until closed
	}
	if c.idle != nil {
		c.idle.Stop()
	}
	e.h.OnClose(c, r)
	return gnet.None
}

// listenerFor finds the listener whose configured address gnet reports as
// an accepted connection's local address. gnet hands every connection of
// a listener the same address value, so once a listener has been found by
// the address's string it is known by that value's identity, and an
// accept formats no string. Loop goroutine; it reads immutable listener
// fields and gnetAddr.
func (e *Engine) listenerFor(a net.Addr) *Listener {
	if a == nil {
		return nil
	}
	for _, l := range e.listeners {
		if p := l.gnetAddr.Load(); p != nil && sameAddrValue(*p, a) {
			return l
		}
	}
	key := a.String()
	for _, l := range e.listeners {
		if l.cfgKey == key || l.addr == key {
			p := new(net.Addr) // not &a: a would then escape on every call
			*p = a
			l.gnetAddr.Store(p)
			return l
		}
	}
	return nil
}

// sameAddrValue reports whether x and y are the same address value: one
// *net.TCPAddr or *net.UnixAddr (the kinds gnet reports for streams).
func sameAddrValue(x, y net.Addr) bool {
	switch x := x.(type) {
	case *net.TCPAddr:
		y, ok := y.(*net.TCPAddr)
		return ok && x == y
	case *net.UnixAddr:
		y, ok := y.(*net.UnixAddr)
		return ok && x == y
	}
	return false
}
