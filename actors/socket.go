package actors

import (
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/sockactor/sockactor/events"
	"github.com/sockactor/sockactor/netio"
)

// socket is the actor of one TCP connection. It is an actor.Process in the
// system's registry whose mailbox drains on the connection's own event loop,
// so its messages run serialized with the connection's I/O and it owns no
// goroutine (SEMANTICS §1).
//
// Ownership:
//   - mu guards queue, spare, scheduled and released (any goroutine posts);
//   - fields marked "loop" belong to the event loop goroutine (after the
//     engine has stopped, to the goroutine running Host.ReleaseAll);
//   - ctx, recv and userState belong to whichever goroutine runs the handler:
//     the loop under Inline dispatch, the handler actor under Pooled;
//   - pendingIn and recvBanned are atomic (loop and handler actor share them).
type socket struct {
	id   uint64     // immutable
	pid  *actor.PID // immutable
	host *Host      // immutable
	ln   *Listener  // immutable
	conn *netio.Conn

	mu        sync.Mutex
	queue     []any
	spare     []any
	scheduled bool
	released  bool

	subs     events.Subs   // loop
	watchers []*actor.PID  // loop: protoactor watchers, told Terminated at release
	closeEv  *events.Event // loop: the FD_CLOSE once emitted
	timer    *time.Timer   // loop: linger timer

	// pooled dispatch
	handlerPID  *actor.PID
	handlerProc actor.Process
	pendingIn   atomic.Int64 // bytes posted to the handler actor, not yet taken
	recvBanned  atomic.Bool

	ctx       Context
	recv      Received
	userState any
}

// internal control messages (never leave the process).
type (
	banViolation struct{}              // a pooled handler dropped banned bytes under BanReset
	releaseNow   struct{}              // linger expired
	writeOp      struct{ data []byte } // a pooled handler's Write
)

func newSocket(h *Host, l *Listener, c *netio.Conn) *socket {
	s := &socket{host: h, ln: l, conn: c, id: h.newID()}
	s.ctx.s = s
	s.pid = h.register(s, s.id)
	c.Owner = s
	c.SetPolicy(l.policy)
	s.subs = l.subsSnapshot()
	if l.opts.Dispatch == Pooled {
		props := actor.PropsFromProducer(func() actor.Actor { return &pooledActor{s: s} })
		pid, err := h.system.Root.SpawnNamed(props, s.pid.Id+"/handler")
		if err == nil {
			s.handlerPID = pid
			s.handlerProc, _ = h.system.ProcessRegistry.Get(pid)
		}
	}
	return s
}

// ---- actor.Process: called by protoactor on the sender's goroutine. ----

// SendUserMessage posts a message to the socket's mailbox.
func (s *socket) SendUserMessage(_ *actor.PID, message any) { s.post(message) }

// SendSystemMessage handles protoactor system messages: Stop and Poison
// close the socket gracefully; Watch is answered with Terminated at release.
func (s *socket) SendSystemMessage(_ *actor.PID, message any) {
	switch m := message.(type) {
	case *actor.Stop:
		s.post(&Close{})
	case *actor.Watch:
		s.post(m)
	case *actor.Unwatch:
		s.post(m)
	}
}

// Stop closes the socket gracefully.
func (s *socket) Stop(*actor.PID) { s.post(&Close{}) }

// post appends to the mailbox and schedules a drain on the loop.
// Goroutine: any.
func (s *socket) post(m any) {
	s.mu.Lock()
	if s.released {
		s.mu.Unlock()
		s.host.answerReleased(m)
		return
	}
	s.queue = append(s.queue, m)
	if s.scheduled {
		s.mu.Unlock()
		return
	}
	s.scheduled = true
	s.mu.Unlock()
	if err := s.conn.Execute(s.drain); err != nil {
		// The loops are stopping: the socket is closed on its loop (which
		// drains) or released by Host.ReleaseAll (which answers).
		return
	}
}

// drain handles queued messages in order. Goroutine: the loop.
func (s *socket) drain() {
	for {
		s.mu.Lock()
		q := s.queue
		if len(q) == 0 || s.released {
			s.scheduled = false
			s.mu.Unlock()
			return
		}
		s.queue, s.spare = s.spare[:0], nil
		s.mu.Unlock()
		for i, m := range q {
			q[i] = nil
			s.handle(m)
		}
		s.mu.Lock()
		if s.spare == nil {
			s.spare = q[:0]
		}
		s.mu.Unlock()
	}
}

// handle runs one message. Goroutine: the loop.
func (s *socket) handle(m any) {
	_, msg, sender := actor.UnwrapEnvelope(m)
	closed := s.closeEv != nil
	switch msg := msg.(type) {
	case *Send:
		s.reply(sender, s.doSend(msg, closed))
	case *Recv:
		s.reply(sender, s.doRecv(msg, closed))
	case *RecvDisconnect:
		s.reply(sender, s.doRecvDisconnect(msg, closed))
	case *SendDisconnect:
		code := netio.OK
		switch {
		case msg == nil:
			code = netio.WSAEINVAL
		case closed:
			code = netio.WSAENOTCONN
		default:
			code = netio.CodeOf(s.conn.ShutdownSend(), netio.WSAENOTCONN)
		}
		s.reply(sender, &SendDisconnectResult{Code: uint32(code)})
	case *Close:
		s.reply(sender, &CloseResult{})
		s.closeNow(netio.ReasonLocalClose)
	case *Abort:
		s.reply(sender, &CloseResult{})
		s.closeNow(netio.ReasonLocalAbort)
	case *Subscribe:
		s.reply(sender, &SubscribeResult{Code: uint32(s.doSubscribe(msg))})
	case *Unsubscribe:
		code := netio.WSAEINVAL
		if msg != nil && msg.SubscriberId != "" {
			s.subs, _ = s.subs.Without(actor.NewPID(msg.SubscriberAddress, msg.SubscriberId))
			code = netio.OK
		}
		s.reply(sender, &SubscribeResult{Code: uint32(code)})
	case *Info:
		s.reply(sender, s.info())
	case *actor.Watch:
		if msg != nil && msg.Watcher != nil {
			s.watchers = append(s.watchers, msg.Watcher)
		}
	case *actor.Unwatch:
		if msg != nil && msg.Watcher != nil {
			for i, w := range s.watchers {
				if w.Equal(msg.Watcher) {
					s.watchers = append(s.watchers[:i:i], s.watchers[i+1:]...)
					break
				}
			}
		}
	case writeOp:
		if !closed {
			_, _ = s.conn.Write(msg.data) // errors: the handler sees FD_CLOSE or ErrShutdown next time
		}
	case banViolation:
		s.conn.Close(netio.ReasonRecvBan)
	case releaseNow:
		s.release()
	case nil:
		s.reply(sender, &Error{Code: uint32(netio.WSAEINVAL), Detail: "nil message"})
	default:
		s.toHandler(m, msg, sender)
	}
}

func (s *socket) reply(to *actor.PID, msg any) {
	if to != nil {
		s.host.sendTo(to, msg)
	}
}

func (s *socket) doSend(m *Send, closed bool) *SendResult {
	switch {
	case m == nil:
		return &SendResult{Code: uint32(netio.WSAEINVAL)}
	case closed:
		return &SendResult{Code: uint32(netio.WSAENOTCONN)}
	case len(m.Data) > s.host.opts.MaxSend:
		return &SendResult{Code: uint32(netio.WSAEMSGSIZE)}
	case len(m.Data) == 0:
		if s.conn.SendShut() {
			return &SendResult{Code: uint32(netio.WSAESHUTDOWN)}
		}
		return &SendResult{}
	}
	n, err := s.conn.Write(m.Data)
	return &SendResult{N: int64(n), Code: uint32(netio.CodeOf(err, netio.WSAECONNRESET))}
}

// doRecv answers a pull. Push-mode sockets buffer nothing, so an open socket
// answers WSAEWOULDBLOCK.
func (s *socket) doRecv(m *Recv, closed bool) *RecvResult {
	switch {
	case m == nil || m.Max < 0:
		return &RecvResult{Code: uint32(netio.WSAEINVAL)}
	case s.conn.RecvShut():
		return &RecvResult{Code: uint32(netio.WSAESHUTDOWN)}
	case closed:
		switch s.conn.Reason() {
		case netio.ReasonPeerClose:
			return &RecvResult{}
		case netio.ReasonPeerReset:
			return &RecvResult{Code: uint32(netio.WSAECONNRESET)}
		}
		return &RecvResult{Code: uint32(netio.WSAENOTCONN)}
	}
	return &RecvResult{Code: uint32(netio.WSAEWOULDBLOCK)}
}

// doRecvDisconnect applies the receive ban (SEMANTICS §3).
func (s *socket) doRecvDisconnect(m *RecvDisconnect, closed bool) *RecvDisconnectResult {
	if m == nil || m.BufferLen < 0 {
		return &RecvDisconnectResult{Code: uint32(netio.WSAEINVAL)}
	}
	if closed {
		// §3.9: after FD_CLOSE, collecting disconnect data still succeeds.
		return &RecvDisconnectResult{}
	}
	// Ban first, then count what is queued for a pooled handler: a handler
	// that takes bytes after this store sees the ban and drops them.
	s.recvBanned.Store(true)
	s.conn.ShutdownRecv(int(s.pendingIn.Load()))
	return &RecvDisconnectResult{}
}

func (s *socket) doSubscribe(m *Subscribe) netio.Code {
	if m == nil || m.SubscriberId == "" || !events.Mask(m.Mask).Valid() {
		return netio.WSAEINVAL
	}
	pid := actor.NewPID(m.SubscriberAddress, m.SubscriberId)
	had := s.subs.Has(pid, events.FDClose)
	s.subs = s.subs.With(pid, events.Mask(m.Mask))
	if s.closeEv != nil && events.Mask(m.Mask).Has(events.FDClose) && !s.host.hub.Global().Has(pid, events.FDClose) && !had {
		// The circuit already closed: the late subscriber still gets its
		// one FD_CLOSE, so its bookkeeping needs no second source.
		s.host.hub.SendTo(pid, s.closeEv)
	}
	return netio.OK
}

func (s *socket) info() *SocketInfo {
	st := s.conn.Stats()
	in := &SocketInfo{
		Socket:      s.id,
		Kind:        "tcp",
		State:       "open",
		RecvShut:    s.conn.RecvShut(),
		SendShut:    s.conn.SendShut(),
		BytesIn:     st.BytesIn,
		BytesOut:    st.BytesOut,
		BannedBytes: st.BannedBytes,
		QueuedIn:    s.pendingIn.Load(),
		QueuedOut:   int64(st.QueuedOut),
		LocalAddr:   s.conn.LocalAddr(),
		RemoteAddr:  s.conn.RemoteAddr(),
		BanPolicy:   s.conn.Policy().String(),
		Dispatch:    s.ln.opts.Dispatch.String(),
		ListenerId:  s.ln.id,
	}
	if s.closeEv != nil {
		in.State = "closed"
		in.CloseReason = s.closeEv.Reason
		in.CloseCode = s.closeEv.Code
	}
	return in
}

// closeNow closes the connection (if still open) and releases the socket at
// once, as Close and Abort do. Goroutine: the loop.
func (s *socket) closeNow(r netio.Reason) {
	if s.closeEv == nil {
		s.conn.Close(r) // runs Host.OnClose -> s.closed before returning
	}
	s.release()
}

// ---- lifecycle, on the loop ----

func (s *socket) newEvent(k events.Kind, code netio.Code, reason string, local bool) *events.Event {
	return &events.Event{
		Kind:         uint32(k),
		SocketId:     s.id,
		PidAddress:   s.pid.Address,
		PidId:        s.pid.Id,
		Code:         uint32(code),
		Reason:       reason,
		Local:        local,
		LocalAddr:    s.conn.LocalAddr(),
		RemoteAddr:   s.conn.RemoteAddr(),
		TimeUnixNano: time.Now().UnixNano(),
		ListenerId:   s.ln.id,
	}
}

// opened publishes FD_ACCEPT and hands it to the handler first.
func (s *socket) opened() {
	ev := s.newEvent(events.FDAccept, netio.OK, "accept", false)
	s.subs = s.host.hub.Publish(ev, s.subs)
	s.toHandler(ev, ev, nil)
}

// received delivers bytes read from the peer. The hot path: no allocation
// under Inline dispatch.
func (s *socket) received(data []byte) {
	if s.handlerProc == nil {
		s.recv.Data = data
		s.invoke(&s.recv, nil, nil)
		s.recv.Data = nil
		return
	}
	cp := make([]byte, len(data))
	copy(cp, data)
	s.pendingIn.Add(int64(len(cp)))
	s.handlerProc.SendUserMessage(s.handlerPID, &Received{Data: cp})
}

// closed publishes FD_CLOSE exactly once, last, and starts the linger.
func (s *socket) closed(r netio.Reason) {
	if s.closeEv != nil {
		return
	}
	ev := s.newEvent(events.FDClose, r.Code(), r.String(), r.Local())
	s.closeEv = ev
	s.subs = s.host.hub.Publish(ev, s.subs)
	s.toHandler(ev, ev, nil)
	switch {
	case r == netio.ReasonLocalClose || r == netio.ReasonLocalAbort:
		// Close/Abort release right after (closeNow).
	case r == netio.ReasonShutdown || s.host.opts.Linger < 0:
		s.release()
	default:
		s.host.linger(s, true)
		s.timer = time.AfterFunc(s.host.opts.Linger, func() { s.post(releaseNow{}) })
	}
}

// release frees the socket: out of the registry, handler stopped, pending
// requests answered WSAENOTSOCK. Idempotent. Goroutine: the loop, or
// Host.ReleaseAll once no loop runs.
func (s *socket) release() {
	s.mu.Lock()
	if s.released {
		s.mu.Unlock()
		return
	}
	s.released = true
	q := s.queue
	s.queue = nil
	s.mu.Unlock()

	if s.closeEv == nil {
		// Only reachable when the engine died under us.
		s.closeEv = s.newEvent(events.FDClose, netio.WSAENETDOWN, netio.ReasonShutdown.String(), true)
		s.subs = s.host.hub.Publish(s.closeEv, s.subs)
		s.toHandler(s.closeEv, s.closeEv, nil)
	}
	if s.timer != nil {
		s.timer.Stop()
	}
	s.host.system.ProcessRegistry.Remove(s.pid)
	s.host.linger(s, false)
	s.host.open.Add(-1)
	if s.handlerPID != nil {
		// Poison is a user message: the handler first sees what is queued,
		// FD_CLOSE included, then stops.
		s.host.system.Root.Poison(s.handlerPID)
	}
	for _, w := range s.watchers {
		s.host.sendSystem(w, &actor.Terminated{Who: s.pid, Why: actor.TerminatedReason_Stopped})
	}
	for _, m := range q {
		s.host.answerReleased(m)
	}
}

// ---- the handler ----

// toHandler gives a message to the handler: inline, or into the pooled
// handler actor's mailbox (which keeps it in order with Received).
func (s *socket) toHandler(envelope, msg any, sender *actor.PID) {
	if s.handlerProc == nil {
		s.invoke(msg, sender, nil)
		return
	}
	s.handlerProc.SendUserMessage(s.handlerPID, envelope)
}

// invoke runs the handler once. A panicking handler aborts its own socket
// and leaves everything else running. Goroutine: the loop (Inline) or the
// handler actor (Pooled).
func (s *socket) invoke(msg any, sender *actor.PID, actx actor.Context) {
	c := &s.ctx
	c.msg, c.sender, c.actx, c.responded = msg, sender, actx, false
	defer func() {
		if p := recover(); p != nil {
			s.host.log.Error("sockactor: handler panic; aborting socket", "socket", s.id, "panic", fmt.Sprint(p))
			s.post(&Abort{})
		}
		if c.sender != nil && !c.responded {
			s.host.sendTo(c.sender, &Error{Code: uint32(netio.WSAEINVAL), Detail: fmt.Sprintf("unhandled message %T", c.msg)})
		}
		c.msg, c.sender, c.actx = nil, nil, nil
	}()
	s.ln.handler.Receive(c)
}

// pooledActor is the protoactor actor that runs a Pooled handler.
// Goroutine: protoactor's default dispatcher, one message at a time.
type pooledActor struct{ s *socket }

func (a *pooledActor) Receive(actx actor.Context) {
	s := a.s
	switch m := actx.Message().(type) {
	case *actor.Started, *actor.Stopping, *actor.Stopped, *actor.Restarting:
		return
	case *Received:
		n := int64(len(m.Data))
		s.pendingIn.Add(-n)
		if s.recvBanned.Load() {
			// Queued before the ban took effect: never delivered (§3.2).
			s.conn.AddBanned(int(n))
			if s.conn.Policy() == BanReset {
				s.post(banViolation{})
			}
			return
		}
		s.invoke(m, nil, actx)
	default:
		s.invoke(m, actx.Sender(), actx)
	}
}
