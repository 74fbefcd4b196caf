package netio

import (
	"github.com/sockactor/sockactor/winsock"
)

// The send side: Write and ShutdownSend, each its kind's (the datagram
// kinds' in datagram.go), and asyncWrite from other goroutines. A stream's
// while gnet owns it: straight to gnet, or behind what a direct write
// kept, and the half-close: the FIN sent once the queue drains (tryFin,
// waiting through the writability watch, writable.go).

// Write queues p for the peer. On a stream: straight to the socket when
// the outbound buffer is empty, else into gnet's buffer; a write error
// closes the connection (Handler.OnClose runs before Write returns). On a
// UDP socket: p is one datagram, taken whole by the kernel or refused
// (datagram.go). Loop only; p is not retained.
func (c *Conn) Write(p []byte) (int, error) { return c.t.write(c, p) }

// writeRaw is a stream's Write without TLS: what a TLS session sends goes
// through it. Loop only.
func (s *stream) writeRaw(c *Conn, p []byte) (int, error) {
	if c.closed.Load() {
		h := s.halfp.Load()
		if h == nil {
			return 0, winsock.ErrNotConn
		}
		n, err := h.write(p) // the half-open send side (docs/SEMANTICS.md §5)
		c.bytesOut += uint64(n)
		c.eng.traffic.late.Add(uint64(n)) // folded already: count it runtime-wide here
		return n, err
	}
	if c.send != sendOpen {
		return 0, winsock.ErrShutdown
	}
	if s.dw != nil {
		return s.writeBehindDirect(c, p)
	}
	return s.writeStream(c, p)
}

// writeStream hands p to gnet. Loop only.
func (s *stream) writeStream(c *Conn, p []byte) (int, error) {
	// While reads are paused, gnet's starting to buffer registers the
	// descriptor for reading again: the pause goes back at once (pause.go).
	repause := s.paused != 0 && s.gc.OutboundBuffered() == 0
	n, err := s.gc.Write(p)
	c.bytesOut += uint64(n)
	c.active = true
	if repause && !c.closed.Load() && s.gc.OutboundBuffered() > 0 {
		s.applyPause()
	}
	if err != nil {
		return n, &winsock.OpError{Op: "Send", Code: winsock.CodeOf(err, winsock.WSAECONNRESET)}
	}
	return n, nil
}

// writeBehindDirect is writeStream for a connection with a direct write
// path: under its lock, after the bytes a direct write kept (direct.go).
// Loop only.
func (s *stream) writeBehindDirect(c *Conn, p []byte) (int, error) {
	s.lockDirect()
	s.handPend(c)
	if c.closed.Load() {
		s.unlockDirect(c)
		return s.writeRaw(c, p) // handing pend over closed it: half-open, or gone
	}
	n, err := s.writeStream(c, p) // an error closes: OnClose runs with the lock held
	s.unlockDirect(c)
	return n, err
}

// asyncWrite queues p for the peer from any goroutine: it is written on the
// connection's loop with Write's checks (so after ShutdownSend it fails with
// ErrShutdown instead of reaching the socket). p is owned by the connection
// afterwards. done, if not nil, runs on the loop with Write's result.
func (c *Conn) asyncWrite(p []byte, done func(n int, err error)) error {
	if c.closed.Load() && c.halfOpen() == nil {
		return winsock.ErrNotConn
	}
	if c.sendBlocked() {
		return winsock.ErrShutdown
	}
	return c.execute(func() {
		n, err := c.Write(p) // event loop goroutine
		if done != nil {
			done(n, err)
		}
	})
}

// ShutdownSend half-closes the send side (FIN) once queued outbound bytes are
// written. Loop only. Idempotent.
func (c *Conn) ShutdownSend() error {
	if c.send != sendOpen {
		return nil
	}
	return c.t.shutdownSend(c)
}

// shutdownSend is ShutdownSend on a stream.
func (s *stream) shutdownSend(c *Conn) error {
	s.tlsCloseNotify(c) // TLS: close_notify, then the FIN (docs/SEMANTICS.md §8)
	if c.closed.Load() {
		if h := s.halfp.Load(); h != nil {
			c.setSend(finPending) // the half-open side sends it
			return h.shutdownSend()
		}
		return winsock.ErrNotConn
	}
	s.lockDirect() // a direct write in flight ends first; none starts after
	c.setSend(finPending)
	s.unlockDirect(c)
	s.tryFin(c)
	return nil
}

// tryFin sends FIN once the outbound buffer has drained; until then the
// writability watch looks again each time the socket takes bytes, and a
// peer that takes none for halfOpenFlushTimeout resets it (writable.go).
// Loop only.
func (s *stream) tryFin(c *Conn) {
	if c.closed.Load() || c.send != finPending {
		return
	}
	if s.dw != nil {
		s.lockDirect()
		s.handPend(c) // before the FIN
		s.unlockDirect(c)
		if c.closed.Load() {
			return
		}
	}
	_ = s.gc.Flush() // a write error closes the connection: checked next
	if c.closed.Load() {
		return
	}
	if s.gc.OutboundBuffered() > 0 {
		s.waitFin(c)
		return
	}
	c.setSend(finSent)
	if err := shutdownWrite(s.gc.Fd()); err != nil {
		// shutdown(SHUT_WR) fails on a connected descriptor only when the
		// circuit is gone (ENOTCONN after a reset): say so now rather than
		// leave the FIN unsent without a word.
		c.Close(ReasonPeerReset)
		return
	}
	if wt := s.waiting(c); wt != nil {
		if wt.fin != nil {
			wt.fin.Stop()
			wt.fin = nil
		}
		s.settle(c, wt)
	}
}
