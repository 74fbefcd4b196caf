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
// actor, and the one handle the layer above holds. Its kind is fixed when
// it is made and is the dynamic type of its transport part t
// (transport.go), which holds the kind's own state:
//
//   - a stream (*stream, stream.go): a TCP or unix stream connection,
//     accepted by a Listener or dialled (Engine.Dial), maybe with TLS.
//     gnet owns its descriptor until OnClose. After the peer's FIN its
//     send side can outlive gnet's descriptor as a half-open side
//     (halfopen.go), on which Write, ShutdownSend and Close still act. A
//     stream whose writer is off the loop (a pooled handler) may have a
//     direct write path (direct.go).
//   - a UDP peer (*udpPeer, udppeer.go): one remote address of a UDP
//     listener. It has no gnet connection of its own: its datagrams
//     arrive on the listener's descriptor, and it lives in that
//     descriptor's peer table (udppeers.go) until it is closed or idles
//     out.
//   - a dialled UDP socket (*dialedUDP, udpdial.go): gnet polls it, and it
//     keeps a descriptor of its own so that it survives gnet dropping the
//     registration on an ICMP error; between two enrolments it is
//     detached and its gnet connection is stale.
//
// The fields of Conn itself are common to every kind.
//
// Ownership: every field without a note is owned by the connection's event
// loop goroutine and may be read or written only from a Handler callback or
// from a function passed to Wake (or the unexported execute). Fields noted
// "immutable" are set before Handler.OnOpen and never change; fields noted
// "atomic" may be read anywhere. The same holds for the fields of t. Each
// exported method says which goroutine may call it.
type Conn struct {
	t   transport // immutable: the kind's part (transport.go)
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
	idle              *time.Timer   // idle timeout timer (nil when disabled)
	slot              int32         // loop: index in its loop's live list (traffic.go); -1 once closed

	closed    atomic.Bool // atomic: set on the loop in OnClose
	sendDown  atomic.Bool // atomic: send != sendOpen, for writers off the loop
	send      sendState   // the send side; changed only by setSend
	recvShut  bool
	policy    BanPolicy
	inTraffic bool   // inside a read callback: closes are deferred to its return value
	closeReq  bool   // a close was asked while inTraffic
	reason    Reason // why this side is closing; ReasonNone until then
	dialed    bool   // immutable: enrolled by Dial
	active    bool   // a byte moved since the idle timer last looked
}

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
	return c.t.outboundBuffered()
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
			if s, ok := c.stream(); ok && (s.wroteDirect() || s.paused != 0) {
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

// halfOpen returns the half-open send side, nil if none (always, on a UDP
// socket). Safe from any goroutine: it is published before closed is set
// (OnClose), so a reader that saw closed sees it.
func (c *Conn) halfOpen() *halfOpen {
	if s, ok := c.stream(); ok {
		return s.halfp.Load()
	}
	return nil
}

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
// case the close happens as that callback returns. On a half-open
// connection (closed by the peer's FIN, OnClose already reported) it closes
// the remaining send side the same way.
// Loop only (or, once the engine has stopped, the goroutine releasing the
// connection). Idempotent.
func (c *Conn) Close(r Reason) { c.t.close(c, r) }

// beginClose records r as the reason c closes and reports true, or reports
// false, changing nothing, when c is closed or already closing. Loop only.
func (c *Conn) beginClose(r Reason) bool {
	if c.closed.Load() || c.reason != ReasonNone {
		return false
	}
	c.reason = r
	return true
}
