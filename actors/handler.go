package actors

import (
	"fmt"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/sockactor/sockactor/winsock"
)

// Handler is the behaviour of the sockets of one listener. Receive runs
// inside the socket actor, once per message, never concurrently for one
// socket. It sees:
//   - *Received: bytes from the peer;
//   - *events.Event: the socket's own events: FD_ACCEPT (or FD_CONNECT)
//     first, then FD_WRITE, FD_READ (pull mode) and FD_CLOSE, always last;
//   - any other message sent to the socket's PID (its "own" messages,
//     including replies to requests it made with Context.Request).
//
// One Handler value serves every socket of its listener; keep per-socket
// state in Context.SetState. Under Inline dispatch Receive runs on the
// socket's event loop and must not block; under Pooled dispatch it runs on
// a worker of the runtime's pool (pool.go) and may block.
type Handler interface {
	Receive(c *Context)
}

// HandlerFunc adapts a function to Handler.
type HandlerFunc func(c *Context)

// Receive calls f(c).
func (f HandlerFunc) Receive(c *Context) { f(c) }

// Received carries bytes read from the peer. Under Inline dispatch Data is a
// view into the event loop's read buffer, valid only during Receive (copy
// what you keep); under Pooled dispatch Data is a copy the handler owns
// (keep the slice, not the *Received: in both modes the Received itself is
// the Context's, reused after Receive returns), unless the socket's
// SocketOptions.RecycleReads lends it for the call only, as Inline does. Under Pooled dispatch the
// bytes of reads that arrived while the handler was busy come joined in
// one Received (up to 64 KiB; each datagram of a UDP socket stays one).
type Received struct {
	Data []byte
}

// Context is what a Handler sees of its socket during one Receive call.
//
// A Context is valid only during the Receive call it was passed to and only
// on that goroutine; the runtime reuses it. Everything it returns (PIDs,
// addresses) may be kept.
type Context struct {
	s         *socket
	msg       any
	sender    *actor.PID
	responded bool     // Respond or Defer was called for this request
	recv      Received // the Received of a delivery (Inline, and Pooled from the hand-off queue)
	out       []byte   // the write batch: stream bytes Written during this call, not yet flushed (batch.go)
}

// Message returns the message being handled.
func (c *Context) Message() any { return c.msg }

// Sender returns the PID that sent the message as a request, or nil.
func (c *Context) Sender() *actor.PID { return c.sender }

// Self returns the socket's PID.
func (c *Context) Self() *actor.PID { return c.s.PID() }

// ID returns the socket's numeric id.
func (c *Context) ID() uint64 { return c.s.id }

// Dispatch returns how this handler runs.
func (c *Context) Dispatch() Dispatch { return c.s.prof.dispatch }

// LocalAddr and RemoteAddr return the connection's addresses ("" for a
// dialled socket that never connected).
func (c *Context) LocalAddr() string {
	if c.s.conn == nil {
		return ""
	}
	return c.s.conn.LocalAddr()
}

// RemoteAddr returns the peer's address.
func (c *Context) RemoteAddr() string {
	if c.s.conn == nil {
		return ""
	}
	return c.s.conn.RemoteAddr()
}

// System returns the actor system the socket lives in.
func (c *Context) System() *actor.ActorSystem { return c.s.host.system }

// State returns the per-socket value set with SetState (nil at first).
func (c *Context) State() any { return *c.s.state() }

// SetState stores a per-socket value for later calls.
func (c *Context) SetState(v any) { *c.s.state() = v }

// Write sends p to the peer. When bytes are already queued and p would take
// the queue over the high-water mark it fails with ErrWouldBlock and queues
// nothing; FD_WRITE follows once the queue drains below the low-water mark.
//
// On a stream socket the bytes of one Receive call are batched: Write
// copies p into the call's write batch, and the batch leaves with one
// system call when Receive returns (or earlier: when it would grow past
// 64 KiB, before a write the high-water mark would refuse, before the
// handler's messages described below, and on Flush). So the replies to a
// read of pipelined requests, each written with its own Write, reach the
// peer in one write(2), as a hand-built buffer would. A Write of 64 KiB or
// more is not copied: the batch is flushed and p written at once. Each
// datagram of a UDP socket is sent by its own Write, unbatched.
//
// Under Inline dispatch the batch goes straight into the connection (or
// gnet's outbound buffer). Under Pooled dispatch it is written to the
// socket from the handler's goroutine (netio.Conn.WriteDirect: no hop
// through the loop) while nothing the handler wrote or sent its own socket
// is still on its way through the mailbox and gnet holds no unsent bytes;
// otherwise it is queued in the socket's mailbox. Either way the bytes
// reach the peer in order with the messages the handler sends to its own
// socket (a Write before a SendDisconnect goes out before the FIN, one
// after it is refused); the count is len(p) once batched, written or
// queued. p is never retained. It fails with ErrShutdown after
// SendDisconnect and ErrNotConn once the connection is gone. After the
// peer's FIN (FD_CLOSE peer-close) the socket stays writable until it is
// closed or its linger expires (docs/SEMANTICS.md §5). Refusals are counted
// in HostStats.SendsRefused; batched bytes the connection can no longer
// take when the batch leaves (it was reset meanwhile) are counted in
// SendDropped, as every accepted byte that never reaches the peer.
//
// Messages a handler sends to its own PID (SendDisconnect, Close, ...) are
// asynchronous: under Inline dispatch they run after Receive returns, so a
// Write later in the same Receive still goes out before them. Under Pooled
// dispatch, where the loop may handle a message while the handler still
// runs, Send and Request (and the helpers built on them) flush the batch
// first, whatever the receiver: what the handler wrote before a message
// is on its way before anything the message causes.
//
// Goroutine: the one running the handler, during Receive.
func (c *Context) Write(p []byte) (int, error) {
	n, err := c.write(p)
	if err != nil {
		c.s.host.sendsRefused.Add(1)
	}
	return n, err
}

// writeNow is Write without the batch: p goes to the connection now.
// Goroutine: the one running the handler.
func (c *Context) writeNow(p []byte) (int, error) {
	s := c.s
	if s.prof.dispatch == Inline {
		return s.write(p) // event loop goroutine
	}
	// Pooled: the handler's goroutine. The bytes go straight to the socket
	// when they can (netio/direct.go), else to the loop through the
	// mailbox, in order with the socket's messages.
	if len(p) == 0 && !s.conn.Datagram() {
		return 0, nil // (an empty datagram is still a datagram)
	}
	if m := s.conn.MaxDatagram(); m > 0 && len(p) > m {
		return 0, &winsock.OpError{Op: "Send", Socket: s.id, Code: winsock.WSAEMSGSIZE}
	}
	// The rule of socket.write, on what this goroutine last saw: a
	// refusal's FD_WRITE is posted by the loop, never run inside Write.
	if s.pooledRefuses(len(p), 0) {
		s.host.limits.highWater.Add(1)
		s.post(wantWrite{})
		return 0, winsock.ErrWouldBlock
	}
	s.pooledWrite(p, false)
	return len(p), nil
}

// pooledQueued is what a pooled handler's goroutine sees of the socket's
// outbound queue: its Writes in the mailbox, gnet's buffer as the loop
// last saw it (a half-open side's queue, read live, once closed), and
// what a direct write left for the loop. Goroutine: the pooled handler's.
func (s *socket) pooledQueued() int64 {
	last := s.q.lastOut.Load()
	if s.conn.Closed() {
		// Half-open: gnet's buffer is gone (lastOut is no longer
		// refreshed, and no FD_WRITE follows FD_CLOSE); what waits is the
		// half-open side's queue, read live.
		last = int64(s.conn.HalfOpenQueued())
	}
	return s.q.pendingOut.Load() + last + int64(s.conn.DirectQueued())
}

// pooledRefuses applies the write rule (socket.write) to n more bytes on
// top of the queue as the pooled goroutine sees it plus batched bytes.
// Goroutine: the pooled handler's.
func (s *socket) pooledRefuses(n, batched int) bool {
	queued := s.pooledQueued() + int64(batched)
	return queued > int64(s.host.opts.SendLowWater) && queued+int64(n) > int64(s.host.opts.SendHighWater)
}

// pooledWrite puts p on its way from the pooled handler's goroutine:
// straight to the socket when nothing of this handler is still in the
// mailbox, else queued behind it. own says p may be kept (the handler's
// batch, handed over); otherwise it is copied. It reports whether p was
// kept. Goroutine: the pooled handler's.
func (s *socket) pooledWrite(p []byte, own bool) (kept bool) {
	// Only this goroutine makes writeOps, and the loop counts one out of
	// pendingOut only once gnet has it: with none pending, a direct write
	// cannot overtake an earlier Write. Nor an earlier message of this
	// handler to its own socket (a SendDisconnect, a Close): see toSelf.
	if s.q.pendingOut.Load() == 0 && s.q.selfMsgs.Load() == 0 {
		if _, ok := s.conn.WriteDirect(p); ok {
			return false
		}
	}
	cp := p
	if !own {
		cp = make([]byte, len(p))
		copy(cp, p)
	}
	s.q.pendingOut.Add(int64(len(cp)))
	s.post(writeOp{data: cp})
	return own
}

// RecvDisconnect applies the receive ban to this socket from its own
// handler and returns the disconnect data (always empty for TCP): from its
// return on, no *Received reaches this handler (docs/SEMANTICS.md §3).
//
// Under Inline dispatch it runs at once, on the loop. Under Pooled dispatch
// it waits for the loop to apply the ban. Use it rather than a Caller (or
// Runtime) RecvDisconnect on the handler's own socket: that request's reply
// waits for the delivery in flight, which would be this very call.
func (c *Context) RecvDisconnect() ([]byte, error) {
	s := c.s
	c.flush() // what was written before the ban leaves first (a reset may follow)
	var code winsock.Code
	switch {
	case s.conn == nil:
		code = winsock.WSAENOTCONN // a dial still connecting, or one that failed
	case s.prof.dispatch == Inline:
		code = winsock.Code(s.doRecvDisconnect(&RecvDisconnect{}, s.closeEv != nil).Code) // event loop goroutine
	default:
		done := make(chan winsock.Code, 1)
		s.post(banNow{done: done}) // answered on the loop, or WSAENOTSOCK once released
		code = <-done
	}
	if code != winsock.OK {
		return nil, &winsock.OpError{Op: "RecvDisconnect", Socket: s.id, Code: code}
	}
	return nil, nil
}

// WriteString is Write for a string.
func (c *Context) WriteString(str string) (int, error) { return c.Write([]byte(str)) }

// Respond replies to the sender of the current message, if there is one.
//
// A request (a message with a sender) that is not one of the socket
// messages, nor one of their replies or an event, and that the handler
// neither Responds to nor Defers during Receive is answered with
// Error{WSAEINVAL} ("unhandled message"), so a caller never waits for a
// reply that will not come.
func (c *Context) Respond(msg any) {
	c.responded = true
	if c.sender != nil {
		c.s.host.respond(c.s.PID(), c.sender, msg)
	}
}

// Defer takes over the reply to the current request: it returns the sender
// (nil if none) so the handler can answer later with Send, and stops the
// automatic Error reply described at Respond.
func (c *Context) Defer() *actor.PID {
	c.responded = true
	return c.sender
}

// Send sends the actor message msg to pid without a sender: fire and
// forget, nobody answers it (a socket actor replies only to requests). It
// puts no byte on the wire: bytes for the peer go through Write (or the
// actors.Send message). Use Request when the receiver should know this
// socket or answer it. Safe from the handler's goroutine.
func (c *Context) Send(pid *actor.PID, msg any) {
	c.beforeMessage()
	c.orderSelf(pid)
	c.s.host.system.Root.RequestWithCustomSender(pid, msg, nil)
	c.orderedSelf(pid)
}

// Request sends msg to pid as a request whose reply comes back to this
// handler as an ordinary message. Use it instead of a blocking future under
// Inline dispatch, where waiting would block the event loop: a request to
// the socket's own PID is answered by the very loop the handler runs on.
//
// A request to the socket's own PID is put straight into its mailbox, not
// looked up by PID: once the socket is released, the release answers it
// (WSAENOTSOCK) to this handler, which a pooled handler still taking what
// was queued before the release gets. Through the registry it would end
// in dead letters, its answer lost.
func (c *Context) Request(pid *actor.PID, msg any) {
	c.beforeMessage()
	c.orderSelf(pid)
	if s := c.s; pid.Equal(s.PID()) {
		s.post(&actor.MessageEnvelope{Message: msg, Sender: s.PID()})
	} else {
		s.host.system.Root.RequestWithCustomSender(pid, msg, s.PID())
	}
	c.orderedSelf(pid)
}

// beforeMessage flushes a pooled handler's write batch before it sends a
// message: the loop may handle the message, or what the receiver does
// about it (a Send to this socket), while the handler still runs, and the
// bytes written before it must be on their way first. An Inline handler
// keeps batching: whatever reaches its socket because of the message is
// handled on the same loop, after Receive has returned and the batch has
// left. Goroutine: the handler's.
func (c *Context) beforeMessage() {
	if c.s.q != nil {
		c.flush()
	}
}

// orderSelf and orderedSelf keep a pooled handler's message to its own
// socket in order with its Writes: from orderSelf until the loop has
// handled the message (the selfDone that orderedSelf posts right behind
// it), Writes take the mailbox, not the direct path, so a Write after
// c.SendDisconnect() is refused and one after c.Close() never reaches the
// peer, as under Inline dispatch. Goroutine: the handler's.
func (c *Context) orderSelf(pid *actor.PID) {
	if s := c.s; s.q != nil && pid.Equal(s.PID()) {
		s.q.selfMsgs.Add(1)
	}
}

func (c *Context) orderedSelf(pid *actor.PID) {
	if s := c.s; s.q != nil && pid.Equal(s.PID()) {
		s.post(selfDone{})
	}
}

// After delivers msg to this handler after d, as a message to the socket's
// PID. It is how an Inline handler waits without blocking its loop.
func (c *Context) After(d time.Duration, msg any) {
	s := c.s
	s.host.door.AfterFunc(d, func() { s.post(msg) }) // dropped once the runtime stops
}

// String describes the socket for logs ("socket 42 (pooled)"). Safe from
// the handler's goroutine.
func (c *Context) String() string {
	return fmt.Sprintf("socket %d (%s)", c.s.id, c.s.prof.dispatch)
}
