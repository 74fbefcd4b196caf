package netio

import (
	"github.com/panjf2000/gnet/v2"

	"github.com/sockactor/sockactor/winsock"
)

// A Conn's kind is the dynamic type of its transport part (Conn.t), fixed
// when the Conn is made, and the kind's own state lives there:
//
//   - *stream (stream.go): a TCP, unix or TLS stream;
//   - *udpPeer (udppeer.go): one remote address of a UDP listener;
//   - *dialedUDP (udpdial.go): a dialled (connected) UDP socket.
//
// Only *stream and *dialedUDP hold a gnet.Conn: code that needs gnet's
// connection must first hold one of them, so it cannot reach for the
// connection of a UDP peer, which has none. Whatever every kind does in a
// way of its own is a method of transport, called on c.t: a kind that
// lacks one does not compile. What only a stream has (paused reads, the
// direct write path, TLS, the half-open send side, the writability watch)
// is a method of *stream, reached through Conn.stream.
type transport interface {
	// loop returns the gnet loop that owns the Conn. Any goroutine.
	loop() gnet.EventLoop

	// write is Conn.Write. Loop only.
	write(c *Conn, p []byte) (int, error)

	// shutdownSend is Conn.ShutdownSend once the send side is known to be
	// open (c.send == sendOpen). Loop only.
	shutdownSend(c *Conn) error

	// close is Conn.Close. Loop only.
	close(c *Conn, r Reason)

	// shutdownRecv applies the receive ban to what the transport has read
	// and not delivered, on an open Conn whose recvShut was just set
	// (Conn.ShutdownRecv). Loop only.
	shutdownRecv(c *Conn, queued int)

	// outboundBuffered returns the bytes accepted for sending and not yet
	// handed to the kernel while the Conn is open. Loop only.
	outboundBuffered() int

	// maxDatagram returns the largest datagram Write takes, 0 for a
	// stream. Any goroutine (it reads immutable state).
	maxDatagram(c *Conn) int

	// takeError is Conn.TakeError. Loop only.
	takeError() winsock.Code

	// onTraffic and onClose are gnet's OnTraffic and OnClose for the Conn
	// (callbacks.go). Loop only.
	onTraffic(c *Conn, gc gnet.Conn) gnet.Action
	onClose(c *Conn, gc gnet.Conn, err error) gnet.Action
}

// stream returns c's stream part, or false for a UDP socket. Any
// goroutine (c.t is immutable).
func (c *Conn) stream() (*stream, bool) {
	s, ok := c.t.(*stream)
	return s, ok
}

// newStreamConn makes a stream Conn on gc. The Conn and its stream part
// are one allocation, as the Conn alone would be.
func newStreamConn(gc gnet.Conn) (*Conn, *stream) {
	b := &struct {
		c Conn
		s stream
	}{}
	b.s.gc = gc
	b.c.t = &b.s
	return &b.c, &b.s
}

// newPeerConn makes the Conn of a UDP listener's peer, with its peer part
// in the same allocation.
func newPeerConn(u udpPeer) *Conn {
	b := &struct {
		c Conn
		u udpPeer
	}{u: u}
	b.c.t = &b.u
	return &b.c
}

// newDialedUDPConn makes the Conn of a dialled UDP socket enrolled as gc,
// fd its own descriptor, with its part in the same allocation.
func newDialedUDPConn(gc gnet.Conn, fd int) *Conn {
	b := &struct {
		c Conn
		d dialedUDP
	}{d: dialedUDP{gc: gc, el: gc.EventLoop(), fd: fd}}
	b.c.t = &b.d
	return &b.c
}
