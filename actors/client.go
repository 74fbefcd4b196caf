package actors

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/sockactor/sockactor/events"
	"github.com/sockactor/sockactor/winsock"
)

// DefaultTimeout bounds a Caller request when neither Caller.Timeout nor the
// context's deadline says otherwise.
const DefaultTimeout = 5 * time.Second

// Caller wraps the request/reply exchange with a socket actor for code that
// is not an actor. Every method sends one request to the PID and turns the
// reply's code into an error (nil for 0), a *winsock.OpError carrying a
// winsock.Code, that works with errors.Is against package winsock's named
// errors (winsock.ErrNotConn, winsock.ErrWouldBlock, ...) and against their
// syscall twins (syscall.ENOTCONN, ...).
//
// A released socket or unknown PID gives WSAENOTSOCK (winsock.ErrNotSock); no
// reply in time gives WSAETIMEDOUT (winsock.ErrTimedOut); a cancelled context
// gives ctx.Err().
//
// Caller is a small value; it is safe for concurrent use. Do not call it
// from an Inline handler (it would wait on the loop that must answer): use
// Context.Request there.
type Caller struct {
	System  *actor.ActorSystem
	Timeout time.Duration // 0 means DefaultTimeout
}

// NewSubscribe builds a Subscribe message for subscriber and mask.
func NewSubscribe(subscriber *actor.PID, mask events.Mask) *Subscribe {
	if subscriber == nil {
		return &Subscribe{Mask: uint32(mask)}
	}
	return &Subscribe{SubscriberAddress: subscriber.Address, SubscriberId: subscriber.Id, Mask: uint32(mask)}
}

// NewUnsubscribe builds an Unsubscribe message for subscriber.
func NewUnsubscribe(subscriber *actor.PID) *Unsubscribe {
	if subscriber == nil {
		return &Unsubscribe{}
	}
	return &Unsubscribe{SubscriberAddress: subscriber.Address, SubscriberId: subscriber.Id}
}

// SocketIDOf returns the numeric id in a socket PID ("sock/42" -> 42), or 0.
func SocketIDOf(pid *actor.PID) uint64 {
	if pid == nil || !strings.HasPrefix(pid.Id, pidPrefix) {
		return 0
	}
	rest := pid.Id[len(pidPrefix):]
	if i := strings.IndexByte(rest, '/'); i >= 0 {
		rest = rest[:i]
	}
	id, err := strconv.ParseUint(rest, 10, 64)
	if err != nil {
		return 0
	}
	return id
}

// replyBox is the one-shot process a Caller request is sent from: the reply
// (or protoactor's DeadLetterResponse) lands in its channel on the
// replier's goroutine, and the caller waits on that channel on its own, so a
// request starts no goroutine. Safe for concurrent use.
type replyBox chan any

func (b replyBox) SendUserMessage(_ *actor.PID, m any) {
	_, msg, _ := actor.UnwrapEnvelope(m)
	select {
	case b <- msg:
	default: // a second message for a one-shot request: not a reply to it
	}
}
func (replyBox) SendSystemMessage(*actor.PID, any) {}
func (replyBox) Stop(*actor.PID)                   {}

func (c Caller) call(ctx context.Context, op string, pid *actor.PID, req any) (any, error) {
	opErr := func(code winsock.Code, detail string) error {
		return &winsock.OpError{Op: op, Socket: SocketIDOf(pid), Code: code, Detail: detail}
	}
	if c.System == nil {
		return nil, opErr(winsock.WSANOTINITIALISED, "no actor system")
	}
	if pid == nil {
		return nil, opErr(winsock.WSAENOTSOCK, "nil PID")
	}
	timeout := c.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	ctxBound := false // the context's deadline comes first: its error wins
	if dl, ok := ctx.Deadline(); ok && time.Until(dl) < timeout {
		timeout, ctxBound = time.Until(dl), true
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if timeout <= 0 {
		return nil, context.DeadlineExceeded
	}
	box := make(replyBox, 1)
	from, _ := c.System.ProcessRegistry.Add(box, "sockactor-call$"+c.System.ProcessRegistry.NextId())
	defer c.System.ProcessRegistry.Remove(from)
	c.System.Root.RequestWithCustomSender(pid, req, from)
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	var reply any
	select {
	case reply = <-box:
	case <-timer.C:
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if ctxBound { // the timer ran out a hair before the context did
			return nil, context.DeadlineExceeded
		}
		return nil, opErr(winsock.WSAETIMEDOUT, "no reply")
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	switch m := reply.(type) {
	case *actor.DeadLetterResponse:
		return nil, opErr(winsock.WSAENOTSOCK, "")
	case *Error:
		return nil, opErr(winsock.Code(m.Code), m.Detail)
	}
	return reply, nil
}

func codeErr(op string, pid *actor.PID, code uint32, detail string) error {
	if code == 0 {
		return nil
	}
	return &winsock.OpError{Op: op, Socket: SocketIDOf(pid), Code: winsock.Code(code), Detail: detail}
}

// detailed is a reply that says why it failed (ConnectResult,
// SuspendReadingResult, ResumeReadingResult).
type detailed interface{ GetDetail() string }

// coded is a reply that carries a Winsock code (every result message).
type coded interface{ GetCode() uint32 }

// request sends req to pid, checks that the reply is a T and turns its code
// into the error (nil for 0). On an error of the exchange itself, or a reply
// of another type, the T is nil.
func request[T coded](ctx context.Context, c Caller, op string, pid *actor.PID, req any) (T, error) {
	var none T
	r, err := c.call(ctx, op, pid, req)
	if err != nil {
		return none, err
	}
	m, ok := r.(T)
	if !ok {
		return none, unexpected(op, pid, r)
	}
	var detail string
	if d, ok := any(m).(detailed); ok {
		detail = d.GetDetail()
	}
	return m, codeErr(op, pid, m.GetCode(), detail)
}

func unexpected(op string, pid *actor.PID, m any) error {
	return &winsock.OpError{Op: op, Socket: SocketIDOf(pid), Code: winsock.WSAEINVAL, Detail: fmt.Sprintf("unexpected reply %T", m)}
}

// Send queues data for the peer and returns how many bytes were accepted.
func (c Caller) Send(ctx context.Context, pid *actor.PID, data []byte) (int, error) {
	m, err := request[*SendResult](ctx, c, "Send", pid, &Send{Data: data})
	return int(m.GetN()), err
}

// Recv pulls up to max buffered bytes.
func (c Caller) Recv(ctx context.Context, pid *actor.PID, max int) ([]byte, error) {
	m, err := request[*RecvResult](ctx, c, "Recv", pid, &Recv{Max: int64(max)})
	return m.GetData(), err
}

// RecvDisconnect terminates reception (docs/SEMANTICS.md §3) and returns the
// disconnect data (always empty for TCP).
func (c Caller) RecvDisconnect(ctx context.Context, pid *actor.PID) ([]byte, error) {
	m, err := request[*RecvDisconnectResult](ctx, c, "RecvDisconnect", pid, &RecvDisconnect{})
	return m.GetData(), err
}

// SendDisconnect flushes queued data and sends FIN.
func (c Caller) SendDisconnect(ctx context.Context, pid *actor.PID) error {
	_, err := request[*SendDisconnectResult](ctx, c, "SendDisconnect", pid, &SendDisconnect{})
	return err
}

// Close closes the socket gracefully and releases it.
func (c Caller) Close(ctx context.Context, pid *actor.PID) error {
	_, err := request[*CloseResult](ctx, c, "Close", pid, &Close{})
	return err
}

// Abort resets the connection (RST) and releases the socket.
func (c Caller) Abort(ctx context.Context, pid *actor.PID) error {
	_, err := request[*CloseResult](ctx, c, "Abort", pid, &Abort{})
	return err
}

// Info returns the socket's description and counters.
func (c Caller) Info(ctx context.Context, pid *actor.PID) (*SocketInfo, error) {
	return request[*SocketInfo](ctx, c, "Info", pid, &Info{})
}

// Subscribe subscribes subscriber to the socket's events in mask.
func (c Caller) Subscribe(ctx context.Context, pid, subscriber *actor.PID, mask events.Mask) error {
	_, err := request[*SubscribeResult](ctx, c, "Subscribe", pid, NewSubscribe(subscriber, mask))
	return err
}

// Unsubscribe removes subscriber from the socket's subscriptions.
func (c Caller) Unsubscribe(ctx context.Context, pid, subscriber *actor.PID) error {
	_, err := request[*SubscribeResult](ctx, c, "Unsubscribe", pid, NewUnsubscribe(subscriber))
	return err
}

// SuspendReading stops reading the socket's connection until ResumeReading
// (docs/SEMANTICS.md §5, inbound back-pressure): the kernel's buffer fills
// and flow control holds the peer; nothing is closed or dropped. On return
// no byte read afterwards reaches the handler (a pooled handler still gets
// what was already in its queue). Idempotent. It fails with WSAENOTCONN
// (winsock.ErrNotConn) on a listener, a socket still connecting or one whose
// circuit has closed, WSAENOPROTOOPT (winsock.ErrNoProtoOpt) on a datagram
// socket (no flow control), WSAESHUTDOWN (winsock.ErrShutdown) after
// RecvDisconnect. Not from an Inline handler (see Caller): use
// Context.SuspendReading there.
func (c Caller) SuspendReading(ctx context.Context, pid *actor.PID) error {
	_, err := request[*SuspendReadingResult](ctx, c, "SuspendReading", pid, &SuspendReading{})
	return err
}

// ResumeReading undoes SuspendReading: the connection is read again unless
// the runtime's inbound limits still hold it, and bytes read while paused
// are handed to the handler first. Idempotent; the errors of
// SuspendReading, except that it succeeds after RecvDisconnect.
func (c Caller) ResumeReading(ctx context.Context, pid *actor.PID) error {
	_, err := request[*ResumeReadingResult](ctx, c, "ResumeReading", pid, &ResumeReading{})
	return err
}
