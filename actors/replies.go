package actors

import (
	"github.com/asynkron/protoactor-go/actor"

	"github.com/sockactor/sockactor/events"
	"github.com/sockactor/sockactor/winsock"
)

// answerReleased answers a message that reached a socket after its release:
// requests get their reply type with WSAENOTSOCK (WSAENETDOWN once the
// engine is stopping); watchers get Terminated. Goroutine: any.
func (h *host) answerReleased(from *actor.PID, m any) { h.answerReleasedTo(from, nil, m) }

// answerReleasedTo is answerReleased for socket self (nil for a listener).
// A request that self's own pooled handler made (a Context request such
// as Recv or Info, whose sender is the socket) is answered into that
// handler's queue: its drain outlives the release (holdDrain), while a
// reply sent to the released PID would be dropped and leave the handler
// waiting for it for ever. Goroutine: any.
func (h *host) answerReleasedTo(from *actor.PID, self *socket, m any) {
	_, msg, sender := actor.UnwrapEnvelope(m)
	if w, ok := msg.(*actor.Watch); ok && w != nil && w.Watcher != nil {
		h.sendSystem(w.Watcher, &actor.Terminated{Why: actor.TerminatedReason_NotFound})
		return
	}
	if b, ok := msg.(banNow); ok {
		code := winsock.WSAENOTSOCK
		if h.down.Load() {
			code = winsock.WSAENETDOWN
		}
		b.done <- code
		return
	}
	if sender == nil || isReply(msg) {
		return // a reply or an event to a released socket: answering it could loop
	}
	code := winsock.WSAENOTSOCK
	if h.down.Load() {
		code = winsock.WSAENETDOWN
	}
	if self != nil && self.q != nil && sender.Equal(from) {
		self.toPooled(&actor.MessageEnvelope{Message: replyFor(msg, code), Sender: from})
		return
	}
	h.replyFrom(from, sender, replyFor(msg, code))
}

// replyFor builds the reply type matching request msg, carrying code.
func replyFor(msg any, code winsock.Code) any {
	c := uint32(code)
	switch msg.(type) {
	case *Send:
		return &SendResult{Code: c}
	case *Recv:
		return &RecvResult{Code: c}
	case *RecvDisconnect:
		return &RecvDisconnectResult{Code: c}
	case *SendDisconnect:
		return &SendDisconnectResult{Code: c}
	case *Close, *Abort:
		return &CloseResult{Code: c}
	case *Subscribe, *Unsubscribe:
		return &SubscribeResult{Code: c}
	case *Info:
		return &SocketInfo{Code: c}
	case *Connect:
		return &ConnectResult{Code: c}
	case *SuspendReading:
		return &SuspendReadingResult{Code: c}
	case *ResumeReading:
		return &ResumeReadingResult{Code: c}
	}
	return &Error{Code: c, Detail: "socket released"}
}

// isReply reports whether msg is a reply or notification, which must never
// be answered (answering replies would make two sockets talk forever).
func isReply(msg any) bool {
	switch msg.(type) {
	case *SendResult, *RecvResult, *RecvDisconnectResult, *SendDisconnectResult,
		*CloseResult, *SubscribeResult, *SocketInfo, *ConnectResult, *Error,
		*SuspendReadingResult, *ResumeReadingResult,
		*Received, *events.Event, *actor.DeadLetterResponse:
		return true
	}
	return false
}

// sendSystem delivers a protoactor system message. Goroutine: any.
func (h *host) sendSystem(pid *actor.PID, msg any) {
	if pid == nil {
		return
	}
	proc, _ := h.system.ProcessRegistry.Get(pid)
	proc.SendSystemMessage(pid, msg)
}

// withoutCircuit answers the requests that need a circuit (Send, Recv,
// RecvDisconnect, SendDisconnect, SuspendReading, ResumeReading) for an
// actor that has none: a listener, a dial still connecting or one that
// failed. A malformed request is
// WSAEINVAL, any other WSAENOTCONN (docs/SEMANTICS.md §3.7). ok is false for
// every other message. Goroutine: any.
func withoutCircuit(msg any) (reply any, ok bool) {
	switch m := msg.(type) {
	case *RecvDisconnect:
		if m == nil || m.BufferLen < 0 {
			return replyFor(msg, winsock.WSAEINVAL), true
		}
		return replyFor(msg, winsock.WSAENOTCONN), true
	case *Send, *Recv, *SendDisconnect, *SuspendReading, *ResumeReading:
		return replyFor(msg, winsock.WSAENOTCONN), true
	}
	return nil, false
}

// subscription parses a Subscribe: the subscriber's PID and mask, or
// WSAEINVAL for a missing subscriber or an invalid mask. A remote
// subscriber is watched from here on, so that it is dropped when it stops
// or its node is lost (docs/SEMANTICS.md §7). Goroutine: any.
func (h *host) subscription(m *Subscribe) (*actor.PID, events.Mask, winsock.Code) {
	if m == nil || m.SubscriberId == "" || !events.Mask(m.Mask).Valid() {
		return nil, 0, winsock.WSAEINVAL
	}
	pid := actor.NewPID(m.SubscriberAddress, m.SubscriberId)
	h.hub.Watch(pid)
	return pid, events.Mask(m.Mask), winsock.OK
}

// unsubscriber parses an Unsubscribe: the subscriber's PID, or WSAEINVAL.
// Goroutine: any.
func unsubscriber(m *Unsubscribe) (*actor.PID, winsock.Code) {
	if m == nil || m.SubscriberId == "" {
		return nil, winsock.WSAEINVAL
	}
	return actor.NewPID(m.SubscriberAddress, m.SubscriberId), winsock.OK
}
