package actors

import (
	"errors"
	"time"

	"github.com/sockactor/sockactor/winsock"
)

// Outbox keeps what a stream socket refused, so that a peer sending faster
// than it reads its replies loses none of them. Write writes; when the
// socket's send queue is over its high-water mark (Context.Write fails with
// ErrWouldBlock and queues nothing) the Outbox keeps a copy, suspends
// reading the socket (SuspendReading: TCP holds the peer back, so what it
// keeps stays bounded) and keeps every later Write behind it, in order.
// Flush, called on FD_WRITE, writes what it keeps and, once all of it is
// out, resumes reading.
//
// After the peer's FIN (FD_CLOSE peer-close) the socket stays writable but
// no FD_WRITE follows (docs/SEMANTICS.md §4, §5): a handler that still
// holds bytes then calls Retry, which flushes and, while bytes are still
// kept, schedules an OutboxRetry message to call it again, until they are
// written or the socket is gone (its linger ends a peer that never reads). The
// delay doubles from OutboxRetryMin to OutboxRetryMax, so such a peer
// costs a few wake-ups a second, not hundreds.
//
// The zero Outbox is ready to use. An Outbox belongs to one socket's
// handler (keep it in the socket's state, Context.SetState): it is not safe
// for concurrent use, and its methods are called from the handler's
// goroutine during Receive. Under Pooled dispatch, reads already queued for
// the handler when reading was suspended are still delivered, so what it
// keeps is bounded by the replies to those bytes (at most the runtime's
// MaxInbound of them) plus one refused write.
type Outbox struct {
	held      []byte        // refused bytes, oldest first
	blocked   bool          // the last write was refused: wait for FD_WRITE
	suspended bool          // this Outbox suspended reading
	retry     time.Duration // the last RetryDelay; 0 after a Flush that emptied it
}

// OutboxRetry is the message Outbox.Retry schedules to the handler, to be
// answered with another Retry, on a half-closed socket that still holds
// bytes (no FD_WRITE comes after FD_CLOSE).
type OutboxRetry struct{}

// The bounds of Outbox.RetryDelay.
const (
	OutboxRetryMin = 5 * time.Millisecond
	OutboxRetryMax = 250 * time.Millisecond
)

// RetryDelay returns how long to wait before the next OutboxRetry:
// OutboxRetryMin first, then twice the last delay, at most OutboxRetryMax,
// until a Flush empties the Outbox.
func (o *Outbox) RetryDelay() time.Duration {
	o.retry = min(max(2*o.retry, OutboxRetryMin), OutboxRetryMax)
	return o.retry
}

// outboxKeep is the largest buffer an Outbox keeps once it is empty.
const outboxKeep = 1 << 20

// Write writes p to c's socket, or keeps a copy of it behind what is
// already kept. It returns nil when p was written or kept, and the error of
// Context.Write otherwise (ErrShutdown after SendDisconnect, ErrNotConn
// once the connection is gone: nothing is kept then). p is not retained.
// On a datagram socket it is Context.Write: each datagram is sent or
// refused on its own, never kept.
func (o *Outbox) Write(c *Context, p []byte) error {
	if o.blocked { // never on a datagram socket: a refused datagram is not kept
		o.held = append(o.held, p...) // behind what waits for FD_WRITE
		return nil
	}
	_, err := c.Write(p) // an empty p: nothing on a stream, an empty datagram on UDP
	if errors.Is(err, winsock.ErrWouldBlock) {
		if conn := c.s.conn; conn != nil && conn.Datagram() {
			return err // a datagram is never kept: UDP drops it, and counts it
		}
		o.held = append(o.held, p...)
		o.block(c)
		return nil
	}
	return err
}

// Flush writes what the Outbox keeps. Call it on FD_WRITE (and from
// OutboxRetry after the peer's FIN). It reports whether nothing is kept
// any more; when it reports true and this Outbox suspended reading, reading
// is resumed. A socket that can no longer write (ErrNotConn, ErrShutdown)
// drops what is kept: the error says so, and Flush reports true.
func (o *Outbox) Flush(c *Context) (empty bool, err error) {
	o.blocked = false
	if len(o.held) > 0 {
		_, err = c.Write(o.held)
		if errors.Is(err, winsock.ErrWouldBlock) {
			o.block(c)
			return false, nil
		}
		o.held = o.held[:0]
		if cap(o.held) > outboxKeep {
			o.held = nil
		}
	}
	o.retry = 0
	if o.suspended {
		o.suspended = false
		_ = c.ResumeReading() // an error means the socket is ending: nothing to resume
	}
	return true, err
}

// Retry is Flush for a half-closed socket, which gets no FD_WRITE: when
// bytes are still kept it schedules the next try,
// c.After(o.RetryDelay(), OutboxRetry{}), and reports false; it reports
// true once nothing is kept. Call it on the peer's FIN (FD_CLOSE
// peer-close) and on each OutboxRetry.
func (o *Outbox) Retry(c *Context) (empty bool) {
	if empty, _ = o.Flush(c); !empty {
		c.After(o.RetryDelay(), OutboxRetry{})
	}
	return empty
}

// Held returns the number of bytes the Outbox keeps.
func (o *Outbox) Held() int { return len(o.held) }

// block marks a refused write and suspends reading, once.
func (o *Outbox) block(c *Context) {
	o.blocked = true
	if !o.suspended && c.SuspendReading() == nil {
		o.suspended = true
	}
}
