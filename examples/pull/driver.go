package main

import (
	"encoding/json"
	"fmt"
	"io"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/sockactor/sockactor/actors"
	"github.com/sockactor/sockactor/events"
	"github.com/sockactor/sockactor/framing"
	"github.com/sockactor/sockactor/winsock"
)

// maxLine is how much of an unfinished line the driver holds per socket;
// past it, the line is echoed in pieces of maxLine bytes as it arrives
// (framing.Lines with Split).
const maxLine = 64 << 10

// disconnectBufLen is the room offered for disconnect data, as the buffer
// passed to WSARecvDisconnect. TCP carries none.
const disconnectBufLen = 512

// Echo output. Echoes wait in a per-socket outbox and go out as Sends, one
// outstanding at a time (a Send is all or nothing, and a refused one must
// not let a later one overtake it).
const (
	// sendChunk is the most bytes one echo Send carries, well under the
	// runtime's SendHighWater minus SendLowWater, so a Send made after an
	// FD_WRITE fits.
	sendChunk = 32 << 10
	// maxOutbox is how many echo bytes a socket may hold before the driver
	// stops pulling from it. Unread bytes then wait in the socket actor,
	// which closes the socket with FD_CLOSE 10055 "limit" past
	// runtime.Options.MaxInbound: a peer that writes and never reads costs
	// bounded memory.
	maxOutbox = 256 << 10
	// retryMin and retryMax bound the delay before a refused Send is
	// retried once FD_CLOSE has been seen (see onSend).
	retryMin = time.Millisecond
	retryMax = 32 * time.Millisecond
)

// summary is the JSON line printed for each finished socket.
type summary struct {
	Socket             uint64 `json:"socket"`
	Bytes              uint64 `json:"bytes"`
	Lines              uint64 `json:"lines"`
	CloseReason        string `json:"close_reason"`
	RecvDisconnectCode uint32 `json:"recv_disconnect_code"`
}

// awaitIdle asks the driver to answer (with idle) once it has no socket
// left. The server sends it after the runtime's Shutdown.
type awaitIdle struct{}

// idle answers awaitIdle.
type idle struct{}

// sendRetry is the driver's own timer message: retry the refused Send of
// socket id (see onSend).
type sendRetry struct{ id uint64 }

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

// req is the kind of a request outstanding on a socket.
type req uint8

const (
	reqRecv req = iota
	reqSend
	reqRecvDisconnect
	reqClose
)

// sockState is the driver's view of one socket. Owned by the driver actor.
type sockState struct {
	id   uint64
	pid  *actor.PID // the socket actor
	port *actor.PID // where the socket's replies go (see replyPort)

	// pending lists the requests sent and not yet answered, oldest first.
	// A socket answers its requests in the order it got them, and so does
	// protoactor's dead-letter process once the socket is released; a
	// DeadLetterResponse, which names no request, answers pending[0].
	pending []req

	pulling   bool   // a Recv is outstanding
	readAgain bool   // an FD_READ came while that Recv was outstanding
	drained   bool   // a Recv said no byte will ever come again
	closed    bool   // FD_CLOSE seen
	reason    string // the FD_CLOSE reason
	finishing bool   // RecvDisconnect (then Close) sent

	bytes, lines uint64
	line         framing.Lines // cuts the pulled bytes into lines; holds at most maxLine bytes
	rdCode       uint32        // the RecvDisconnect reply's code

	// Echo output (see flush and onSend).
	outbox     []byte        // echo bytes no Send has taken yet, oldest first
	sending    int           // bytes of the Send outstanding; 0 if none
	blocked    bool          // the last Send was refused WSAEWOULDBLOCK: waiting to retry
	writeAgain bool          // an FD_WRITE came while the Send was outstanding
	stalled    bool          // pulling stopped because the outbox is full
	retry      *time.Timer   // pending sendRetry (after FD_CLOSE)
	retryDelay time.Duration // the last retry delay; 0 after a success

	// A Send refused for good (the connection was reset, the socket was
	// released, ...): from then on echoes are dropped, and the socket's
	// lost echo is reported once, on stderr, when it finishes.
	sendDead     bool
	sendLastCode uint32
	sendLost     uint64 // echo bytes never sent
}

// driver is the "window procedure": the actor subscribed runtime-wide to
// FD_ACCEPT, FD_READ, FD_WRITE and FD_CLOSE that pulls, echoes and closes
// every socket. protoactor runs it one message at a time; all its fields
// belong to it.
type driver struct {
	max    int64
	socks  map[uint64]*sockState
	out    *lineWriter
	stderr io.Writer
	ready  <-chan struct{} // closed once the "listening" line is out
	stats  *driverStats
	// waiters are the senders of awaitIdle, answered when socks is empty.
	waiters []*actor.PID
}

func newDriver(max int, out *lineWriter, stderr io.Writer, ready <-chan struct{}, stats *driverStats) *driver {
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

// done removes the oldest outstanding request of kind k.
func (st *sockState) done(k req) {
	for i, p := range st.pending {
		if p == k {
			st.pending = append(st.pending[:i], st.pending[i+1:]...)
			return
		}
	}
}

// recv sends one Recv unless one is outstanding, nothing more can come, or
// the outbox is full (then the Send that empties it pulls again).
func (d *driver) recv(ctx actor.Context, st *sockState) {
	if st.pulling || st.drained || st.finishing {
		return
	}
	if len(st.outbox) >= maxOutbox {
		st.stalled = true
		return
	}
	st.pulling, st.readAgain = true, false
	d.stats.recvs.Add(1)
	d.request(ctx, st, reqRecv, &actors.Recv{Max: d.max})
}

// onRecv handles a Recv reply: the heart of the pull loop.
func (d *driver) onRecv(ctx actor.Context, st *sockState, data []byte, code uint32) {
	st.pulling = false
	switch {
	case code == 0 && len(data) > 0:
		d.stats.recvData.Add(1)
		if n := int64(len(data)); n > d.stats.maxChunk.Load() {
			d.stats.maxChunk.Store(n)
		}
		d.consume(ctx, st, data)
		// There may be more: keep pulling until WSAEWOULDBLOCK.
		d.recv(ctx, st)
	case code == 0:
		// 0 bytes, code 0: the peer closed and everything was read.
		st.drained = true
	case winsock.Code(code) == winsock.WSAEWOULDBLOCK:
		d.stats.wouldBlock.Add(1)
		// Drained for now, and FD_READ is enabled again: wait for it.
		// Unless an FD_READ or the FD_CLOSE came while this Recv was
		// outstanding: events come straight from the socket's event loop
		// while replies take one more hop (the reply port), so this
		// answer may predate them. Pull once more; at worst that is one
		// more WSAEWOULDBLOCK.
		if st.readAgain || st.closed {
			d.recv(ctx, st)
		}
	default:
		// WSAECONNRESET, WSAENOTCONN (closed locally), WSAENOTSOCK
		// (released), ...: nothing more will come.
		st.drained = true
	}
	d.maybeFinish(ctx, st)
}

// consume counts data and queues the echo of its complete lines,
// upper-cased, in the outbox. data is the reply's own buffer and is not
// kept.
func (d *driver) consume(ctx actor.Context, st *sockState, data []byte) {
	st.bytes += uint64(len(data))
	echo := st.outbox // appended to: a Send outstanding holds only outbox[:sending]
	for line, err := range st.line.Frames(data) {
		if err != nil {
			// A piece of a line longer than maxLine: echoed as it comes.
			echo = appendUpper(echo, line)
			continue
		}
		st.lines++
		echo = append(appendUpper(echo, line), '\n')
	}
	if st.sendDead {
		st.sendLost += uint64(len(echo) - len(st.outbox))
		return
	}
	st.outbox = echo
	d.flush(ctx, st)
}

// flush sends the head of the outbox unless a Send is outstanding or the
// last one was refused and waits for its retry.
func (d *driver) flush(ctx actor.Context, st *sockState) {
	if st.sending > 0 || st.blocked || st.sendDead || len(st.outbox) == 0 {
		return
	}
	st.sending = min(len(st.outbox), sendChunk)
	st.writeAgain = false
	if st.closed {
		d.stats.closedSends.Add(1)
	}
	// The Send holds outbox[:sending] until its reply: consume only
	// appends past it, and onSend only moves past it.
	d.request(ctx, st, reqSend, &actors.Send{Data: st.outbox[:st.sending:st.sending]})
}

// onSend handles the reply to an echo Send.
//
// WSAEWOULDBLOCK (the peer reads slower than it writes, so the socket's
// output passed SendHighWater; nothing was queued) keeps the bytes for a
// retry. While the socket is open the retry waits for FD_WRITE, as a
// Winsock program does. Once FD_CLOSE has been seen no FD_WRITE will come
// (FD_CLOSE stays the last event, docs/SEMANTICS.md §4), yet a half-closed
// peer may still be reading its answer: the driver then retries the same
// Send on a timer, after 1 ms, doubling up to 32 ms while it keeps being
// refused. That was chosen over polling Info.queued_out because a retried
// Send is one request instead of two and answers the same question (can
// the socket take these bytes now?) without a race between the two. The
// retries are bounded: when the socket's linger expires (Options.Linger)
// it is released, the next Send answers WSAENOTSOCK, and the rest of the
// echo is dropped and reported.
//
// Any other code (WSAECONNRESET, WSAENOTCONN, WSAENOTSOCK, WSAENETDOWN,
// ...) means the echo can never go out: the outbox is dropped, later
// echoes too, and the loss is reported on stderr when the socket finishes.
func (d *driver) onSend(ctx actor.Context, st *sockState, code uint32) {
	n := st.sending
	st.sending = 0
	switch {
	case code == 0:
		st.outbox = st.outbox[n:]
		if len(st.outbox) == 0 {
			st.outbox = nil // a fresh buffer next time; the sent one is not reused
		}
		st.retryDelay = 0
		if st.stalled && len(st.outbox) < maxOutbox {
			st.stalled = false
			d.recv(ctx, st)
		}
		d.flush(ctx, st)
	case winsock.Code(code) == winsock.WSAEWOULDBLOCK:
		d.stats.sendBlocked.Add(1)
		if st.closed {
			d.stats.sendBlockedClosed.Add(1)
		}
		st.blocked = true
		switch {
		case st.writeAgain:
			// An FD_WRITE came after this Send was made: it may be the
			// one its refusal armed. Retry now (at worst, once more
			// refused, which arms the next FD_WRITE).
			d.unblock(ctx, st)
		case st.closed:
			d.scheduleRetry(ctx, st)
		}
		// Otherwise wait for FD_WRITE, or for FD_CLOSE, which starts
		// the timer.
	default:
		st.sendDead, st.sendLastCode = true, code
		st.sendLost += uint64(len(st.outbox))
		st.outbox = nil
		if st.stalled {
			st.stalled = false
			d.recv(ctx, st) // go on pulling: the input is still counted
		}
	}
	d.maybeFinish(ctx, st)
}

// unblock retries a refused Send.
func (d *driver) unblock(ctx actor.Context, st *sockState) {
	if !st.blocked {
		return
	}
	st.blocked = false
	d.flush(ctx, st)
}

// scheduleRetry arms the timer that retries a refused Send after FD_CLOSE.
func (d *driver) scheduleRetry(ctx actor.Context, st *sockState) {
	st.retryDelay = min(max(2*st.retryDelay, retryMin), retryMax)
	root, self, id := ctx.ActorSystem().Root, ctx.Self(), st.id
	st.retry = time.AfterFunc(st.retryDelay, func() { root.Send(self, sendRetry{id}) })
}

// maybeFinish starts the end of a socket once FD_CLOSE came, it is
// drained and its whole echo was taken by the socket (every Send answered):
// RecvDisconnect, as a Winsock program does after FD_CLOSE to collect the
// disconnect data, then Close, which flushes what the socket still holds
// before its FIN.
func (d *driver) maybeFinish(ctx actor.Context, st *sockState) {
	if !st.closed || !st.drained || st.pulling || st.finishing || st.sending > 0 || len(st.outbox) > 0 {
		return
	}
	st.finishing = true
	st.line.Reset()
	d.request(ctx, st, reqRecvDisconnect, &actors.RecvDisconnect{BufferLen: disconnectBufLen})
}

func (d *driver) onRecvDisconnect(ctx actor.Context, st *sockState, code uint32) {
	st.rdCode = code
	d.request(ctx, st, reqClose, &actors.Close{})
}

// onClose ends a socket: its line is printed and its state dropped.
func (d *driver) onClose(ctx actor.Context, st *sockState, code uint32) {
	if st.sendDead && st.sendLost > 0 {
		c := winsock.Code(st.sendLastCode)
		fmt.Fprintf(d.stderr, "pull: socket %d: echo send refused (%s %d): %d echo bytes not sent\n", st.id, c.Name(), c, st.sendLost)
	}
	if code != 0 && winsock.Code(code) != winsock.WSAENOTSOCK && winsock.Code(code) != winsock.WSAENETDOWN {
		fmt.Fprintf(d.stderr, "pull: socket %d: close: %s (%d)\n", st.id, winsock.Code(code).Name(), code)
	}
	line, err := json.Marshal(summary{
		Socket:             st.id,
		Bytes:              st.bytes,
		Lines:              st.lines,
		CloseReason:        st.reason,
		RecvDisconnectCode: st.rdCode,
	})
	if err == nil { // cannot fail for these field types
		<-d.ready
		_ = d.out.writeLine(line) // the error is kept and reported by Shutdown
	}
	if st.retry != nil {
		st.retry.Stop()
	}
	ctx.Stop(st.port)
	delete(d.socks, st.id)
	d.answerIdle(ctx)
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

// appendUpper appends p to dst with ASCII a-z upper-cased; other bytes
// (UTF-8 included) are copied unchanged, so a line split across Recv
// replies upper-cases the same as whole.
func appendUpper(dst, p []byte) []byte {
	for _, b := range p {
		if 'a' <= b && b <= 'z' {
			b -= 'a' - 'A'
		}
		dst = append(dst, b)
	}
	return dst
}
