package actors

import (
	"github.com/asynkron/protoactor-go/actor"

	"github.com/sockactor/sockactor/netio"
	"github.com/sockactor/sockactor/winsock"
)

// The socket actor's mailbox: protoactor delivers to it on the sender's
// goroutine (the actor.Process methods); post queues the message and
// schedules a drain on the connection's event loop, where handle runs each
// message in order. This is the control path's crossing onto the loop.

// SendUserMessage posts a message to the socket's mailbox.
func (s *socket) SendUserMessage(_ *actor.PID, message any) { s.post(message) }

// SendSystemMessage handles protoactor system messages: Stop closes the
// socket gracefully; Watch is answered with Terminated at release.
func (s *socket) SendSystemMessage(_ *actor.PID, message any) {
	switch m := message.(type) {
	case *actor.Stop:
		s.post(&Close{})
	case *actor.Watch, *actor.Unwatch:
		s.post(m)
	}
}

// Stop closes the socket gracefully.
func (s *socket) Stop(*actor.PID) { s.post(&Close{}) }

// post appends to the mailbox and schedules a drain on the loop. While a
// dialled socket connects, what can be answered now is answered here.
// Goroutine: any.
func (s *socket) post(m any) {
	s.mu.Lock()
	if s.released {
		s.mu.Unlock()
		s.host.answerReleasedTo(s.PID(), s, m)
		return
	}
	if s.conn == nil {
		reply, to, handled := s.unconnected(m) // under mu
		if !handled {
			s.queue = append(s.queue, m)
		}
		s.mu.Unlock()
		if to != nil {
			s.host.replyFrom(s.PID(), to, reply)
		}
		return
	}
	s.queue = append(s.queue, m)
	if s.scheduled {
		s.mu.Unlock()
		return
	}
	s.mu.Unlock()
	s.schedule()
}

// schedule arranges a drain on the loop unless one is pending.
func (s *socket) schedule() {
	s.mu.Lock()
	if s.scheduled || s.released {
		s.mu.Unlock()
		return
	}
	s.scheduled = true
	c := s.conn
	s.mu.Unlock()
	// Ahead of the loop's batch of reads (netio/wake.go). If the loops are
	// stopping this fails: the socket is then closed on its loop (which
	// drains) or released by host.ReleaseAll (which answers).
	_ = c.Wake(drainConn)
}

// drainConn is schedule's wake function: a package-level func, so a wake
// allocates nothing. Goroutine: the loop.
func drainConn(c *netio.Conn) { c.Owner.(*socket).drain() }

// drainBudget is how many messages one drain handles before it gives the
// loop back: a socket whose mailbox is flooded takes its turn with the
// loop's other work instead of holding the loop until the flood ends.
const drainBudget = 256

// drain handles queued messages in order, at most drainBudget of them.
// If more wait, scheduled stays set (post wakes nothing meanwhile, so the
// order stays the queue's) and the socket is woken again on its loop from
// a short goroutine, behind the work already there: gnet runs the tasks
// queued while it runs tasks in the same round, before it polls again, so
// a Wake from the loop itself would run the rest before any read of the
// loop's other connections; from another goroutine it lands, unless the
// loop is still running other tasks, once the loop has gone back to its
// reads. Goroutine: the loop.
func (s *socket) drain() {
	for n := 0; ; {
		s.mu.Lock()
		q := s.queue
		if len(q) == 0 || s.released {
			s.scheduled = false
			s.mu.Unlock()
			return
		}
		if n == drainBudget {
			c := s.conn
			s.mu.Unlock()
			// If the loops are stopping the Wake fails, as in schedule: the
			// rest waits for release, which answers it. Once the door is
			// closed (Shutdown) the loop wakes the socket itself.
			if !s.host.door.Go(func() { _ = c.Wake(drainConn) }) {
				_ = c.Wake(drainConn)
			}
			return
		}
		// Take the head of the queue. Later posts append past its end, so
		// the batch is the loop's alone while the lock is not held.
		take := min(len(q), drainBudget-n)
		batch := q[:take:take]
		if take == len(q) {
			s.queue = nil
		} else {
			s.queue = q[take:]
		}
		s.mu.Unlock()
		for i, m := range batch {
			batch[i] = nil
			s.handle(m)
		}
		n += take
		if take == len(q) && cap(q) <= 64 {
			s.mu.Lock()
			if s.queue == nil {
				s.queue = q[:0] // reuse the backing array
			}
			s.mu.Unlock()
		}
	}
}

// unconnected answers a message for a socket without a connection (a dial
// in progress or failed). It reports whether m was consumed; the reply, if
// any, goes to `to`. Called with mu held.
func (s *socket) unconnected(m any) (reply any, to *actor.PID, handled bool) {
	_, msg, sender := actor.UnwrapEnvelope(m)
	if reply, ok := withoutCircuit(msg); ok {
		if _, isSend := msg.(*Send); isSend {
			s.host.sendsRefused.Add(1)
		}
		return reply, sender, true
	}
	switch msg := msg.(type) {
	case *Subscribe:
		pid, mask, code := s.host.subscription(msg)
		if code == winsock.OK {
			x := s.ext()
			x.subs = x.subs.With(pid, mask)
		}
		return &SubscribeResult{Code: uint32(code)}, sender, true
	case *Unsubscribe:
		return &SubscribeResult{Code: uint32(s.doUnsubscribe(msg))}, sender, true
	case *Info:
		state := StateConnecting
		if s.dialDone {
			state = StateFailed
		}
		return &SocketInfo{Socket: s.id, Kind: "tcp", State: state.String(), Dispatch: s.prof.dispatch.String(), BanPolicy: s.prof.policy.String()}, sender, true
	case *Connect:
		if s.dialDone {
			return &ConnectResult{Code: uint32(winsock.WSAEINVAL), Detail: "dial failed; dial a new socket"}, sender, true
		}
		return &ConnectResult{Code: uint32(winsock.WSAEINPROGRESS), Detail: "still connecting"}, sender, true
	}
	return nil, nil, false
}

// handle runs one message. Goroutine: the loop.
func (s *socket) handle(m any) {
	_, msg, sender := actor.UnwrapEnvelope(m)
	closed := s.closeEv != nil
	switch msg := msg.(type) {
	case *Send:
		s.reply(sender, s.doSend(msg))
	case *Recv:
		s.reply(sender, s.doRecv(msg, closed))
	case *RecvDisconnect:
		// The reply is the moment the ban takes effect: it waits for a
		// pooled delivery already in the handler (ban.go).
		s.replyAfterDelivery(sender, s.doRecvDisconnect(msg, closed))
	case *SendDisconnect:
		code := winsock.WSAEINVAL
		if msg != nil {
			// Also on a half-open socket (peer FIN): its send side is ours.
			code = winsock.CodeOf(s.conn.ShutdownSend(), winsock.WSAENOTCONN)
		}
		s.reply(sender, &SendDisconnectResult{Code: uint32(code)})
	case *Close:
		s.reply(sender, &CloseResult{})
		s.closeNow(netio.ReasonLocalClose)
	case *Abort:
		s.reply(sender, &CloseResult{})
		s.closeNow(netio.ReasonLocalAbort)
	case *Connect:
		// Sockets are never reused (docs/SEMANTICS.md §3.8): Winsock's
		// WSAEISCONN while the circuit is up (receive-disconnected or not),
		// WSAEINVAL once it has closed; a new Dial is the way.
		res := &ConnectResult{Code: uint32(winsock.WSAEISCONN), Detail: "socket is connected"}
		switch {
		case closed:
			res = &ConnectResult{Code: uint32(winsock.WSAEINVAL), Detail: "socket is closed; dial a new one"}
		case s.conn.RecvShut():
			res.Detail = "socket is connected (receive-disconnected)"
		}
		s.reply(sender, res)
	case *Subscribe:
		s.reply(sender, &SubscribeResult{Code: uint32(s.doSubscribe(msg))})
	case *Unsubscribe:
		s.reply(sender, &SubscribeResult{Code: uint32(s.doUnsubscribe(msg))})
	case *Info:
		s.reply(sender, s.info())
	case *SuspendReading:
		s.reply(sender, s.suspendReading())
	case *ResumeReading:
		s.reply(sender, s.resumeReading())
	case inlineResume:
		s.inlineResumed()
	case *actor.Watch:
		if msg != nil && msg.Watcher != nil {
			x := s.ext()
			x.watchers = append(x.watchers, msg.Watcher)
		}
	case *actor.Unwatch:
		if msg != nil && msg.Watcher != nil && s.x != nil {
			for i, w := range s.x.watchers {
				if w.Equal(msg.Watcher) {
					s.x.watchers = append(s.x.watchers[:i:i], s.x.watchers[i+1:]...)
					break
				}
			}
		}
	case writeOp:
		x := s.q // only a pooled handler's Write makes a writeOp
		// Write already told the handler its bytes were accepted: if the
		// connection cannot take them now, they are counted as dropped.
		if n, err := s.conn.Write(msg.data); err != nil {
			s.conn.AddSendDropped(len(msg.data) - n)
		}
		x.lastOut.Store(int64(s.conn.OutboundBuffered()))
		// Counted out only now that gnet has them: the pooled Write's direct
		// path waits for zero (handler.go).
		x.pendingOut.Add(-int64(len(msg.data)))
	case wantWrite:
		s.armWrite()
	case resumeRead:
		s.resume(msg.src)
	case selfDone:
		s.q.selfMsgs.Add(-1) // the message before it is handled: direct writes may go again
	case releaseNow:
		s.lingerOver() // linger.go
	case banNow:
		// The pooled handler's own RecvDisconnect: it is the delivery in
		// flight, so the reply must not wait for it (ban.go).
		msg.done <- winsock.Code(s.doRecvDisconnect(&RecvDisconnect{}, closed).Code)
	case nil:
		s.reply(sender, &Error{Code: uint32(winsock.WSAEINVAL), Detail: "nil message"})
	default:
		s.toHandler(m, msg, sender)
	}
}

func (s *socket) reply(to *actor.PID, msg any) {
	if to != nil {
		s.host.replyFrom(s.PID(), to, msg)
	}
}
