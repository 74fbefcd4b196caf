package main

import (
	"context"
	"errors"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/sockactor/sockactor/actors"
	"github.com/sockactor/sockactor/events"
	sockrt "github.com/sockactor/sockactor/runtime"
	"github.com/sockactor/sockactor/winsock"
)

// A pair is two sockets, the client's (accepted) and the upstream's
// (dialled), each an actor with its own handler and its own end (the
// handler's state). Each socket writes to its own peer only: what one side
// reads is sent as a chunk message to the other side's handler, which
// writes it with c.Write. So the writer of a direction is the socket whose
// peer is slow, and the write rule (docs/SEMANTICS.md §4) gives it
// WSAEWOULDBLOCK and later exactly one FD_WRITE: on the refusal it
// suspends the reader of that direction (the partner), on the FD_WRITE it
// writes what it holds and resumes the partner. The partner's app read
// pause is owned by the writer alone, so one flag (holding) is its truth.
//
// Who learns the partner's PID, and when (both dispatch modes alike): the
// upstream's handler is made per pair with the client's PID in it, before
// the upstream socket exists. The client's handler learns the upstream's
// PID from rt.Dial, which returns it at once, and stores it (SetState) in
// the same FD_ACCEPT call. The upstream can only send to the client's
// handler after that call: a socket's handler calls never overlap (Inline:
// one loop; Pooled: one queue), so a chunk queued meanwhile is handled
// after it, when the state is set.
//
// Bounds: a writer holds the chunk refused and those the reader sent
// before its suspend took effect (a read or two, or a pooled handler's
// queue, at most Options.MaxInbound), besides the socket's own outbound
// queue (SendHighWater).

// proxy is the listener's handler: the client side of every pair.
type proxy struct {
	rt       *sockrt.Runtime
	upstream string
	dial     actors.DialOptions
	halfOpen time.Duration
}

// upstreamSide is the handler of one pair's upstream socket.
type upstreamSide struct {
	client   *actor.PID
	halfOpen time.Duration
}

// Messages between the two handlers of a pair, and a handler's own timers.
// Local Go values: they never leave the process.
type (
	chunk         struct{ data []byte } // bytes the partner read, for this side's peer
	finMsg        struct{}              // the partner's peer sent FIN, after the chunks before it
	retryWrite    struct{}              // try the held chunks again (half-open: no FD_WRITE comes)
	closeCheck    struct{}              // ask Info again whether the FIN has gone out
	halfOpenCheck struct{}              // is the pair's half-open time over?
)

// retryEvery is how long a half-open socket (its peer sent FIN) waits to
// send a refused chunk again: after FD_CLOSE no FD_WRITE is posted
// (docs/SEMANTICS.md §4, §5), so a refusal there can only be retried.
const retryEvery = 5 * time.Millisecond

// closeEvery is how often a socket whose both directions have ended asks
// whether its FIN has gone out, to close only then: closing earlier would
// bound the flush of what is still queued by HalfOpenFlushTimeout.
const closeEvery = 20 * time.Millisecond

// halfOpenEvery is how often a half-open socket checks whether its pair's
// half-open time is over: one short timer after another, rather than one
// for the whole time, so a pair that ends leaves no timer behind for long.
const halfOpenEvery = time.Second

// end is one socket's side of a pair. Touched only by its handler.
type end struct {
	partner  *actor.PID
	halfOpen time.Duration
	pending  [][]byte  // chunks for the peer not yet written, in order
	writable bool      // the first FD_WRITE came: the socket is connected
	holding  bool      // this side has suspended the partner's reads
	finOwed  bool      // the partner's FIN waits behind pending
	finSent  bool      // SendDisconnect asked
	peerFin  bool      // this side's peer sent FIN (FD_CLOSE peer-close)
	finAt    time.Time // when it did
	sending  bool      // half-open: a Send request, or its retry, is on its way
	closing  bool      // both directions ended: closing once the FIN is out
}

// Receive is the client side: on FD_ACCEPT it stops reading the client
// (nothing is read before the upstream can take it) and dials the
// upstream, whose handler resumes the client once it is connected.
func (p *proxy) Receive(c *actors.Context) {
	if ev, ok := c.Message().(*events.Event); ok && ev.EventKind() == events.FDAccept {
		_ = c.SuspendReading() // the upstream side owns this pause from now on
		h := &upstreamSide{client: c.Self(), halfOpen: p.halfOpen}
		up, err := p.rt.Dial(context.Background(), p.upstream, h, p.dial)
		if err != nil {
			c.Close() // the runtime is stopping
			return
		}
		c.SetState(&end{partner: up, halfOpen: p.halfOpen})
		return
	}
	if e, ok := c.State().(*end); ok {
		e.receive(c)
	}
}

// Receive is the upstream side. Its end starts holding the client, which
// suspended itself for it; the first FD_WRITE (after FD_CONNECT 0) resumes
// the client, after writing any chunk that came before the suspend took
// effect (Pooled).
func (u *upstreamSide) Receive(c *actors.Context) {
	e, _ := c.State().(*end)
	if e == nil {
		e = &end{partner: u.client, halfOpen: u.halfOpen, holding: true}
		c.SetState(e)
	}
	if ev, ok := c.Message().(*events.Event); ok && ev.EventKind() == events.FDConnect && ev.Code != 0 {
		c.Send(e.partner, &actors.Close{}) // the upstream cannot be reached
		return
	}
	e.receive(c)
}

// receive is what both sides do.
func (e *end) receive(c *actors.Context) {
	switch m := c.Message().(type) {
	case *actors.Received:
		data := m.Data
		if c.Dispatch() == actors.Inline {
			data = append([]byte(nil), data...) // a view into the loop's buffer
		}
		c.Send(e.partner, &chunk{data: data})
	case *chunk:
		e.pending = append(e.pending, m.data)
		if len(e.pending) == 1 {
			e.flush(c)
		}
	case *finMsg:
		e.finOwed = true
		e.flush(c)
	case *actors.SendResult: // half-open: the answer to flush's Send
		switch err := m.Err(); {
		case err == nil:
			e.sending = false
			e.pop()
			e.flush(c)
		case errors.Is(err, winsock.ErrWouldBlock):
			e.hold(c)
			c.After(retryEvery, &retryWrite{}) // still sending: one chunk in flight
		default:
			e.fail(c)
		}
	case *retryWrite:
		e.sending = false
		e.flush(c)
	case *events.Event:
		e.event(c, m)
	case *actors.SocketInfo: // the reply to closeCheck's Info
		if m.SendShut {
			c.Close() // the FIN is out: nothing is left to flush
		} else {
			c.After(closeEvery, &closeCheck{})
		}
	case *closeCheck:
		c.Request(c.Self(), &actors.Info{})
	case *halfOpenCheck:
		if left := e.halfOpen - time.Since(e.finAt); left > 0 {
			c.After(min(left, halfOpenEvery), &halfOpenCheck{})
			return
		}
		// One direction ended e.halfOpen ago and the pair is still here:
		// reset both, before the runtime's linger would end this side
		// with a FIN that looks like a complete stream.
		c.Send(e.partner, &actors.Abort{})
		c.Abort()
	}
}

// event handles this socket's own events.
func (e *end) event(c *actors.Context, ev *events.Event) {
	switch ev.EventKind() {
	case events.FDWrite:
		e.writable = true
		e.flush(c)
	case events.FDClose:
		switch r := actors.ReasonOf(ev); {
		case r == actors.ReasonPeerClose:
			// Every byte the peer sent before its FIN has been forwarded;
			// the FIN follows them. This socket stays writable.
			e.peerFin, e.finAt = true, time.Now()
			c.Send(e.partner, &finMsg{})
			c.After(min(e.halfOpen, halfOpenEvery), &halfOpenCheck{})
			e.flush(c) // an FD_WRITE owed for a refusal will not come now
		case r == actors.ReasonShutdown || r == actors.ReasonLocalClose || r == actors.ReasonLocalAbort:
			// The runtime is stopping, or this side ended itself.
		default:
			// A reset or another abnormal end: the partner is reset too.
			c.Send(e.partner, &actors.Abort{})
			c.Close() // release now rather than after the linger
		}
	}
}

// flush writes the held chunks in order; once all are written it sends the
// partner's FIN if one is owed, resumes the partner if this side held it,
// and closes the socket once both directions have ended. A refusal holds
// the partner and waits for FD_WRITE.
//
// Half-open (this side's peer sent FIN), no FD_WRITE comes, and a pooled
// handler's Write judges the queue by the last FD_WRITE, so the chunks go
// as Send requests, one at a time: the socket answers from the loop, with
// the queue as it is, and a refused one is sent again after retryEvery.
func (e *end) flush(c *actors.Context) {
	if !e.writable || e.sending {
		return
	}
	for len(e.pending) > 0 {
		if e.peerFin {
			e.sending = true
			c.Request(c.Self(), &actors.Send{Data: e.pending[0]})
			return
		}
		_, err := c.Write(e.pending[0])
		if errors.Is(err, winsock.ErrWouldBlock) {
			e.hold(c) // FD_WRITE follows once the queue has drained
			return
		}
		if err != nil {
			e.fail(c)
			return
		}
		e.pop()
	}
	e.pending = nil // let the backing array go
	if e.finOwed && !e.finSent {
		e.finSent = true
		c.SendDisconnect() // after the writes above
	}
	if e.holding {
		e.holding = false
		c.Send(e.partner, &actors.ResumeReading{})
	}
	if e.finSent && e.peerFin && !e.closing {
		// Both directions have ended: close once the FIN is out.
		e.closing = true
		c.Request(c.Self(), &actors.Info{})
	}
}

// hold suspends the partner's reads, once: this side's peer is behind.
func (e *end) hold(c *actors.Context) {
	if !e.holding {
		e.holding = true
		c.Send(e.partner, &actors.SuspendReading{})
	}
}

// pop drops the chunk just written.
func (e *end) pop() {
	e.pending[0] = nil
	e.pending = e.pending[1:]
}

// fail ends the pair when this socket cannot send any more (reset,
// closed): the direction is broken, so the pair is.
func (e *end) fail(c *actors.Context) {
	e.pending = nil
	c.Send(e.partner, &actors.Abort{})
	c.Abort()
}
