package actors

import (
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/sockactor/sockactor/events"
	"github.com/sockactor/sockactor/netio"
	"github.com/sockactor/sockactor/winsock"
)

// A socket's life: its events (FD_ACCEPT/FD_CONNECT, FD_WRITE, FD_READ,
// FD_CLOSE), the receive path from netio, the linger and the release.
// Goroutine: the connection's event loop unless a function says otherwise.

// publish sends ev to the subscribers, dropping dead per-socket ones.
func (s *socket) publish(ev *events.Event) {
	out := s.host.hub.Publish(ev, s.subs())
	if s.x != nil {
		s.x.subs = out
	}
}

func (s *socket) newEvent(k events.Kind, code winsock.Code, reason string, local bool) *events.Event {
	ev := s.bareEvent(k, code, reason, local)
	if s.conn != nil {
		ev.LocalAddr, ev.RemoteAddr = s.conn.LocalAddr(), s.conn.RemoteAddr()
	}
	return ev
}

// bareEvent is newEvent without the addresses.
func (s *socket) bareEvent(k events.Kind, code winsock.Code, reason string, local bool) *events.Event {
	return &events.Event{
		Kind:         uint32(k),
		SocketId:     s.id,
		PidAddress:   s.host.system.Address(),
		PidId:        s.idStr,
		Code:         uint32(code),
		Reason:       reason,
		Local:        local,
		TimeUnixNano: time.Now().UnixNano(),
		ListenerId:   s.prof.lnID,
	}
}

// newEventLike is newEvent for a second event of the same moment (the
// FD_WRITE after FD_ACCEPT or FD_CONNECT): it shares prev's address strings
// instead of formatting them again.
func (s *socket) newEventLike(prev *events.Event, k events.Kind, reason string) *events.Event {
	ev := s.bareEvent(k, winsock.OK, reason, false)
	if s.conn != nil {
		ev.LocalAddr, ev.RemoteAddr = prev.LocalAddr, prev.RemoteAddr
	}
	return ev
}

// emit publishes an event to the subscribers and the socket's own handler.
// Goroutine: the loop (or the dialling goroutine before any loop owns it).
func (s *socket) emit(k events.Kind, code winsock.Code, reason string, local bool) *events.Event {
	ev := s.newEvent(k, code, reason, local)
	s.emitEvent(ev)
	return ev
}

// emitEvent publishes ev, then hands it to the handler. Goroutine: as emit.
func (s *socket) emitEvent(ev *events.Event) {
	s.publish(ev)
	s.toHandler(ev, ev, nil)
}

// postRead posts FD_READ unless one is outstanding. Goroutine: the loop.
func (s *socket) postRead() {
	if s.readPosted || s.closeEv != nil {
		return // Winsock's re-enabling rule; and FD_CLOSE stays the last event
	}
	s.readPosted = true
	s.emit(events.FDRead, winsock.OK, "read", false)
}

// received takes bytes read from the peer: into the pull buffer, or to the
// handler. The hot path: no allocation under Inline push dispatch.
// Goroutine: the loop.
func (s *socket) received(data []byte) {
	if s.x == nil && s.q == nil {
		s.invokeReceived(data) // Inline push: the common case
		return
	}
	if s.prof.pull {
		x := s.x
		if s.conn.Datagram() {
			s.pullDatagram(data)
			return
		}
		if x.pullOff > 0 && (x.pullOff >= len(x.pull)/2 || len(x.pull)+len(data) > cap(x.pull)) {
			// Drop what Recv has taken, or a reader that never quite
			// catches up keeps the whole stream's prefix; and before the
			// array would grow, so its capacity stays near what waits
			// (MaxInbound and a read), not twice that.
			x.pull = x.pull[:copy(x.pull, x.pull[x.pullOff:])]
			x.pullOff = 0
		}
		x.pull = append(x.pull, data...)
		s.addWaiting(len(data), int64(len(x.pull)-x.pullOff)) // pauses reads at MaxInbound (inbound.go)
		s.postRead()
		return
	}
	if !s.pooled() {
		s.invokeReceived(data) // Inline push with subscriptions
		return
	}
	q := s.q
	dgram := s.conn.Datagram()
	if dgram && s.datagramOverBudget(len(data), q.pendingIn.Load()) {
		return // no flow control to pause: dropped and counted
	}
	own := q.pendingIn.Add(int64(len(data)))
	s.toPooledData(data, !dgram) // copied: the handler owns its Received.Data
	s.addWaiting(len(data), own) // pauses reads at MaxInbound (inbound.go)
}

// connected publishes FD_CONNECT 0 for a dialled socket, then FD_WRITE: a
// Winsock socket is writable from the start. Goroutine: loop.
func (s *socket) connected() {
	s.emitWritable(s.emit(events.FDConnect, winsock.OK, "connect", false))
}

// opened publishes FD_ACCEPT (the handler's first message), then FD_WRITE.
// Goroutine: loop.
func (s *socket) opened() {
	s.emitWritable(s.emit(events.FDAccept, winsock.OK, "accept", false))
}

// emitWritable posts the FD_WRITE of a socket that just opened, unless the
// handler closed it in the meantime (FD_CLOSE stays the last event). first
// is the event it follows, whose address strings it shares.
func (s *socket) emitWritable(first *events.Event) {
	if s.closeEv == nil {
		s.emitEvent(s.newEventLike(first, events.FDWrite, "write"))
	}
}

// failed ends a dial that never connected: FD_CONNECT with the code (no
// FD_CLOSE: the socket never had a circuit), then the linger. Goroutine:
// the dialling goroutine; no loop owns the socket.
func (s *socket) failed(code winsock.Code) {
	s.mu.Lock()
	if s.conn != nil {
		// The connection opened (FD_CONNECT 0 is out) and the engine
		// stopped before gnet told the dialler: the socket's FD_CLOSE is
		// its last word, not a second FD_CONNECT.
		s.mu.Unlock()
		return
	}
	s.dialDone = true
	subs := s.subs()
	s.mu.Unlock()
	ev := s.newEvent(events.FDConnect, code, "connect-failed", false)
	s.host.hub.Publish(ev, subs)
	s.toHandler(ev, ev, nil)
	s.lingerThenRelease()
}

// closed publishes FD_CLOSE exactly once, last, and starts the linger.
// A socket refused by MaxConns has no linger: nobody was served on it, and
// an accept storm must not hold a socket per connection for the linger.
// Goroutine: the loop.
func (s *socket) closed(r netio.Reason) {
	if s.closeEv != nil {
		return
	}
	s.closeEv = s.newEvent(events.FDClose, r.Code(), r.String(), r.Local())
	s.emitEvent(s.closeEv) // closeEv is set first: the handler sees a closed socket
	switch {
	case r == netio.ReasonLocalClose || r == netio.ReasonLocalAbort:
		// Close/Abort release right after (closeNow).
	case r == netio.ReasonShutdown || s.host.opts.Linger < 0 || s.refused:
		s.release()
	default:
		s.lingerThenRelease()
	}
}

func (s *socket) lingerThenRelease() {
	if s.host.opts.Linger < 0 {
		s.release()
		return
	}
	if !s.lingerStart() { // linger.go
		s.release() // the runtime is stopping: no linger
	}
}

// release frees the socket: out of the registry, handler stopped, pending
// requests answered WSAENOTSOCK. Idempotent. Goroutine: the loop, or
// whoever owns an unconnected socket, or host.ReleaseAll once no loop runs.
func (s *socket) release() {
	s.mu.Lock()
	if s.released {
		s.mu.Unlock()
		return
	}
	s.released = true
	q := s.queue
	s.queue = nil
	connected := s.conn != nil
	s.mu.Unlock()

	if connected && s.closeEv == nil {
		// Only reachable when the engine died under us.
		s.closeEv = s.newEvent(events.FDClose, winsock.WSAENETDOWN, netio.ReasonShutdown.String(), true)
		s.emitEvent(s.closeEv)
	}
	if connected && s.conn.Closed() {
		// The linger expired (or Close ran): a half-open send side closes
		// gracefully now. Nothing to do for a connection fully closed.
		s.conn.Close(netio.ReasonLocalClose)
	}
	s.host.unregister(s.idStr)
	s.host.open.Add(-1)
	if s.q != nil {
		// A pooled handler still drains what is queued, FD_CLOSE last; the
		// door counts that drain from now on.
		s.holdDrain()
	}
	if x := s.x; x != nil {
		s.takeWaiting(len(x.pull)-x.pullOff, 0) // nobody will read them now
		x.pull, x.pullOff = nil, 0
		for _, w := range x.watchers {
			s.host.sendSystem(w, &actor.Terminated{Who: s.PID(), Why: actor.TerminatedReason_Stopped})
		}
	}
	for _, m := range q {
		s.host.answerReleasedTo(s.PID(), s, m)
	}
}
