package netio

import (
	"github.com/sockactor/sockactor/winsock"
)

// BanPolicy says what happens to received bytes once RecvDisconnect has taken
// effect (docs/SEMANTICS.md §3.3). The zero value, BanDefault, means "the
// default": the layer above resolves it (a listener inherits its runtime's
// policy), and the transport treats it as BanReset.
type BanPolicy uint8

const (
	// BanDefault is the zero value: no policy chosen here.
	BanDefault BanPolicy = iota
	// BanReset resets the connection (RST) when banned data is queued or
	// arrives; the socket emits FD_CLOSE 10053 recv-ban. Winsock's default.
	BanReset
	// BanDiscard reads and drops banned bytes, counting them; the connection
	// stays up and sending keeps working.
	BanDiscard
)

// String returns "reset" or "discard" (BanDefault reads "reset", as the
// transport applies it). Any goroutine.
func (p BanPolicy) String() string {
	if p == BanDiscard {
		return "discard"
	}
	return "reset"
}

// Valid reports whether p is one of the three policies. Any goroutine.
func (p BanPolicy) Valid() bool { return p <= BanDiscard }

// resets reports whether banned data resets the connection.
func (p BanPolicy) resets() bool { return p != BanDiscard }

// ParseBanPolicy parses "reset" (or "") and "discard".
func ParseBanPolicy(s string) (BanPolicy, error) {
	switch s {
	case "reset", "":
		return BanReset, nil
	case "discard":
		return BanDiscard, nil
	}
	return BanReset, &winsock.OpError{Op: "ParseBanPolicy", Code: winsock.WSAEINVAL, Detail: "unknown ban policy " + s}
}

// RecvShut reports whether the receive ban is in force. Loop only.
func (c *Conn) RecvShut() bool { return c.recvShut }

// Policy returns the ban policy that applies (BanReset when none was set).
// Loop only.
func (c *Conn) Policy() BanPolicy {
	if c.policy == BanDefault {
		return BanReset
	}
	return c.policy
}

// SetPolicy sets the ban policy. Loop only (normally from Handler.OnOpen).
func (c *Conn) SetPolicy(p BanPolicy) { c.policy = p }

// AddBanned counts n bytes dropped by the receive ban above the transport
// (for example Received messages that were still in a pooled handler's
// mailbox). Safe from any goroutine.
func (c *Conn) AddBanned(n int) { c.addBanned(uint64(n)) }

// addBanned counts n banned bytes for the connection and the engine. Safe
// from any goroutine.
func (c *Conn) addBanned(n uint64) {
	c.banned.Add(n)
	c.eng.traffic.banned.Add(n)
}

// ShutdownRecv applies the receive ban (docs/SEMANTICS.md §3). From this call on no
// received byte reaches Handler.OnData. queued is the number of bytes the
// upper layer read but has not consumed (it drops and counts them itself,
// with AddBanned). If queued or gnet's inbound buffer is non-zero, the
// policy applies at once: BanReset aborts the connection with
// ReasonRecvBan; BanDiscard drops gnet's buffered bytes and counts them.
// A UDP socket is never reset: the layer above drops what it queued
// (docs/SEMANTICS.md §6). Loop only. Idempotent.
func (c *Conn) ShutdownRecv(queued int) {
	if c.recvShut {
		return
	}
	c.recvShut = true
	if c.closed.Load() {
		return
	}
	c.t.shutdownRecv(c, queued)
}

// shutdownRecv is ShutdownRecv's policy on a stream, applied to gnet's
// inbound buffer and to queued.
func (s *stream) shutdownRecv(c *Conn, queued int) {
	buffered := s.gc.InboundBuffered()
	if s.tls != nil {
		s.banTLS(c, queued, buffered)
		return
	}
	if buffered > 0 {
		_, _ = s.gc.Discard(buffered)
	}
	if queued+buffered == 0 {
		return
	}
	if c.policy.resets() {
		c.Close(ReasonRecvBan)
		return
	}
	c.addBanned(uint64(buffered))
}

// banTLS is ShutdownRecv's policy for a TLS connection: what gnet holds is
// ciphertext, which cannot be dropped without breaking the stream, so it is
// decrypted now and its plaintext banned by tlsDeliver (dropped and
// counted, or a reset under BanReset). Inside a delivery (a handler's
// RecvDisconnect) the Drain under way does that for the rest of the read.
// Loop only.
func (s *stream) banTLS(c *Conn, queued, buffered int) {
	if c.policy.resets() && queued+buffered > 0 {
		c.Close(ReasonRecvBan)
		return
	}
	if buffered == 0 || c.inTraffic {
		return
	}
	buf, _ := s.gc.Next(-1)
	s.tlsRead(c, buf)
	if c.closeReq {
		c.closeReq = false
		_ = s.gc.EventLoop().Close(s.gc)
	}
}
