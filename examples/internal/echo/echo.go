// Package echo is the echo handler the examples share (examples/echo and
// the gateways of examples/remote): every byte received is written back,
// none lost to a peer that reads slower than it sends.
package echo

import (
	"github.com/sockactor/sockactor/actors"
	"github.com/sockactor/sockactor/events"
)

// Handler writes every received byte back through the socket's
// actors.Outbox: when the peer sends faster than it reads its echo and the
// socket's send queue is full, the echo is kept, reading is suspended (TCP
// holds the peer back) and the echo is written on FD_WRITE. When the peer
// half-closes (FD_CLOSE peer-close: it sent FIN, like nc -N after its
// input) the socket is still writable: the handler closes it once the
// whole echo is written, so the peer gets all of it, then EOF.
var Handler = actors.WithState(func(*actors.Context) *conn { return &conn{} }, receive)

// conn is one socket's state, touched only by its handler.
type conn struct {
	out actors.Outbox
}

func receive(c *actors.Context, st *conn) {
	switch m := c.Message().(type) {
	case *actors.Received:
		_ = st.out.Write(c, m.Data) // an error: the connection is going, FD_CLOSE follows
	case *events.Event:
		switch {
		case m.EventKind() == events.FDWrite:
			_, _ = st.out.Flush(c)
		case actors.ReasonOf(m) == actors.ReasonPeerClose:
			st.closeWhenWritten(c)
		}
	case actors.OutboxRetry:
		st.closeWhenWritten(c)
	}
}

// closeWhenWritten closes a half-closed socket once its echo is written
// (the Close goes through the mailbox, after the writes), retrying while
// the socket refuses it: no FD_WRITE comes after FD_CLOSE.
func (st *conn) closeWhenWritten(c *actors.Context) {
	if st.out.Retry(c) {
		c.Close()
	}
}
