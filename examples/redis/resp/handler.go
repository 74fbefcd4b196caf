package resp

import (
	"errors"
	"time"

	"github.com/sockactor/sockactor/actors"
	"github.com/sockactor/sockactor/events"
	"github.com/sockactor/sockactor/winsock"
)

// maxKeep is the largest reply buffer a connection keeps between reads.
const maxKeep = 1 << 20

// Handler returns the sockactor handler of the Redis server: every
// connection gets a Session on store (its state); the replies of one read
// are written with one Write. When a write is refused (WSAEWOULDBLOCK: the
// client sends faster than it reads its replies), the connection keeps
// them, stops reading the client (SuspendReading: TCP holds it back) and
// writes them on FD_WRITE, then reads again. After a protocol error or a
// QUIT it writes the replies and closes; after the client's FIN it writes
// what it holds and closes.
func Handler(store *Store) actors.Handler {
	return actors.HandlerFunc(func(c *actors.Context) {
		st, _ := c.State().(*conn)
		if st == nil {
			st = &conn{sess: NewSession(store)}
			c.SetState(st)
		}
		switch m := c.Message().(type) {
		case *actors.Received:
			if st.closing {
				return // the stream has ended: nothing more is read
			}
			var err error
			if st.out, err = st.sess.Serve(m.Data, st.out); err != nil {
				st.closing = true
			}
			st.flush(c)
		case *events.Event:
			switch m.EventKind() {
			case events.FDWrite:
				if st.blocked {
					st.blocked = false
					st.flush(c)
					if !st.blocked && !st.closing {
						_ = c.ResumeReading()
					}
				}
			case events.FDClose:
				if actors.ReasonOf(m) == actors.ReasonPeerClose { // the client's FIN: answer, then close
					st.closing = true
					st.retry(c)
				}
			}
		case retryWrite:
			st.retry(c)
		}
	})
}

// retryWrite is the timer of a half-open connection's refused write: after
// FD_CLOSE no FD_WRITE comes (docs/SEMANTICS.md §4, §5), so it tries again.
type retryWrite struct{}

const retryEvery = 5 * time.Millisecond

// retry writes what is held on a half-open connection, again after
// retryEvery while the socket refuses it.
func (st *conn) retry(c *actors.Context) {
	st.blocked = false
	if st.flush(c); st.blocked {
		c.After(retryEvery, retryWrite{})
	}
}

// conn is one connection's state, touched only by its handler.
type conn struct {
	sess    *Session
	out     []byte // replies not yet written
	blocked bool   // a write was refused: waiting for FD_WRITE, reads suspended
	closing bool   // close once out is written
}

// flush writes the replies held, or waits for FD_WRITE when the socket
// refuses them; it closes the socket once everything is written, if the
// connection is ending.
func (st *conn) flush(c *actors.Context) {
	if st.blocked {
		return // FD_WRITE will come
	}
	if len(st.out) > 0 {
		_, err := c.Write(st.out)
		if errors.Is(err, winsock.ErrWouldBlock) {
			st.blocked = true
			if !st.closing {
				_ = c.SuspendReading()
			}
			return
		}
		st.out = st.out[:0]
		if cap(st.out) > maxKeep {
			st.out = nil
		}
		if err != nil {
			st.closing = true // the connection is gone
		}
	}
	if st.closing {
		c.Close()
	}
}
