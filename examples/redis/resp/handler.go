package resp

import (
	"github.com/sockactor/sockactor/actors"
	"github.com/sockactor/sockactor/events"
)

// maxKeep is the largest reply buffer a connection keeps between reads.
const maxKeep = 1 << 20

// Handler returns the sockactor handler of the Redis server: every
// connection gets a Session on store (its state, actors.WithState); the replies of one read
// are written with one Write, through the socket's actors.Outbox: when a
// write is refused (WSAEWOULDBLOCK: the client sends faster than it reads
// its replies), the Outbox keeps them, stops reading the client
// (SuspendReading: TCP holds it back) and writes them on FD_WRITE, then
// reads again. After a protocol error or a QUIT it writes the replies and
// closes; after the client's FIN it writes what it holds and closes.
func Handler(store *Store) actors.Handler {
	newConn := func(*actors.Context) *conn { return &conn{sess: NewSession(store)} }
	return actors.WithState(newConn, func(c *actors.Context, st *conn) {
		switch m := c.Message().(type) {
		case *actors.Received:
			if st.closing {
				return // the stream has ended: nothing more is read
			}
			var err error
			if st.buf, err = st.sess.Serve(m.Data, st.buf[:0]); err != nil {
				st.closing = true
			}
			if st.out.Write(c, st.buf) != nil {
				st.closing = true // the connection is gone
			}
			if cap(st.buf) > maxKeep {
				st.buf = nil
			}
			st.settle(c)
		case *events.Event:
			switch {
			case m.EventKind() == events.FDWrite:
				_, _ = st.out.Flush(c)
				st.settle(c)
			case actors.ReasonOf(m) == actors.ReasonPeerClose: // the client's FIN: answer, then close
				st.closing = true
				st.retry(c)
			}
		case actors.OutboxRetry:
			st.retry(c)
		}
	})
}

// conn is one connection's state, touched only by its handler.
type conn struct {
	sess    *Session
	buf     []byte        // the replies of one read, built by Serve
	out     actors.Outbox // the replies the socket refused, until FD_WRITE
	closing bool          // close once out is written
	closed  bool          // Close is sent
}

// retry writes what is kept on a half-open connection, again after
// actors.Outbox.RetryDelay while the socket refuses it: after FD_CLOSE no
// FD_WRITE comes (docs/SEMANTICS.md §4, §5).
func (st *conn) retry(c *actors.Context) {
	if st.out.Retry(c) {
		st.settle(c)
	}
}

// settle closes the socket once everything is written, if the connection
// is ending.
func (st *conn) settle(c *actors.Context) {
	if st.closing && !st.closed && st.out.Held() == 0 {
		st.closed = true
		c.Close()
	}
}
