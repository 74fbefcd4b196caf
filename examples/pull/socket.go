package main

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/sockactor/sockactor/actors"
	"github.com/sockactor/sockactor/framing"
	"github.com/sockactor/sockactor/winsock"
)

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

// done removes the oldest outstanding request of kind k.
func (st *sockState) done(k req) {
	for i, p := range st.pending {
		if p == k {
			st.pending = append(st.pending[:i], st.pending[i+1:]...)
			return
		}
	}
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
		_ = d.out.WriteLine(line) // the error is kept and reported by Shutdown
	}
	if st.retry != nil {
		st.retry.Stop()
	}
	ctx.Stop(st.port)
	delete(d.socks, st.id)
	d.answerIdle(ctx)
}
