package servers

import (
	"errors"
	"time"

	"github.com/sockactor/sockactor/actors"
	"github.com/sockactor/sockactor/events"
	"github.com/sockactor/sockactor/winsock"
)

// floodLeft is a flood writer's count of bytes still to write to its
// socket (the handler's state).
type floodLeft struct{ n int }

// floodWriter is the handler of the flood-writer mode: on every FD_WRITE
// (the first follows FD_ACCEPT) it writes FloodChunk after FloodChunk
// until the socket's flood is written or a write is refused. A refusal
// (WSAEWOULDBLOCK, the queue over the high-water mark) owes an FD_WRITE
// once the queue drains below the low-water mark, and the writer goes on
// then; against a peer that never reads it waits for good, which is what
// the hostile scenario measures. What the peer sends is discarded.
func (s *sockactorServer) floodWriter(c *actors.Context) {
	ev, ok := c.Message().(*events.Event)
	if !ok {
		return
	}
	switch events.Kind(ev.Kind) {
	case events.FDWrite:
		left, _ := c.State().(*floodLeft)
		if left == nil {
			left = &floodLeft{n: s.flood}
			c.SetState(left)
		}
		for left.n > 0 {
			n := min(left.n, FloodChunk)
			if _, err := c.Write(floodBuf[:n]); err != nil {
				return // refused: FD_WRITE follows the drain; or the socket is going
			}
			left.n -= n
		}
	case events.FDClose:
		closeOnPeerClose(c, ev)
	}
}

// slowPooled is the pooled handler of the slow-consumer mode: it sleeps
// after every read, long enough to keep the socket at the consumer's rate
// (a pooled handler may block). The runtime pauses the socket's reads once
// MaxInbound bytes wait for it, so TCP's flow control holds the peer.
func (s *sockactorServer) slowPooled(c *actors.Context) {
	switch m := c.Message().(type) {
	case *actors.Received:
		p, _ := c.State().(*pacer)
		if p == nil {
			p = &pacer{period: s.period}
			c.SetState(p)
		}
		s.consumed.bytes.Add(int64(len(m.Data)))
		time.Sleep(p.after(len(m.Data)))
	case *events.Event:
		s.consumerEvent(c, m, true)
	}
}

// consumeTick is the pull reader's timer: Recv the next bite.
type consumeTick struct{}

// pullReader is the Inline handler of the slow-consumer mode, on a
// pull-mode listener: it Recvs up to ConsumeChunk once per period (a
// timer, c.After: an Inline handler must not block), from FD_ACCEPT until
// the stream has ended. The bytes wait in the socket meanwhile; the runtime
// pauses its reads once MaxInbound of them wait.
func (s *sockactorServer) pullReader(c *actors.Context) {
	switch m := c.Message().(type) {
	case *events.Event:
		if m.EventKind() == events.FDAccept {
			c.SetState(&pacer{period: s.period})
			c.Recv(ConsumeChunk)
		}
		s.consumerEvent(c, m, false)
	case *consumeTick:
		c.Recv(ConsumeChunk)
	case *actors.RecvResult:
		s.consumed.bytes.Add(int64(len(m.Data)))
		switch err := m.Err(); {
		case err == nil && len(m.Data) == 0:
			c.Close() // 0 bytes, code 0: the peer's FIN, every byte taken
		case err == nil || errors.Is(err, winsock.ErrWouldBlock):
			p := c.State().(*pacer)
			c.After(p.after(ConsumeChunk), &consumeTick{})
		}
		// Any other code: the socket is gone, and so is the timer's reason.
	}
}

// consumerEvent counts a slow consumer's accepted sockets and the ones
// that ended otherwise than by their peer's FIN (or the server's stop),
// and closes a push socket at its peer's FIN (a pull socket closes once
// Recv has said the stream ended).
func (s *sockactorServer) consumerEvent(c *actors.Context, ev *events.Event, push bool) {
	switch ev.EventKind() {
	case events.FDAccept:
		s.consumed.conns.Add(1)
	case events.FDClose:
		if r := actors.ReasonOf(ev); r != actors.ReasonPeerClose && r != actors.ReasonShutdown && r != actors.ReasonLocalClose {
			s.consumed.closed.Add(1)
		}
		if push {
			closeOnPeerClose(c, ev)
		}
	}
}

// ConsumerStats implements Consumer.
func (s *sockactorServer) ConsumerStats() ConsumerStats { return s.consumed.stats() }
