package main

import (
	"io"
	"sync/atomic"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/sockactor/sockactor/actors"
	"github.com/sockactor/sockactor/events"
	"github.com/sockactor/sockactor/examples/internal/lineout"
	"github.com/sockactor/sockactor/framing"
	"github.com/sockactor/sockactor/winsock"
)

// awaitIdle asks the driver to answer (with idle) once it has no socket
// left. The server sends it after the runtime's Shutdown.
type awaitIdle struct{}

// idle answers awaitIdle.
type idle struct{}

// driverStats are counters the tests read. Safe for concurrent use.
type driverStats struct {
	fdRead     atomic.Int64 // FD_READ events received
	recvs      atomic.Int64 // Recv requests sent
	recvData   atomic.Int64 // Recv replies that carried bytes
	wouldBlock atomic.Int64 // Recv replies WSAEWOULDBLOCK
	maxChunk   atomic.Int64 // largest Recv reply, in bytes

	closedSends       atomic.Int64 // echo Sends made after the socket's FD_CLOSE
	sendBlocked       atomic.Int64 // Send replies WSAEWOULDBLOCK
	sendBlockedClosed atomic.Int64 // of those, after the socket's FD_CLOSE
	sendRetries       atomic.Int64 // Sends retried by the timer (after FD_CLOSE)
	fdWriteResumes    atomic.Int64 // refused Sends resumed by an FD_WRITE
}

// driver is the "window procedure": the actor subscribed runtime-wide to
// FD_ACCEPT, FD_READ, FD_WRITE and FD_CLOSE that pulls, echoes and closes
// every socket. protoactor runs it one message at a time; all its fields
// belong to it.
type driver struct {
	max    int64
	socks  map[uint64]*sockState
	out    *lineout.Writer
	stderr io.Writer
	ready  <-chan struct{} // closed once the "listening" line is out
	stats  *driverStats
	// waiters are the senders of awaitIdle, answered when socks is empty.
	waiters []*actor.PID
}

func newDriver(max int, out *lineout.Writer, stderr io.Writer, ready <-chan struct{}, stats *driverStats) *driver {
	return &driver{
		max:    int64(max),
		socks:  make(map[uint64]*sockState),
		out:    out,
		stderr: stderr,
		ready:  ready,
		stats:  stats,
	}
}

// Receive implements actor.Actor.
func (d *driver) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *events.Event:
		d.event(ctx, m)
	case awaitIdle:
		d.waiters = append(d.waiters, ctx.Sender())
		d.answerIdle(ctx)
	case sendRetry:
		if st := d.socks[m.id]; st != nil && st.retry != nil {
			st.retry = nil
			d.stats.sendRetries.Add(1)
			d.unblock(ctx, st)
		}

	// Replies. Each comes with the socket's PID as sender (replyPort puts
	// it there), which is how the driver tells the sockets apart.
	case *actors.RecvResult:
		if st := d.replied(ctx, reqRecv); st != nil {
			d.onRecv(ctx, st, m.Data, m.Code)
		}
	case *actors.SendResult:
		if st := d.replied(ctx, reqSend); st != nil {
			d.onSend(ctx, st, m.Code)
		}
	case *actors.RecvDisconnectResult:
		if st := d.replied(ctx, reqRecvDisconnect); st != nil {
			d.onRecvDisconnect(ctx, st, m.Code)
		}
	case *actors.CloseResult:
		if st := d.replied(ctx, reqClose); st != nil {
			d.onClose(ctx, st, m.Code)
		}
	case *actor.DeadLetterResponse:
		// The socket was released (its linger ran out, or the runtime
		// shut down) and protoactor answered for it.
		d.answerOldest(ctx, uint32(winsock.WSAENOTSOCK))
	case *actors.Error:
		// The socket refused a request outright (never for the requests
		// the driver makes; handled so that nothing stays pending).
		d.answerOldest(ctx, m.Code)
	}
}

// answerOldest handles a reply that names no request (a dead-letter
// response, an Error) as the answer, with code, to the socket's oldest
// outstanding request.
func (d *driver) answerOldest(ctx actor.Context, code uint32) {
	st := d.socks[actors.SocketIDOf(ctx.Sender())]
	if st == nil || len(st.pending) == 0 {
		return
	}
	k := st.pending[0]
	st.done(k)
	switch k {
	case reqRecv:
		d.onRecv(ctx, st, nil, code)
	case reqSend:
		d.onSend(ctx, st, code)
	case reqRecvDisconnect:
		d.onRecvDisconnect(ctx, st, code)
	case reqClose:
		d.onClose(ctx, st, code)
	}
}

// event handles one FD_* notification.
func (d *driver) event(ctx actor.Context, ev *events.Event) {
	st := d.socket(ctx, ev)
	if st == nil {
		return
	}
	switch ev.EventKind() {
	case events.FDAccept:
		// Nothing to do yet: the state now exists.
	case events.FDRead:
		d.stats.fdRead.Add(1)
		if st.pulling {
			// The outstanding Recv may have been handled before this
			// FD_READ was posted: if it answers WSAEWOULDBLOCK, pull
			// again, or this FD_READ would be lost (and, by the
			// re-enabling rule, every later one with it).
			st.readAgain = true
		}
		d.recv(ctx, st)
	case events.FDWrite:
		// Posted once after FD_ACCEPT, then after a refused Send once the
		// socket's output has drained below its low-water mark.
		if st.sending > 0 {
			// The FD_WRITE may have overtaken the refusal it answers
			// (events come straight from the loop, replies through the
			// reply port): onSend retries at once.
			st.writeAgain = true
		}
		if st.blocked {
			d.stats.fdWriteResumes.Add(1)
			d.unblock(ctx, st)
		}
	case events.FDClose:
		// The last event for this socket. Pull what is left, echo it, then
		// finish. After a peer close (FIN) the socket stays writable, so
		// the echo of everything pulled still goes out
		// (docs/SEMANTICS.md §5).
		st.closed, st.reason = true, ev.GetReason()
		if st.blocked && st.retry == nil {
			// No FD_WRITE comes after FD_CLOSE: retry on a timer.
			d.scheduleRetry(ctx, st)
		}
		d.recv(ctx, st)
		d.maybeFinish(ctx, st)
	}
}

// socket returns the state of the event's socket, making it (and its reply
// port) on the first event. Events for one socket arrive in order, FD_CLOSE
// last, so no event comes for a socket after it finished.
func (d *driver) socket(ctx actor.Context, ev *events.Event) *sockState {
	id := ev.GetSocketId()
	if st := d.socks[id]; st != nil {
		return st
	}
	pid := ev.PID()
	if pid == nil {
		return nil
	}
	st := &sockState{id: id, pid: pid, line: framing.Lines{Max: maxLine, Split: true}}
	st.port = ctx.Spawn(actor.PropsFromProducer(func() actor.Actor { return &replyPort{sock: pid} }))
	d.socks[id] = st
	return st
}

// replied returns the state of the socket that sent the current reply and
// marks a request of kind k answered; nil for an unknown socket.
func (d *driver) replied(ctx actor.Context, k req) *sockState {
	st := d.socks[actors.SocketIDOf(ctx.Sender())]
	if st != nil {
		st.done(k)
	}
	return st
}

// request sends msg to the socket as a request whose reply comes back to
// the driver as a message (no future, nothing blocks).
func (d *driver) request(ctx actor.Context, st *sockState, k req, msg any) {
	st.pending = append(st.pending, k)
	ctx.RequestWithCustomSender(st.pid, msg, st.port)
}

// answerIdle answers the awaitIdle requests once no socket is left.
func (d *driver) answerIdle(ctx actor.Context) {
	if len(d.socks) > 0 {
		return
	}
	for _, w := range d.waiters {
		if w != nil {
			ctx.Send(w, idle{})
		}
	}
	d.waiters = nil
}

// replyPort is the address one socket's replies are sent to. It hands each
// reply to the driver (its parent) with the socket's PID as the sender, so
// the driver can use actors.SocketIDOf(ctx.Sender()) on every reply.
//
// A live socket names itself as the sender of its replies, so for those
// ctx.Request would do. The port is for the replies that come after a
// socket is released: protoactor's dead-letter process answers them with a
// DeadLetterResponse that names no socket, and through the port the driver
// still knows which socket's request it answers.
type replyPort struct {
	sock *actor.PID
}

// Receive implements actor.Actor.
func (p *replyPort) Receive(ctx actor.Context) {
	switch ctx.Message().(type) {
	case *actor.Started, *actor.Stopping, *actor.Stopped, *actor.Restarting:
		return
	}
	ctx.RequestWithCustomSender(ctx.Parent(), ctx.Message(), p.sock)
}
