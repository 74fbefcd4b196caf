package netio

import (
	"sync/atomic"

	"github.com/panjf2000/gnet/v2"

	"github.com/sockactor/sockactor/winsock"
)

// stream is the transport part of a TCP, unix or TLS stream Conn, accepted
// by a Listener or dialled (Engine.Dial). gnet owns its descriptor (gc)
// until OnClose. Its operations are spread by topic: the read path and
// close in callbacks.go, the send side in send.go, paused reads in
// pause.go, the direct write path in direct.go, the receive ban in ban.go,
// TLS in tls.go, the half-open send side in halfopen.go, the writability
// watch in writable.go.
//
// Ownership is the Conn's: fields without a note belong to the Conn's
// loop.
type stream struct {
	// gc is gnet's connection. Immutable; its I/O methods are not used
	// once the Conn is closed (its descriptor is gnet's to close).
	gc gnet.Conn

	// halfp is the send side that outlives gnet's descriptor after the
	// peer's FIN (set in OnClose before the Conn's closed, never cleared):
	// Write, ShutdownSend and Close act on it once closed is set. Atomic,
	// so SendCode can read it off the loop; on the loop the load is as
	// cheap as a plain field's.
	halfp atomic.Pointer[halfOpen]

	// dw is the direct write path of a stream whose writer is off the
	// loop (direct.go), nil unless EnableDirectWrite was called. Set on
	// the loop before the writer learns of the Conn, then immutable; its
	// fields say who owns them.
	dw *direct

	// tls is the TLS session of a tls:// stream (tls.go), nil otherwise.
	// Set in OnOpen before the Handler sees the Conn, immutable
	// afterwards; its fields belong to the loop.
	tls *tlsConn

	paused uint8 // PauseSource bits: reads are paused while non-zero (pause.go)
}

// loop returns gnet's loop of the stream.
func (s *stream) loop() gnet.EventLoop { return s.gc.EventLoop() }

// write is Conn.Write on a stream: encrypted first if it has a TLS
// session (tls.go), then writeRaw.
func (s *stream) write(c *Conn, p []byte) (int, error) {
	if s.tls != nil {
		return s.tlsWrite(c, p)
	}
	return s.writeRaw(c, p)
}

// close is Conn.Close on a stream: a graceful close sends close_notify
// first (docs/SEMANTICS.md §8); an abortive one sets SO_LINGER 0 so gnet's
// close sends RST. Once closed, what is left is the half-open send side.
func (s *stream) close(c *Conn, r Reason) {
	if s.tls != nil && !r.abortive() {
		s.tlsCloseNotify(c)
	}
	if c.closed.Load() {
		if h := s.halfp.Load(); h != nil {
			h.close(r.abortive())
		}
		return
	}
	if !c.beginClose(r) {
		return
	}
	if r.abortive() {
		_ = s.gc.SetLinger(0)
	}
	if c.inTraffic {
		c.closeReq = true
		return
	}
	_ = s.gc.EventLoop().Close(s.gc)
}

// outboundBuffered returns gnet's outbound buffer.
func (s *stream) outboundBuffered() int { return s.gc.OutboundBuffered() }

// maxDatagram is 0: a stream has no datagrams.
func (*stream) maxDatagram(*Conn) int { return 0 }

// takeError is OK: a stream's errors are reported by the operation that
// meets them, never left for the next one.
func (*stream) takeError() winsock.Code { return winsock.OK }

// network returns "tls", "unix" or "tcp".
func (s *stream) network(c *Conn) string {
	switch {
	case s.tls != nil:
		return "tls"
	case c.remote != nil && c.remote.Network() == "unix", c.local != nil && c.local.Network() == "unix":
		return "unix"
	}
	return "tcp"
}
