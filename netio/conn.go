package netio

import (
	"context"
	"net"
	"sync/atomic"
	"time"

	"github.com/panjf2000/gnet/v2"

	"github.com/sockactor/sockactor/winsock"
)

// Conn is one socket on a gnet event loop: the transport half of a socket
// actor. It is one of three kinds, fixed when it is made (connKind, read
// with kind):
//
//   - kindStream: a TCP or unix stream connection, accepted by a Listener
//     or dialled (Engine.Dial). gnet owns its descriptor (gc) until
//     OnClose. After the peer's FIN its send side can outlive gnet's
//     descriptor as a half-open side (halfp, halfopen.go), on which Write,
//     ShutdownSend and Close still act. A stream whose writer is off the
//     loop (a pooled handler) may have a direct write path (dw, direct.go).
//   - kindPeer: one remote address of a UDP listener. It has no gnet
//     connection of its own (gc is nil): its datagrams arrive on the
//     listener's descriptor, and it lives in that descriptor's peer table
//     (dg.tbl, udppeers.go) until it is closed or idles out.
//   - kindDialedUDP: a dialled (connected) UDP socket. gnet polls it (gc),
//     and it keeps a descriptor of its own (dg.fd) so that it survives gnet
//     dropping the registration on an ICMP error (udpdial.go); between two
//     enrolments it is detached (dg.detached) and gc is stale.
//
// The two UDP kinds have a datagram part (dg, udp.go); a stream has none.
//
// Ownership: every field without a note is owned by the connection's event
// loop goroutine and may be read or written only from a Handler callback or
// from a function passed to Wake (or the unexported execute). Fields noted
// "immutable" are set before Handler.OnOpen and never change; fields noted
// "atomic" may be read anywhere. Each exported method says which goroutine
// may call it.
type Conn struct {
	gc  gnet.Conn // the gnet connection; its I/O methods are not used after closed is set
	ln  *Listener // immutable; nil for a dialled connection
	eng *Engine   // immutable

	// Owner is the upper layer's record for this connection (the socket
	// actor). Set once in Handler.OnOpen (before it, for a dialled
	// connection: the owner given to Dial), immutable afterwards.
	Owner any

	// local and remote are immutable, captured at open. remote is gnet's
	// own address value; local is shared with the listener when it is
	// bound to one address, so neither costs memory per connection.
	local, remote net.Addr

	bytesIn, bytesOut uint64
	banned            atomic.Uint64 // atomic: pooled handlers add bytes they drop

	recvShut  bool
	send      sendState // the send side; changed only by setSend
	policy    BanPolicy
	closed    atomic.Bool // atomic: set on the loop in OnClose
	sendDown  atomic.Bool // atomic: send != sendOpen, for writers off the loop
	paused    uint8       // PauseSource bits: reads are paused while non-zero (pause.go)
	inTraffic bool        // inside OnTraffic: closes are deferred to its return value
	closeReq  bool        // a close was asked while inTraffic
	reason    Reason      // why this side is closing; ReasonNone until then
	dialed    bool        // immutable: enrolled by Dial
	kindOf    connKind    // immutable: which kind of Conn (see Conn)
	active    bool        // a byte moved since the idle timer last looked
	slot      int32       // loop: index in its loop's live list (traffic.go); -1 once closed
	idle      *time.Timer // idle timeout timer (nil when disabled)

	// halfp is the send side that outlives gnet's descriptor after the
	// peer's FIN (set in OnClose before closed, never cleared): Write,
	// ShutdownSend and Close act on it once closed is set. Atomic, so
	// SendCode can read it off the loop; on the loop the load is as cheap
	// as a plain field's, and one pointer keeps Conn small.
	halfp atomic.Pointer[halfOpen]

	// dg is the datagram side of a UDP socket (udp.go), nil for a stream.
	// Immutable pointer; its fields belong to the loop. A UDP peer of a
	// listener has no gc at all.
	dg *dgram

	// dw is the direct write path of a stream whose writer is off the loop
	// (direct.go), nil unless EnableDirectWrite was called. Immutable
	// pointer; its fields say who owns them.
	dw *direct

	// tls is the TLS session of a tls:// stream (tls.go), nil otherwise.
	// Set in OnOpen before the Handler sees c, immutable afterwards; its
	// fields belong to the loop.
	tls *tlsConn
}

// connKind tells the kinds of Conn apart (see Conn).
type connKind uint8

const (
	kindStream    connKind = iota // a TCP or unix stream connection
	kindPeer                      // a UDP listener's peer: no gnet connection
	kindDialedUDP                 // a dialled UDP socket with its own descriptor
)

// kind returns c's kind. Any goroutine (immutable).
func (c *Conn) kind() connKind { return c.kindOf }

// sendState is the send side of a connection while gnet owns it (a
// half-open connection's send side is its halfOpen's). It only moves
// forward: open → FIN pending (SendDisconnect waits for the outbound buffer
// to drain) → FIN sent.
type sendState uint8

const (
	sendOpen   sendState = iota
	finPending           // ShutdownSend asked; FIN goes out once the buffer drains
	finSent              // shutdown(SHUT_WR) done
)

// setSend moves the send side to st and publishes it to sendBlocked's readers.
// Loop only.
func (c *Conn) setSend(st sendState) {
	c.send = st
	c.sendDown.Store(st != sendOpen)
}

// Dialed returns the owner passed to Engine.Dial for a dialled connection,
// nil for an accepted one. Safe from any goroutine.
func (c *Conn) Dialed() any {
	if c.dialed {
		return c.Owner
	}
	return nil
}

// OutboundBuffered returns the bytes accepted for sending and not yet
// handed to the kernel: gnet's outbound buffer, or a half-open
// connection's queue (0 once fully closed). Loop only.
func (c *Conn) OutboundBuffered() int {
	if c.closed.Load() {
		if h := c.halfOpen(); h != nil {
			return h.buffered()
		}
		return 0
	}
	if c.kind() != kindStream {
		return 0 // a datagram is sent whole or refused, never queued
	}
	return c.gc.OutboundBuffered()
}

// HalfOpenQueued returns the bytes a half-open send side still holds for
// the peer (0 while gnet owns the connection, or once fully closed). Safe
// from any goroutine.
func (c *Conn) HalfOpenQueued() int {
	if h := c.halfOpen(); h != nil {
		return h.buffered()
	}
	return 0
}

// isHalfOpen reports whether the connection is closed for receiving by the
// peer's FIN but its send side is still usable (docs/SEMANTICS.md §5).
// Loop only.
func (c *Conn) isHalfOpen() bool {
	return c.closed.Load() && c.halfOpen() != nil && c.SendCode() == winsock.OK
}

// writable reports whether Write can still take bytes: open and not shut
// down for sending, or half-open. Safe from any goroutine.
func (c *Conn) writable() bool { return c.SendCode() == winsock.OK }

// armIdle starts the idle timer. Loop only.
func (c *Conn) armIdle(d time.Duration) {
	c.idle = time.AfterFunc(d, func() {
		// Timer goroutine: look on the loop.
		_ = c.execute(func() {
			if c.closed.Load() {
				return
			}
			if c.wroteDirect() || c.paused != 0 {
				// Paused reads hold the peer up: it is waiting on us,
				// not idle.
				c.active = true
			}
			if !c.active {
				c.Close(ReasonTimeout)
				return
			}
			c.active = false
			c.idle.Reset(d)
		})
	})
}

// Listener returns the listener that accepted c (nil for dialled
// connections). Safe from any goroutine.
func (c *Conn) Listener() *Listener { return c.ln }

// LocalAddr and RemoteAddr return the addresses captured at open.
// Safe from any goroutine.
func (c *Conn) LocalAddr() string {
	if c.ln != nil && c.ln.bound != nil && c.local == c.ln.bound {
		return c.ln.boundS // shared with the listener: no string per call
	}
	return addrString(c.local)
}

// RemoteAddr returns the peer's address. Safe from any goroutine.
func (c *Conn) RemoteAddr() string { return addrString(c.remote) }

func addrString(a net.Addr) string {
	if a == nil {
		return ""
	}
	return a.String()
}

// Closed reports whether the connection has closed. Safe from any goroutine.
func (c *Conn) Closed() bool { return c.closed.Load() }

// SendShut reports whether FIN has been sent (SendDisconnect completed).
// Loop only.
func (c *Conn) SendShut() bool {
	if h := c.halfOpen(); h != nil && h.finSent() {
		return true
	}
	return c.send == finSent
}

// Reason returns why the connection closed (ReasonNone while open, or the
// reason of a close in progress). Loop only.
func (c *Conn) Reason() Reason { return c.reason }

// sendBlocked reports whether the send side takes no more bytes (SendCode is
// not OK), so writers off the loop can fail fast. Safe from any goroutine.
func (c *Conn) sendBlocked() bool { return c.SendCode() != winsock.OK }

// SendCode says whether a Send can be accepted now: OK, ErrShutdown after
// ShutdownSend, the error that ended a half-open send side (a reset), or
// ErrNotConn once the connection is gone. Safe from any goroutine.
func (c *Conn) SendCode() winsock.Code {
	if !c.closed.Load() {
		if c.sendDown.Load() {
			return winsock.WSAESHUTDOWN
		}
		return winsock.OK
	}
	h := c.halfOpen()
	if h == nil {
		if c.sendDown.Load() {
			return winsock.WSAESHUTDOWN // Winsock checks the shutdown before the circuit
		}
		return winsock.WSAENOTCONN
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	switch {
	case h.fin:
		return winsock.WSAESHUTDOWN
	case h.err != winsock.OK:
		return h.err
	case h.closeReq:
		return winsock.WSAENOTCONN
	}
	return winsock.OK
}

// halfOpen returns the half-open send side, nil if none. Safe from any
// goroutine: it is published before closed is set (OnClose), so a reader
// that saw closed sees it.
func (c *Conn) halfOpen() *halfOpen { return c.halfp.Load() }

// Stats is a snapshot of a connection's counters.
type Stats struct {
	BytesIn, BytesOut, BannedBytes uint64
	QueuedOut                      int
}

// Stats returns the counters. Loop only.
func (c *Conn) Stats() Stats {
	return Stats{BytesIn: c.bytesIn, BytesOut: c.sentBytes(), BannedBytes: c.banned.Load(), QueuedOut: c.OutboundBuffered() + c.DirectQueued()}
}

// AddSendDropped counts n bytes that a Send or Write accepted above the
// transport and that will never reach the peer (EngineStats.SendDropped).
// Safe from any goroutine.
func (c *Conn) AddSendDropped(n int) { c.eng.sendDropped.Add(uint64(n)) }

// LimitClose closes the connection with ReasonLimit (RST) and counts the
// limit hit in the engine's stats. Loop only.
func (c *Conn) LimitClose() {
	if c.closed.Load() || c.reason != ReasonNone {
		return
	}
	c.eng.countLimitHit()
	c.Close(ReasonLimit)
}

// execute runs fn on the connection's event loop. Safe from any goroutine.
// It fails with ErrNetDown when the engine is shutting down; fn then never
// runs.
func (c *Conn) execute(fn func()) error {
	err := c.loop().Execute(context.Background(), gnet.RunnableFunc(func(context.Context) error {
		fn() // event loop goroutine
		return nil
	}))
	if err != nil {
		return winsock.ErrNetDown
	}
	return nil
}

// Close closes the connection for reason r: gracefully (queued bytes are
// flushed, then FIN) for ReasonLocalClose and ReasonShutdown, abortively
// (RST) for the others. Handler.OnClose runs before Close returns, unless
// Close is called from inside Handler.OnData or Handler.OnOpen, in which
// case the close happens as that callback returns. On a half-open connection (closed by the peer's FIN,
// OnClose already reported) it closes the remaining send side the same way.
// Loop only (or, once the engine has stopped, the goroutine releasing the
// connection). Idempotent.
func (c *Conn) Close(r Reason) {
	if c.tls != nil && !r.abortive() {
		c.tlsCloseNotify() // close_notify before the FIN (docs/SEMANTICS.md §8)
	}
	if c.closed.Load() {
		if h := c.halfOpen(); h != nil {
			h.close(r.abortive())
		}
		return
	}
	if c.reason != ReasonNone {
		return
	}
	c.reason = r
	if c.kind() == kindPeer || (c.kind() == kindDialedUDP && c.dg.detached) {
		// No gnet.Conn to close: a listener's peer, or a dialled UDP
		// socket between two enrolments.
		if c.inTraffic {
			c.closeReq = true
		} else if c.kind() == kindPeer {
			c.dg.tbl.endPeer(c)
		} else {
			c.closeDetached()
		}
		return
	}
	if r.abortive() && c.kind() == kindStream {
		_ = c.gc.SetLinger(0)
	}
	if c.inTraffic {
		c.closeReq = true
		return
	}
	_ = c.gc.EventLoop().Close(c.gc)
}
