package netio

import (
	"github.com/sockactor/sockactor/winsock"
)

// The send side of a stream while gnet owns it: Write (straight to gnet,
// or behind what a direct write kept), asyncWrite from other goroutines,
// and the half-close: ShutdownSend and the FIN sent once the queue drains
// (tryFin, waiting through the writability watch, writable.go).

// Write queues p for the peer: straight to the socket when the outbound
// buffer is empty, else into gnet's buffer. Loop only; p is not retained.
// A write error closes the connection (Handler.OnClose runs before Write
// returns).
func (c *Conn) Write(p []byte) (int, error) {
	if c.tls != nil {
		return c.tlsWrite(p) // encrypted, then writeRaw (tls.go)
	}
	return c.writeRaw(p)
}

// writeRaw is Write without TLS: what a TLS session sends goes through it.
// Loop only.
func (c *Conn) writeRaw(p []byte) (int, error) {
	if c.closed.Load() {
		h := c.halfOpen()
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
	if c.kind() != kindStream {
		return c.writeDatagram(p)
	}
	if c.dw != nil {
		return c.writeBehindDirect(p)
	}
	return c.writeStream(p)
}

// writeStream hands p to gnet. Loop only.
func (c *Conn) writeStream(p []byte) (int, error) {
	// While reads are paused, gnet's starting to buffer registers the
	// descriptor for reading again: the pause goes back at once (pause.go).
	repause := c.paused != 0 && c.gc.OutboundBuffered() == 0
	n, err := c.gc.Write(p)
	c.bytesOut += uint64(n)
	c.active = true
	if repause && !c.closed.Load() && c.gc.OutboundBuffered() > 0 {
		c.applyPause()
	}
	if err != nil {
		return n, &winsock.OpError{Op: "Send", Code: winsock.CodeOf(err, winsock.WSAECONNRESET)}
	}
	return n, nil
}

// writeBehindDirect is writeStream for a connection with a direct write
// path: under its lock, after the bytes a direct write kept (direct.go).
// Loop only.
func (c *Conn) writeBehindDirect(p []byte) (int, error) {
	c.lockDirect()
	c.handPend()
	if c.closed.Load() {
		c.unlockDirect()
		return c.writeRaw(p) // handing pend over closed it: half-open, or gone
	}
	n, err := c.writeStream(p) // an error closes: OnClose runs with the lock held
	c.unlockDirect()
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
	c.tlsCloseNotify() // TLS: close_notify, then the FIN (docs/SEMANTICS.md §8)
	if c.closed.Load() {
		if h := c.halfOpen(); h != nil {
			c.setSend(finPending) // the half-open side sends it
			return h.shutdownSend()
		}
		return winsock.ErrNotConn
	}
	if c.kind() != kindStream {
		c.setSend(finSent) // UDP has no FIN: later sends fail, nothing is sent
		return nil
	}
	c.lockDirect() // a direct write in flight ends first; none starts after
	c.setSend(finPending)
	c.unlockDirect()
	c.tryFin()
	return nil
}

// tryFin sends FIN once the outbound buffer has drained; until then the
// writability watch looks again each time the socket takes bytes, and a
// peer that takes none for halfOpenFlushTimeout resets it (writable.go).
// Loop only.
func (c *Conn) tryFin() {
	if c.closed.Load() || c.send != finPending {
		return
	}
	if c.dw != nil {
		c.lockDirect()
		c.handPend() // before the FIN
		c.unlockDirect()
		if c.closed.Load() {
			return
		}
	}
	_ = c.gc.Flush() // a write error closes the connection: checked next
	if c.closed.Load() {
		return
	}
	if c.gc.OutboundBuffered() > 0 {
		c.waitFin()
		return
	}
	c.setSend(finSent)
	if err := shutdownWrite(c.gc.Fd()); err != nil {
		// shutdown(SHUT_WR) fails on a connected descriptor only when the
		// circuit is gone (ENOTCONN after a reset): say so now rather than
		// leave the FIN unsent without a word.
		c.Close(ReasonPeerReset)
		return
	}
	if wt := c.waiting(); wt != nil {
		if wt.fin != nil {
			wt.fin.Stop()
			wt.fin = nil
		}
		c.settle(wt)
	}
}
