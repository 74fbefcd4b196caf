package actors

import (
	"github.com/sockactor/sockactor/winsock"
)

// The write batch of one handler call (Context.out): the stream bytes a
// handler Writes during one Receive leave together, with one system call,
// when Receive returns (socket.run). It is the runtime's answer to
// pipelined protocols: a read holding sixteen requests gets its sixteen
// replies in one write(2) without the handler building the buffer itself.
//
// The batch belongs to the Context, so to the goroutine running the
// handler: the event loop (Inline) or the pooled drain goroutine (Pooled).
// It is flushed before anything that must see the handler's bytes
// already on their way:
//   - a Write the high-water mark would refuse counting the batch as
//     queued: the batch goes first and the rule is applied to what is
//     really queued, so a refusal, and the FD_WRITE it owes, are exactly
//     those of unbatched writes (NotifyDrained must never find the queue
//     drained inside the refused call);
//   - a Write that would take the batch past maxBatch (a large p is then
//     written at once, uncopied);
//   - Context.RecvDisconnect (under BanReset it may reset the connection
//     at once: bytes written before it leave first, as unbatched);
//   - under Pooled dispatch, every Send and Request: the loop may handle
//     the message, or what it causes (a Send to this socket from the
//     receiver), while the handler still runs;
//   - Context.Flush, and the end of the handler call, also after a panic.
//
// A datagram socket never batches: each Write is one datagram.

// maxBatch bounds a handler call's write batch: a Write that would take it
// past this flushes it first, and a Write of at least this much is written
// uncopied. A Context keeps an array of up to twice that between calls.
const maxBatch = 64 << 10

// write is Write's body: the checks, then into the batch (stream
// sockets), or to the connection now. Goroutine: the one running the
// handler.
func (c *Context) write(p []byte) (int, error) {
	s := c.s
	if s.conn == nil {
		return 0, winsock.ErrNotConn
	}
	if code := s.conn.SendCode(); code != winsock.OK { // safe from either goroutine
		return 0, code
	}
	if s.conn.Datagram() {
		return c.writeNow(p) // one datagram per Write
	}
	if len(p) == 0 {
		return 0, nil
	}
	if len(c.out) > 0 && (len(c.out)+len(p) > maxBatch || c.refuses(len(p))) {
		c.flush()
		// The flush may have met a reset (Inline: OnClose ran in it).
		if code := s.conn.SendCode(); code != winsock.OK {
			return 0, code
		}
	}
	if len(c.out) == 0 && (len(p) >= maxBatch || c.refuses(len(p))) {
		return c.writeNow(p) // written whole, uncopied, or refused as unbatched
	}
	c.out = append(c.out, p...)
	return len(p), nil
}

// refuses reports whether the write rule (socket.write) refuses n more
// bytes with the batch counted as queued. Goroutine: the one running the
// handler.
func (c *Context) refuses(n int) bool {
	s := c.s
	if s.prof.dispatch != Inline {
		return s.pooledRefuses(n, len(c.out))
	}
	q := s.conn.OutboundBuffered() + len(c.out) // event loop goroutine
	return q > s.host.opts.SendLowWater && q+n > s.host.opts.SendHighWater
}

// Flush sends what this handler call has written so far now, instead of
// when Receive returns (see Write): for a pooled handler about to block
// with bytes its peer should see meanwhile. Write errors it meets are
// those of a write that had already been accepted: the bytes are counted
// in SendDropped and the connection's FD_CLOSE tells the rest.
//
// Goroutine: the one running the handler, during Receive.
func (c *Context) Flush() { c.flush() }

// flush hands the batch to the connection with one write. Goroutine: the
// one running the handler: the loop (Inline: the connection's Write) or
// the pooled goroutine (Pooled: a direct write, or a writeOp through the
// mailbox that takes the batch's array with it).
func (c *Context) flush() {
	p := c.out
	if len(p) == 0 {
		return
	}
	s := c.s
	c.out = p[:0]
	if s.prof.dispatch != Inline {
		if s.pooledWrite(p, true) {
			c.out = nil // the writeOp owns the array now
		}
		return
	}
	// Event loop goroutine. Write already told the handler its bytes were
	// accepted: if the connection cannot take them now (a reset, or the
	// connection ended inside this call), they are counted as dropped.
	if n, err := s.conn.Write(p); err != nil {
		s.conn.AddSendDropped(len(p) - max(n, 0))
	}
}

// keepBatch returns the batch's array emptied for the Context's next
// call, or nil when it grew too large to keep.
func keepBatch(out []byte) []byte {
	if cap(out) > 2*maxBatch {
		return nil
	}
	return out[:0]
}
