package actors

import (
	"fmt"
	goruntime "runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/sockactor/sockactor/events"
	"github.com/sockactor/sockactor/netio"
)

// profile is what a socket takes from the listener that accepted it or the
// Dial that made it. Immutable.
type profile struct {
	handler  Handler
	dispatch Dispatch
	policy   BanPolicy
	pull     bool
	lnID     uint64 // 0 for dialled sockets
}

// socket is the actor of one TCP connection. It is an actor.Process in the
// system's registry whose mailbox drains on the connection's own event loop,
// so its messages run serialized with the connection's I/O and it owns no
// goroutine (docs/SEMANTICS.md §1).
//
// Ownership:
//   - mu guards queue, scheduled, released, dialDone, conn (written once, at
//     connect) and, while the socket is connecting (conn == nil), subs too;
//   - fields marked "loop" belong to the event loop goroutine once the
//     socket is connected (after the engine stopped, to Host.ReleaseAll);
//   - ctx, recv and userState belong to whichever goroutine runs the
//     handler: the loop (Inline) or the pooled drain goroutine (Pooled);
//   - atomics are shared by the loop and the pooled handler's goroutine.
type socket struct {
	id    uint64                    // immutable
	idStr string                    // immutable: the registry key, "sock/<id>"
	pidp  atomic.Pointer[actor.PID] // the PID, made on first use (see PID)
	host  *Host                     // immutable
	prof  *profile                  // immutable

	mu        sync.Mutex
	conn      *netio.Conn // nil while a dialled socket connects (or after it failed)
	queue     []any
	scheduled bool
	released  bool
	dialDone  bool // a dial finished (either way)

	readPosted bool          // loop: FD_READ posted, not yet re-enabled by Recv
	writeWait  bool          // loop: FD_WRITE owed once the queue drains
	closeEv    *events.Event // loop: the FD_CLOSE once emitted
	userState  any           // the handler's (Context.SetState)

	// x holds what most sockets never need, so an idle socket stays small.
	// It is made at creation for pooled, pull and dialled sockets (whose
	// other goroutines read it); otherwise on first need, on the loop.
	x *sockExt
}

// sockExt is a socket's cold state. Ownership as in socket: the loop, or
// mu while unconnected; the atomics are shared with the pooled handler.
type sockExt struct {
	subs     events.Subs  // per-socket subscriptions
	watchers []*actor.PID // protoactor watchers, told Terminated at release
	timer    *time.Timer  // linger timer; guarded by mu
	pull     []byte       // pull-mode buffer; unread bytes are pull[pullOff:]
	pullOff  int

	// Pooled dispatch: the handler's queue, drained by one goroutine at a
	// time scheduled on protoactor's default dispatcher. The receive ban and
	// the hand-off of Received agree under hmu (see ban.go).
	hmu        sync.Mutex
	hq         []any // guarded by hmu
	hrunning   bool  // guarded by hmu: a drain is scheduled or running
	hbanned    bool  // guarded by hmu: the ban is in force; no Received is handed over
	delivering bool  // guarded by hmu: a Received taken before the ban is in the handler now

	pendingIn  atomic.Int64 // bytes posted to the pooled handler, not yet taken
	pendingOut atomic.Int64 // bytes of pooled Writes still in the mailbox
	lastOut    atomic.Int64 // gnet's outbound buffer as last seen by the loop
}

// ext returns x, making it on first use. Goroutine: the owner of the
// socket's loop fields (see sockExt).
func (s *socket) ext() *sockExt {
	if s.x == nil {
		s.x = &sockExt{}
	}
	return s.x
}

// PID returns the socket's PID. It is made on first use: many sockets are
// never addressed by PID object (events carry the id string), and a PID
// costs memory. Safe from any goroutine.
func (s *socket) PID() *actor.PID {
	if p := s.pidp.Load(); p != nil {
		return p
	}
	p := actor.NewPID(s.host.system.Address(), s.idStr)
	if s.pidp.CompareAndSwap(nil, p) {
		return p
	}
	return s.pidp.Load()
}

func (s *socket) subs() events.Subs {
	if s.x == nil {
		return nil
	}
	return s.x.subs
}

func (s *socket) pendingIn() int64 {
	if s.x == nil {
		return 0
	}
	return s.x.pendingIn.Load()
}

func (s *socket) pooled() bool { return s.prof.dispatch == Pooled }

// publish sends ev to the subscribers, dropping dead per-socket ones.
func (s *socket) publish(ev *events.Event) {
	out := s.host.hub.Publish(ev, s.subs())
	if s.x != nil {
		s.x.subs = out
	}
}

// internal control messages (never leave the process).
type (
	releaseNow struct{}              // linger expired
	writeOp    struct{ data []byte } // a pooled handler's Write
	wantWrite  struct{}              // a pooled Write was refused: FD_WRITE owed
)

func newSocket(h *Host, prof *profile, subs events.Subs, dialled bool) *socket {
	s := &socket{host: h, prof: prof, id: h.newID()}
	s.idStr = pidPrefix + strconv.FormatUint(s.id, 10)
	if len(subs) > 0 || dialled || prof.pull || prof.dispatch == Pooled {
		s.ext().subs = subs
	}
	h.register(s, s.idStr)
	return s
}

// attach binds a connection to the socket. Goroutine: the connection's loop
// (Host.OnOpen); from here on the loop owns the socket's loop fields.
func (s *socket) attach(c *netio.Conn) {
	c.Owner = s
	c.SetPolicy(s.prof.policy)
	s.mu.Lock()
	s.conn = c
	s.dialDone = true
	queued := len(s.queue) > 0
	s.mu.Unlock()
	if queued {
		s.schedule()
	}
}

// ---- actor.Process: called by protoactor on the sender's goroutine. ----

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
		s.host.answerReleased(s.PID(), m)
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
	// If the loops are stopping this fails: the socket is then closed on its
	// loop (which drains) or released by Host.ReleaseAll (which answers).
	_ = c.Execute(s.drain)
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
		s.queue = nil
		s.mu.Unlock()
		for i, m := range q {
			q[i] = nil
			s.handle(m)
		}
		s.mu.Lock()
		if s.queue == nil && cap(q) <= 64 {
			s.queue = q[:0] // reuse the backing array
		}
		s.mu.Unlock()
	}
}

// unconnected answers a message for a socket without a connection (a dial
// in progress or failed). It reports whether m was consumed; the reply, if
// any, goes to `to`. Called with mu held.
func (s *socket) unconnected(m any) (reply any, to *actor.PID, handled bool) {
	_, msg, sender := actor.UnwrapEnvelope(m)
	notConn := uint32(netio.WSAENOTCONN)
	switch msg := msg.(type) {
	case *Send:
		s.host.sendsRefused.Add(1)
		return &SendResult{Code: notConn}, sender, true
	case *Recv:
		return &RecvResult{Code: notConn}, sender, true
	case *RecvDisconnect:
		if msg == nil || msg.BufferLen < 0 {
			return &RecvDisconnectResult{Code: uint32(netio.WSAEINVAL)}, sender, true
		}
		return &RecvDisconnectResult{Code: notConn}, sender, true // §3.7
	case *SendDisconnect:
		return &SendDisconnectResult{Code: notConn}, sender, true
	case *Subscribe:
		code := netio.WSAEINVAL
		if msg != nil && msg.SubscriberId != "" && events.Mask(msg.Mask).Valid() {
			x := s.ext()
			x.subs = x.subs.With(actor.NewPID(msg.SubscriberAddress, msg.SubscriberId), events.Mask(msg.Mask))
			code = netio.OK
		}
		return &SubscribeResult{Code: uint32(code)}, sender, true
	case *Unsubscribe:
		if msg == nil || msg.SubscriberId == "" {
			return &SubscribeResult{Code: uint32(netio.WSAEINVAL)}, sender, true
		}
		if s.x != nil {
			s.x.subs, _ = s.x.subs.Without(actor.NewPID(msg.SubscriberAddress, msg.SubscriberId))
		}
		return &SubscribeResult{}, sender, true
	case *Info:
		state := "connecting"
		if s.dialDone {
			state = "failed"
		}
		return &SocketInfo{Socket: s.id, Kind: "tcp", State: state, Dispatch: s.prof.dispatch.String(), BanPolicy: s.prof.policy.String()}, sender, true
	case *Connect:
		if s.dialDone {
			return &ConnectResult{Code: uint32(netio.WSAEINVAL), Detail: "dial failed; dial a new socket"}, sender, true
		}
		return &ConnectResult{Code: uint32(netio.WSAEINPROGRESS), Detail: "still connecting"}, sender, true
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
		code := netio.WSAEINVAL
		if msg != nil {
			// Also on a half-open socket (peer FIN): its send side is ours.
			code = netio.CodeOf(s.conn.ShutdownSend(), netio.WSAENOTCONN)
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
		res := &ConnectResult{Code: uint32(netio.WSAEISCONN), Detail: "socket is connected"}
		switch {
		case closed:
			res = &ConnectResult{Code: uint32(netio.WSAEINVAL), Detail: "socket is closed; dial a new one"}
		case s.conn.RecvShut():
			res.Detail = "socket is connected (receive-disconnected)"
		}
		s.reply(sender, res)
	case *Subscribe:
		s.reply(sender, &SubscribeResult{Code: uint32(s.doSubscribe(msg))})
	case *Unsubscribe:
		code := netio.WSAEINVAL
		if msg != nil && msg.SubscriberId != "" {
			if s.x != nil {
				s.x.subs, _ = s.x.subs.Without(actor.NewPID(msg.SubscriberAddress, msg.SubscriberId))
			}
			code = netio.OK
		}
		s.reply(sender, &SubscribeResult{Code: uint32(code)})
	case *Info:
		s.reply(sender, s.info())
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
		x := s.ext()
		x.pendingOut.Add(-int64(len(msg.data)))
		// Write already told the handler its bytes were accepted: if the
		// connection cannot take them now, they are counted as dropped.
		if _, err := s.conn.Write(msg.data); err != nil {
			s.conn.AddSendDropped(len(msg.data))
		}
		x.lastOut.Store(int64(s.conn.OutboundBuffered()))
	case wantWrite:
		s.armWrite()
	case releaseNow:
		s.release()
	case banNow:
		// The pooled handler's own RecvDisconnect: it is the delivery in
		// flight, so the reply must not wait for it (ban.go).
		msg.done <- netio.Code(s.doRecvDisconnect(&RecvDisconnect{}, closed).Code)
	case nil:
		s.reply(sender, &Error{Code: uint32(netio.WSAEINVAL), Detail: "nil message"})
	default:
		s.toHandler(m, msg, sender)
	}
}

func (s *socket) reply(to *actor.PID, msg any) {
	if to != nil {
		s.host.replyFrom(s.PID(), to, msg)
	}
}

// write is Write's loop half: it applies the outbound high-water mark.
// Goroutine: the loop.
func (s *socket) write(p []byte) (int, error) {
	if q := s.conn.OutboundBuffered(); q > 0 && q+len(p) > s.host.opts.SendHighWater {
		s.armWrite()
		return 0, netio.ErrWouldBlock
	}
	return s.conn.Write(p)
}

// armWrite owes an FD_WRITE once the outbound queue is at or below the
// low-water mark. Goroutine: the loop.
func (s *socket) armWrite() {
	if s.writeWait || s.closeEv != nil {
		return
	}
	s.writeWait = true
	s.conn.NotifyDrained(s.host.opts.SendLowWater, func() {
		s.writeWait = false
		if s.x != nil {
			s.x.lastOut.Store(int64(s.conn.OutboundBuffered()))
		}
		s.emit(events.FDWrite, netio.OK, "write", false)
	})
}

// doSend answers a Send: also on a half-open socket (peer FIN), whose send
// side stays usable (docs/SEMANTICS.md §5). A refusal is counted in
// HostStats.SendsRefused whether or not a reply was asked for.
func (s *socket) doSend(m *Send) *SendResult {
	code := netio.OK
	n := 0
	switch {
	case m == nil:
		code = netio.WSAEINVAL
	case len(m.Data) > s.host.opts.MaxSend:
		code = netio.WSAEMSGSIZE
	default:
		if code = s.conn.SendCode(); code == netio.OK && len(m.Data) > 0 {
			var err error
			n, err = s.write(m.Data)
			code = netio.CodeOf(err, netio.WSAECONNRESET)
		}
	}
	if code != netio.OK {
		s.host.sendsRefused.Add(1)
	}
	return &SendResult{N: int64(n), Code: uint32(code)}
}

// doRecv answers a pull (docs/SEMANTICS.md §2). A push-mode socket buffers nothing,
// so while open it answers WSAEWOULDBLOCK.
func (s *socket) doRecv(m *Recv, closed bool) *RecvResult {
	switch {
	case m == nil || m.Max < 0:
		return &RecvResult{Code: uint32(netio.WSAEINVAL)}
	case s.conn.RecvShut():
		return &RecvResult{Code: uint32(netio.WSAESHUTDOWN)}
	}
	if x := s.x; x != nil && len(x.pull) > x.pullOff {
		n := min(int(m.Max), len(x.pull)-x.pullOff)
		out := make([]byte, n)
		copy(out, x.pull[x.pullOff:])
		x.pullOff += n
		if x.pullOff == len(x.pull) {
			x.pull, x.pullOff = x.pull[:0], 0
			if cap(x.pull) > 64<<10 {
				x.pull = nil // do not keep a flood's buffer
			}
		}
		// Recv re-enables FD_READ; data left over posts the next one now.
		s.readPosted = false
		if len(x.pull) > x.pullOff {
			s.postRead()
		}
		return &RecvResult{Data: out}
	}
	s.readPosted = false
	if closed {
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

func (s *socket) doSubscribe(m *Subscribe) netio.Code {
	if m == nil || m.SubscriberId == "" || !events.Mask(m.Mask).Valid() {
		return netio.WSAEINVAL
	}
	pid := actor.NewPID(m.SubscriberAddress, m.SubscriberId)
	x := s.ext()
	had := x.subs.Has(pid, events.FDClose)
	x.subs = x.subs.With(pid, events.Mask(m.Mask))
	if s.closeEv != nil && events.Mask(m.Mask).Has(events.FDClose) && !s.host.hub.Global().Has(pid, events.FDClose) && !had {
		// The circuit already closed: the late subscriber still gets its
		// one FD_CLOSE, so its bookkeeping needs no second source.
		s.host.hub.SendTo(pid, s.closeEv)
	}
	if s.closeEv == nil && events.Mask(m.Mask).Has(events.FDRead) && len(x.pull) > x.pullOff && !s.conn.RecvShut() {
		// Winsock posts FD_READ to a new registration while unread data
		// waits: this subscriber hears of it now, the others are unaffected.
		s.host.hub.SendTo(pid, s.newEvent(events.FDRead, netio.OK, "read", false))
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
		QueuedIn:    s.pendingIn(),
		QueuedOut:   int64(st.QueuedOut),
		LocalAddr:   s.conn.LocalAddr(),
		RemoteAddr:  s.conn.RemoteAddr(),
		BanPolicy:   s.conn.Policy().String(),
		Dispatch:    s.prof.dispatch.String(),
		ListenerId:  s.prof.lnID,
		Pull:        s.prof.pull,
	}
	if x := s.x; x != nil {
		in.QueuedIn += int64(len(x.pull) - x.pullOff)
		in.QueuedOut += x.pendingOut.Load()
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
	// Runs Host.OnClose -> s.closed before returning if the circuit is up;
	// on a half-open socket it closes the send side (FIN, or RST for Abort).
	s.conn.Close(r)
	s.release()
}

// ---- lifecycle ----

func (s *socket) newEvent(k events.Kind, code netio.Code, reason string, local bool) *events.Event {
	ev := &events.Event{
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
	if s.conn != nil {
		ev.LocalAddr, ev.RemoteAddr = s.conn.LocalAddr(), s.conn.RemoteAddr()
	}
	return ev
}

// emit publishes an event to the subscribers and the socket's own handler.
// Goroutine: the loop (or the dialling goroutine before any loop owns it).
func (s *socket) emit(k events.Kind, code netio.Code, reason string, local bool) *events.Event {
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
	s.emit(events.FDRead, netio.OK, "read", false)
}

// received takes bytes read from the peer: into the pull buffer, or to the
// handler. The hot path: no allocation under Inline push dispatch.
// Goroutine: the loop.
func (s *socket) received(data []byte) {
	if s.x == nil {
		s.invokeReceived(data) // Inline push: the common case
		return
	}
	x, max := s.x, s.host.opts.MaxInbound
	if s.prof.pull {
		if len(x.pull)-x.pullOff+len(data) > max {
			s.conn.LimitClose()
			return
		}
		x.pull = append(x.pull, data...)
		s.postRead()
		return
	}
	if !s.pooled() {
		s.invokeReceived(data) // Inline push with subscriptions
		return
	}
	if x.pendingIn.Load()+int64(len(data)) > int64(max) {
		// gnet cannot pause reads: close rather than grow without bound.
		s.conn.LimitClose()
		return
	}
	cp := make([]byte, len(data))
	copy(cp, data)
	x.pendingIn.Add(int64(len(cp)))
	s.toPooled(&Received{Data: cp})
}

// connected publishes FD_CONNECT 0 for a dialled socket, then FD_WRITE: a
// Winsock socket is writable from the start. Goroutine: loop.
func (s *socket) connected() {
	s.emit(events.FDConnect, netio.OK, "connect", false)
	s.emitWritable()
}

// opened publishes FD_ACCEPT (the handler's first message), then FD_WRITE.
// Goroutine: loop.
func (s *socket) opened() {
	s.emit(events.FDAccept, netio.OK, "accept", false)
	s.emitWritable()
}

// emitWritable posts the FD_WRITE of a socket that just opened, unless the
// handler closed it in the meantime (FD_CLOSE stays the last event).
func (s *socket) emitWritable() {
	if s.closeEv == nil {
		s.emit(events.FDWrite, netio.OK, "write", false)
	}
}

// failed ends a dial that never connected: FD_CONNECT with the code (no
// FD_CLOSE: the socket never had a circuit), then the linger. Goroutine:
// the dialling goroutine; no loop owns the socket.
func (s *socket) failed(code netio.Code) {
	s.mu.Lock()
	s.dialDone = true
	subs := s.subs()
	s.mu.Unlock()
	ev := s.newEvent(events.FDConnect, code, "connect-failed", false)
	s.host.hub.Publish(ev, subs)
	s.toHandler(ev, ev, nil)
	s.lingerThenRelease()
}

// closed publishes FD_CLOSE exactly once, last, and starts the linger.
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
	case r == netio.ReasonShutdown || s.host.opts.Linger < 0:
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
	s.host.linger(s, true)
	s.mu.Lock() // the timer's function takes mu too: it sees the assignment
	s.ext().timer = time.AfterFunc(s.host.opts.Linger, func() {
		s.mu.Lock()
		onLoop := s.conn != nil
		s.mu.Unlock()
		if onLoop {
			s.post(releaseNow{})
		} else {
			s.release() // never connected: no loop owns it
		}
	})
	s.mu.Unlock()
}

// release frees the socket: out of the registry, handler stopped, pending
// requests answered WSAENOTSOCK. Idempotent. Goroutine: the loop, or
// whoever owns an unconnected socket, or Host.ReleaseAll once no loop runs.
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
	var timer *time.Timer
	if s.x != nil {
		timer = s.x.timer
	}
	s.mu.Unlock()

	if connected && s.closeEv == nil {
		// Only reachable when the engine died under us.
		s.closeEv = s.newEvent(events.FDClose, netio.WSAENETDOWN, netio.ReasonShutdown.String(), true)
		s.emitEvent(s.closeEv)
	}
	if timer != nil {
		timer.Stop()
	}
	if connected && s.conn.Closed() {
		// The linger expired (or Close ran): a half-open send side closes
		// gracefully now. Nothing to do for a connection fully closed.
		s.conn.Close(netio.ReasonLocalClose)
	}
	s.host.unregister(s.idStr)
	s.host.linger(s, false)
	s.host.open.Add(-1)
	if x := s.x; x != nil {
		// A pooled handler still drains what is queued, FD_CLOSE last.
		x.pull = nil
		for _, w := range x.watchers {
			s.host.sendSystem(w, &actor.Terminated{Who: s.PID(), Why: actor.TerminatedReason_Stopped})
		}
	}
	for _, m := range q {
		s.host.answerReleased(s.PID(), m)
	}
}

// ---- the handler ----

// toHandler gives a message to the handler: inline, or into the pooled
// pooled handler's queue (which keeps it in order with Received).
func (s *socket) toHandler(envelope, msg any, sender *actor.PID) {
	if s.pooled() {
		s.toPooled(envelope)
		return
	}
	s.invoke(msg, sender, isTaggedReply(envelope))
}

// toPooled queues m for the pooled handler and schedules a drain on
// protoactor's default dispatcher if none is pending. Goroutine: any.
func (s *socket) toPooled(m any) {
	x := s.x
	x.hmu.Lock()
	x.hq = append(x.hq, m)
	if x.hrunning {
		x.hmu.Unlock()
		return
	}
	x.hrunning = true
	x.hmu.Unlock()
	s.host.dispatcher.Schedule(s.drainPooled)
}

// drainPooled runs the pooled handler over its queue, in order, yielding
// after the dispatcher's throughput. Goroutine: protoactor's dispatcher;
// one at a time per socket.
func (s *socket) drainPooled() {
	x := s.x
	budget := s.host.dispatcher.Throughput()
	for {
		x.hmu.Lock()
		if len(x.hq) == 0 {
			x.hrunning = false
			x.hq = nil
			x.hmu.Unlock()
			return
		}
		m := x.hq[0]
		x.hq[0] = nil
		x.hq = x.hq[1:]
		r, isData := m.(*Received)
		if isData {
			if x.hbanned {
				// Cannot happen (the ban purges the queue and nothing is
				// queued after it); kept so the rule reads in one place.
				x.hmu.Unlock()
				s.dropBanned(len(r.Data))
				continue
			}
			// Taken under hmu: the ban, also under hmu, either sees this
			// delivery in flight (and its reply waits for it) or came first.
			x.delivering = true
		}
		x.hmu.Unlock()
		s.pooledReceive(m)
		if isData {
			x.hmu.Lock()
			x.delivering = false
			x.hmu.Unlock()
		}
		if budget--; budget == 0 {
			goruntime.Gosched()
			budget = s.host.dispatcher.Throughput()
		}
	}
}

// pooledReceive delivers one queued message to the pooled handler.
func (s *socket) pooledReceive(m any) {
	_, msg, sender := actor.UnwrapEnvelope(m)
	switch msg := msg.(type) {
	case *Received:
		s.x.pendingIn.Add(-int64(len(msg.Data)))
	case replyOp:
		s.reply(msg.to, msg.msg) // a ban's reply, queued behind the delivery it waited for
		return
	}
	s.invoke(msg, sender, isTaggedReply(m))
}

// invoke runs the handler once with a pooled Context. Goroutine: the loop
// (Inline) or the pooled drain goroutine (Pooled).
func (s *socket) invoke(msg any, sender *actor.PID, reply bool) {
	c := s.host.ctxPool.Get().(*Context)
	c.s, c.msg, c.sender, c.responded = s, msg, sender, reply
	s.run(c)
}

// invokeReceived hands bytes to an Inline handler: the hot path, with no
// allocation (the Context and its Received come from a pool).
func (s *socket) invokeReceived(data []byte) {
	c := s.host.ctxPool.Get().(*Context)
	c.s, c.recv.Data, c.sender, c.responded = s, data, nil, false
	c.msg = &c.recv
	s.run(c)
}

// run calls the handler. A panicking handler aborts its own socket and
// leaves everything else running; a request it leaves unanswered gets
// Error{WSAEINVAL}.
func (s *socket) run(c *Context) {
	defer func() {
		if p := recover(); p != nil {
			s.host.log.Error("sockactor: handler panic; aborting socket", "socket", s.id, "panic", fmt.Sprint(p))
			s.post(&Abort{})
		}
		if c.sender != nil && !c.responded && !isReply(c.msg) {
			s.host.replyFrom(s.PID(), c.sender, &Error{Code: uint32(netio.WSAEINVAL), Detail: fmt.Sprintf("unhandled message %T", c.msg)})
		}
		*c = Context{}
		s.host.ctxPool.Put(c)
	}()
	s.prof.handler.Receive(c)
}
