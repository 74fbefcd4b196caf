package netio

import (
	"container/list"
	"context"
	"crypto/tls"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sockactor/sockactor/internal/tlsloop"
	"github.com/sockactor/sockactor/winsock"
)

// TLS on the event loops (docs/SEMANTICS.md §8). A TLS connection is a
// stream with a session (stream.tls): the handshake runs before gnet knows
// the socket, on a goroutine bounded in number (Options.MaxTLSHandshakes)
// and time (Options.TLSHandshakeTimeout), straight over the blocking
// net.Conn (acceptor.go accepts, Dial dials); then the socket is enrolled
// on a loop and the session moves there. From then on the connection costs
// no goroutine: every read is decrypted on the loop (tlsRead, from the gnet
// callbacks) and every Write encrypted there, the records of one Write
// leaving in one write to gnet. A writer off the loop (a pooled handler)
// encrypts on its own goroutine and writes the records itself
// (tlsWriteDirect, on the direct path of direct.go): while that path
// exists, every use of the session, the loop's and the writer's, holds its
// lock, so crypto/tls and the session's buffers see one user at a time and
// records never interleave.
//
// Closing: SendDisconnect sends close_notify, then FIN; a graceful Close
// sends close_notify first; the peer's close_notify is ReasonPeerClose
// (the send side stays usable, as after a TCP FIN), a FIN without it
// ReasonTruncated, a broken stream ReasonProtocol.

// Defaults of the TLS options.
const (
	// DefaultTLSHandshakeTimeout bounds one handshake when
	// Options.TLSHandshakeTimeout is 0.
	DefaultTLSHandshakeTimeout = 10 * time.Second
	// DefaultMaxTLSHandshakes bounds the server handshakes in progress
	// when Options.MaxTLSHandshakes is 0 (hsSlots).
	DefaultMaxTLSHandshakes = 1024
)

// tlsPlainBuf is the size of a loop's plaintext buffer: one TLS record.
const tlsPlainBuf = 16 << 10

// tlsConn is the TLS part of a stream Conn. The session belongs to the
// connection's loop (after the handshake it is never used elsewhere).
type tlsConn struct {
	s        *tlsloop.Session
	lt       *loopTraffic            // the loop's share: its plaintext buffer
	deliver  func(plain []byte) bool // made once: Drain's callback
	send     func(cipher []byte) error
	notified bool // close_notify sent
}

// tlsStats are the engine's TLS counters. Atomic: the handshake goroutines
// and the loops update them.
type tlsStats struct {
	handshakes atomic.Uint64 // completed (server and client)
	failed     atomic.Uint64 // failed or timed out
	evicted    atomic.Uint64 // reset to make room for a newer one (hsSlots)
	broken     atomic.Uint64 // established streams ended by a bad record
}

// TLSStats counts an engine's TLS handshakes and broken streams.
type TLSStats struct {
	Handshakes      uint64 `json:"handshakes"`       // completed, server and client side
	HandshakeFailed uint64 `json:"handshake_failed"` // failed or timed out (plaintext, garbage, a stall, a bad certificate)
	// HandshakeEvicted counts server handshakes reset because a new
	// connection arrived while MaxTLSHandshakes were running: the oldest
	// one makes room.
	HandshakeEvicted uint64 `json:"handshake_evicted"`
	Handshaking      int64  `json:"handshaking"` // server handshakes running now
	Broken           uint64 `json:"broken"`      // established connections ended by a bad record (ReasonProtocol)
}

// TLSStats returns the TLS counters. Safe from any goroutine.
func (e *Engine) TLSStats() TLSStats {
	return TLSStats{
		Handshakes:       e.tlsStat.handshakes.Load(),
		HandshakeFailed:  e.tlsStat.failed.Load(),
		HandshakeEvicted: e.tlsStat.evicted.Load(),
		Handshaking:      e.hs.running(),
		Broken:           e.tlsStat.broken.Load(),
	}
}

// hsSlots are the server handshakes in progress, oldest first, at most
// MaxTLSHandshakes of them. A connection accepted when every slot is
// taken evicts the oldest: its socket is reset, which ends its handshake.
// So a flood of stalled handshakes costs bounded memory, and a legitimate
// client, whose handshake takes a round trip or two, gets through unless
// MaxTLSHandshakes newer connections arrive before it completes; refusing
// the newest instead would lock every new client out for as long as the
// flood keeps the slots full.
type hsSlots struct {
	mu sync.Mutex
	l  list.List // of *hsSlot
}

// hsSlot is one handshake's place in hsSlots.
type hsSlot struct {
	nc      net.Conn
	elem    *list.Element // nil once released or evicted
	evicted bool
}

// admit takes a slot for nc, evicting the oldest when none is free. Any
// goroutine (an accept goroutine).
func (h *hsSlots) admit(e *Engine, nc net.Conn) *hsSlot {
	s := &hsSlot{nc: nc}
	h.mu.Lock()
	var old *hsSlot
	if int64(h.l.Len()) >= e.maxHandshakes() {
		old = h.l.Remove(h.l.Front()).(*hsSlot)
		old.elem, old.evicted = nil, true
	}
	s.elem = h.l.PushBack(s)
	h.mu.Unlock()
	if old != nil {
		e.tlsStat.evicted.Add(1)
		resetConn(old.nc) // its handshake goroutine sees the error and ends
	}
	return s
}

// release gives s's slot back once its handshake is over; false means s
// was evicted meanwhile (counted, its socket reset). Any goroutine.
func (h *hsSlots) release(s *hsSlot) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if s.evicted {
		return false
	}
	h.l.Remove(s.elem)
	s.elem = nil
	return true
}

// running returns the handshakes holding a slot. Any goroutine.
func (h *hsSlots) running() int64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	return int64(h.l.Len())
}

func (e *Engine) tlsTimeout() time.Duration {
	if e.opts.TLSHandshakeTimeout > 0 {
		return e.opts.TLSHandshakeTimeout
	}
	return DefaultTLSHandshakeTimeout
}

func (e *Engine) maxHandshakes() int64 {
	if e.opts.MaxTLSHandshakes > 0 {
		return int64(e.opts.MaxTLSHandshakes)
	}
	return DefaultMaxTLSHandshakes
}

// handshake runs a session's handshake over nc, bounded by the engine's
// timeout and by ctx. The caller counts the outcome and, on failure,
// resets nc (nothing of a failed handshake is worth a graceful close).
// Goroutine: a handshake goroutine (acceptor.go) or Dial's caller.
func (e *Engine) handshake(ctx context.Context, s *tlsloop.Session, nc net.Conn) error {
	ctx, cancel := context.WithTimeout(ctx, e.tlsTimeout())
	defer cancel()
	return s.HandshakeOn(ctx, nc)
}

// startTLS moves an established session onto c's loop. It runs in OnOpen,
// before the Handler hears of c. Loop only.
func (s *stream) startTLS(c *Conn, sess *tlsloop.Session, lt *loopTraffic) {
	t := &tlsConn{s: sess, lt: lt}
	t.send = func(cipher []byte) error {
		if d := s.dw; d != nil && d.viaFD {
			// A pooled writer's goroutine, holding d.mu (tlsWriteDirect).
			if n, _ := d.writeFD(cipher); n < len(cipher) {
				s.keepForLoop(c, cipher[n:]) // the loop sends it, or meets the error
			}
			return nil
		}
		// Event loop goroutine: inside a Write, a close_notify or an
		// alert. A TLS socket counts plaintext: records are not bytes out.
		out := c.bytesOut
		_, err := s.writeRaw(c, cipher)
		c.bytesOut = out
		return err
	}
	t.deliver = func(plain []byte) bool { return s.tlsDeliver(c, plain) }
	sess.Established(t.send)
	s.tls = t
}

// tlsRead decrypts what a read brought (cipher may be nil: what the
// session holds from before) and hands the plaintext to the Handler. A
// close it decides is asked through closeReq, as from inside OnData: the
// caller closes. Loop only.
func (s *stream) tlsRead(c *Conn, cipher []byte) {
	t := s.tls
	if t.lt.plain == nil {
		t.lt.plain = make([]byte, tlsPlainBuf)
	}
	s.lockDirect() // crypto/tls may write an alert; a direct writer waits
	err := t.s.Drain(cipher, t.lt.plain, t.deliver)
	s.unlockDirect(c)
	switch {
	case err == nil:
	case err == io.EOF:
		// The peer's close_notify: its FIN, as far as the application
		// is concerned (the send side stays usable, halfopen.go).
		if c.reason == ReasonNone {
			c.reason = ReasonPeerClose
		}
		c.closeReq = true
	default:
		// A bad record, a bad MAC, an alert from the peer: crypto/tls
		// has sent its alert; the stream is unusable.
		c.eng.tlsStat.broken.Add(1)
		if c.reason == ReasonNone {
			c.reason = ReasonProtocol
		}
		c.closeReq = true
	}
}

// tlsDeliver hands one chunk of plaintext to the Handler, or applies the
// receive ban to it. It reports whether Drain may go on: not once a close
// is asked, nor while reads are paused (what is left waits in the session
// until the resume). Loop only.
func (s *stream) tlsDeliver(c *Conn, plain []byte) bool {
	if c.closeReq {
		return false
	}
	if c.recvShut {
		// The receive ban (docs/SEMANTICS.md §3.4, §8) on plaintext: a
		// record that carries bytes after the ban resets under the reset
		// policy; close_notify alone carries none. Banned bytes were
		// received: they count in bytes_in, as over TCP.
		c.bytesIn += uint64(len(plain))
		if c.policy.resets() {
			c.reason = ReasonRecvBan
			_ = s.gc.SetLinger(0)
			c.closeReq = true
			return false
		}
		c.addBanned(uint64(len(plain)))
		return true
	}
	c.bytesIn += uint64(len(plain))
	c.inTraffic = true
	c.eng.h.OnData(c, plain)
	c.inTraffic = false
	return !c.closeReq && s.paused == 0
}

// tlsWrite encrypts p and writes its records (one write to the transport).
// Loop only.
func (s *stream) tlsWrite(c *Conn, p []byte) (int, error) {
	if code := c.SendCode(); code != winsock.OK {
		return 0, code
	}
	if len(p) == 0 {
		return 0, nil
	}
	s.lockDirect() // one user of the session at a time (direct.go)
	n, err := s.tls.s.Write(p)
	s.unlockDirect(c)
	c.bytesOut += uint64(n) // a TLS socket counts plaintext (send counts no records)
	if err != nil {
		return 0, err
	}
	return n, nil
}

// tlsCloseNotify sends close_notify once, while the send side is open.
// Loop only.
func (s *stream) tlsCloseNotify(c *Conn) {
	t := s.tls
	if t == nil || t.notified || c.SendCode() != winsock.OK {
		return
	}
	t.notified = true
	s.lockDirect()
	_ = t.s.CloseNotify() // a write error closes the connection (writeRaw)
	s.unlockDirect(c)
}

// tlsWriteDirect is WriteDirect on a TLS socket: p is encrypted on the
// calling goroutine (crypto/tls allows a Write beside the loop's Read; the
// direct path's lock keeps every use of the session one at a time) and its
// records go straight to the socket, what the socket does not take kept
// for the loop (keepForLoop). A session that refuses the write (closed or
// failed) reports false, so that the caller's loop write reports why.
// Goroutine: the pooled writer's, with the direct path's lock held.
func (s *stream) tlsWriteDirect(p []byte) (queued int, ok bool) {
	d := s.dw
	d.viaFD = true
	n, err := s.tls.s.Write(p)
	d.viaFD = false
	d.wrote(n) // a TLS socket counts plaintext
	if err != nil && n == 0 {
		return 0, false
	}
	return len(d.pend), true
}

// TLS returns the connection's TLS state (version, cipher suite, ALPN,
// SNI, peer certificates) and true, or false for a connection without
// TLS. Safe from any goroutine.
func (c *Conn) TLS() (tls.ConnectionState, bool) {
	s, ok := c.stream()
	if !ok || s.tls == nil {
		return tls.ConnectionState{}, false
	}
	return s.tls.s.State(), true
}

// IsTLS reports whether c is a TLS connection. Any goroutine (immutable
// once the Handler has seen c).
func (c *Conn) IsTLS() bool {
	s, ok := c.stream()
	return ok && s.tls != nil
}

// clientTLS returns the config a dial to address uses: cfg, with the host
// as ServerName when cfg names none.
func clientTLS(cfg *tls.Config, address string) *tls.Config {
	if cfg.ServerName != "" {
		return cfg
	}
	host, _, err := net.SplitHostPort(address)
	if err != nil {
		return cfg
	}
	c := cfg.Clone()
	c.ServerName = host
	return c
}
