package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"sync/atomic"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/sockactor/sockactor/actors"
	"github.com/sockactor/sockactor/events"
	"github.com/sockactor/sockactor/netio"
)

// maxLine is how much of an unfinished line the driver holds per socket;
// past it, the held bytes are echoed at once and the line goes on.
const maxLine = 64 << 10

// disconnectBufLen is the room offered for disconnect data, as the buffer
// passed to WSARecvDisconnect. TCP carries none.
const disconnectBufLen = 512

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

// driverStats are counters the tests read. Safe for concurrent use.
type driverStats struct {
	fdRead     atomic.Int64 // FD_READ events received
	recvs      atomic.Int64 // Recv requests sent
	recvData   atomic.Int64 // Recv replies that carried bytes
	wouldBlock atomic.Int64 // Recv replies WSAEWOULDBLOCK
	maxChunk   atomic.Int64 // largest Recv reply, in bytes
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
	line         []byte // the unfinished line, at most maxLine bytes
	rdCode       uint32 // the RecvDisconnect reply's code

	// Refused echoes (the peer closed first, or does not read): counted
	// and reported once, on stderr, when the socket finishes.
	sendFails    int
	sendLastCode uint32
}

// driver is the "window procedure": the actor subscribed runtime-wide to
// FD_ACCEPT, FD_READ and FD_CLOSE that pulls, echoes and closes every
// socket. protoactor runs it one message at a time; all its fields belong
// to it.
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

	// Replies. Each comes with the socket's PID as sender (replyPort puts
	// it there), which is how the driver tells the sockets apart.
	case *actors.RecvResult:
		if st := d.replied(ctx, reqRecv); st != nil {
			d.onRecv(ctx, st, m.Data, m.Code)
		}
	case *actors.SendResult:
		if st := d.replied(ctx, reqSend); st != nil {
			d.onSend(st, m.Code)
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
		d.answerOldest(ctx, uint32(netio.WSAENOTSOCK))
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
		d.onSend(st, code)
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
	case events.FDClose:
		// The last event for this socket. Pull what is left, then finish.
		st.closed, st.reason = true, ev.GetReason()
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
	st := &sockState{id: id, pid: pid}
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

// recv sends one Recv unless one is outstanding or nothing more can come.
func (d *driver) recv(ctx actor.Context, st *sockState) {
	if st.pulling || st.drained || st.finishing {
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
	case netio.Code(code) == netio.WSAEWOULDBLOCK:
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

// consume counts data and echoes its complete lines, upper-cased, in one
// Send. data is the reply's own buffer and is not kept.
func (d *driver) consume(ctx actor.Context, st *sockState, data []byte) {
	st.bytes += uint64(len(data))
	var echo []byte
	for len(data) > 0 {
		i := bytes.IndexByte(data, '\n')
		if i < 0 {
			if len(st.line)+len(data) > maxLine {
				// Too long to hold: echo what is held, keep the rest.
				echo = appendUpper(echo, st.line)
				st.line = st.line[:0]
				if len(data) > maxLine {
					echo = appendUpper(echo, data)
					data = nil
				}
			}
			st.line = append(st.line, data...)
			break
		}
		st.lines++
		echo = appendUpper(appendUpper(echo, st.line), data[:i+1])
		st.line = st.line[:0]
		data = data[i+1:]
	}
	if cap(st.line) > 4<<10 && len(st.line) == 0 {
		st.line = nil // do not keep a long line's buffer
	}
	if len(echo) > 0 {
		d.request(ctx, st, reqSend, &actors.Send{Data: echo})
	}
}

// onSend counts a refused echo; the demo drops it. WSAENOTCONN is the
// usual cause: the peer closed, and the circuit with it, before its echo
// went out. WSAEWOULDBLOCK means the peer stopped reading (a real program
// would keep the bytes and wait for FD_WRITE).
func (d *driver) onSend(st *sockState, code uint32) {
	if code != 0 {
		st.sendFails++
		st.sendLastCode = code
	}
}

// maybeFinish starts the end of a socket once FD_CLOSE came and it is
// drained: RecvDisconnect, as a Winsock program does after FD_CLOSE to
// collect the disconnect data, then Close.
func (d *driver) maybeFinish(ctx actor.Context, st *sockState) {
	if !st.closed || !st.drained || st.pulling || st.finishing {
		return
	}
	st.finishing = true
	st.line = nil
	d.request(ctx, st, reqRecvDisconnect, &actors.RecvDisconnect{BufferLen: disconnectBufLen})
}

func (d *driver) onRecvDisconnect(ctx actor.Context, st *sockState, code uint32) {
	st.rdCode = code
	d.request(ctx, st, reqClose, &actors.Close{})
}

// onClose ends a socket: its line is printed and its state dropped.
func (d *driver) onClose(ctx actor.Context, st *sockState, code uint32) {
	if st.sendFails > 0 {
		c := netio.Code(st.sendLastCode)
		fmt.Fprintf(d.stderr, "pull: socket %d: %d echo sends refused (last %s %d)\n", st.id, st.sendFails, c.Name(), c)
	}
	if code != 0 && netio.Code(code) != netio.WSAENOTSOCK && netio.Code(code) != netio.WSAENETDOWN {
		fmt.Fprintf(d.stderr, "pull: socket %d: close: %s (%d)\n", st.id, netio.Code(code).Name(), code)
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
