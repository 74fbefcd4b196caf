package actors

import (
	"fmt"
	"log/slog"
	goruntime "runtime"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/sockactor/sockactor/events"
	"github.com/sockactor/sockactor/netio"
	"github.com/sockactor/sockactor/winsock"
)

// Handler invocation in both dispatch modes: Inline runs the handler on the
// event loop; Pooled queues its messages on a per-socket queue drained by
// a worker of the host's pool (pool.go), one message at a time. The receive ban's
// agreement with that queue is in ban.go.

// toHandler gives a message to the handler: inline, or into the pooled
// handler's queue (which keeps it in order with Received).
func (s *socket) toHandler(envelope, msg any, sender *actor.PID) {
	if s.pooled() {
		s.toPooled(envelope)
		return
	}
	s.invoke(msg, sender, isTaggedReply(envelope))
}

// toPooled queues m for the pooled handler and schedules a drain on the
// host's worker pool if none is pending. Goroutine: any.
func (s *socket) toPooled(m any) {
	x := s.q
	x.hmu.Lock()
	x.push(hitem{m: m})
	s.scheduleDrain()
}

// toPooledData queues a copy of bytes read from the peer for the pooled
// handler. Bytes of a stream still waiting in the queue's last entry are
// joined by these, up to maxJoin (one Received, one handler call, one
// reply write for both reads: the stream has no boundaries to keep), and a
// read longer than maxJoin (what gnet held while reads were paused, handed
// over at the resume) is queued in pieces of maxJoin: no Received is
// larger. A datagram (stream false) is always an entry of its own.
// Goroutine: the loop.
func (s *socket) toPooledData(data []byte, stream bool) {
	x := s.q
	x.hmu.Lock()
	for first := true; first || len(data) > 0; first = false {
		if !stream {
			x.push(s.pooledCopy(data))
			break
		}
		if n := len(x.hq); n > 0 && x.hq[n-1].m == nil && (len(x.hq[n-1].data) < maxJoin || len(data) == 0) {
			// A drain is pending: it takes them with the rest.
			chunk := data[:min(len(data), maxJoin-len(x.hq[n-1].data))]
			s.join(&x.hq[n-1], chunk)
			data = data[len(chunk):]
			continue
		}
		chunk := data[:min(len(data), maxJoin)]
		x.push(s.pooledCopy(chunk))
		data = data[len(chunk):]
	}
	s.scheduleDrain() // unlocks; nothing to do if a drain is pending
}

// pooledCopy is a queue entry holding a copy of data: in a recycled buffer
// when the socket recycles its reads, else in one of its own.
func (s *socket) pooledCopy(data []byte) hitem {
	var it hitem
	if s.prof.recycle {
		it.rb = getReadBuf(len(data))
	}
	if it.rb != nil {
		it.data = append(it.rb.b, data...)
	} else {
		it.data = make([]byte, len(data))
		copy(it.data, data)
	}
	return it
}

// join appends data to the waiting entry it. A recycled buffer too small
// for both is traded for one of the next class that holds them, so the
// entry stays recycled. Called with hmu held.
func (s *socket) join(it *hitem, data []byte) {
	if it.rb != nil && len(it.data)+len(data) > cap(it.data) {
		if rb := getReadBuf(len(it.data) + len(data)); rb != nil {
			rb.b = append(rb.b, it.data...)
			putReadBuf(it.rb)
			it.rb, it.data = rb, rb.b
		}
	}
	it.data = append(it.data, data...)
}

// maxJoin bounds the bytes of reads joined into one pooled Received: a
// flood queued for a slow handler stays in reads of gnet's size, not one
// buffer regrown to MaxInbound.
const maxJoin = 64 << 10

// scheduleDrain schedules a drain on the host's worker pool unless one is
// pending, and unlocks hmu (held by the caller, who just queued).
// Goroutine: any.
func (s *socket) scheduleDrain() {
	x := s.q
	if x.hrunning {
		x.hmu.Unlock()
		return
	}
	x.hrunning = true
	if x.gone {
		x.held = true
		s.host.door.hold()
	}
	x.hmu.Unlock()
	s.host.pool.schedule(s) // a worker runs drainPooled (pool.go)
}

// holdDrain makes the door count this socket's pooled drain from now on,
// running or still to come, so that Shutdown's wait covers the handler
// calls queued at release (FD_CLOSE last). Goroutine: whoever releases.
func (s *socket) holdDrain() {
	x := s.q
	x.hmu.Lock()
	x.gone = true
	if x.hrunning && !x.held {
		x.held = true
		s.host.door.hold()
	}
	x.hmu.Unlock()
}

// drainPooled runs the pooled handler over its queue, in order, yielding
// every drainBudgetPooled messages. Goroutine: a worker of the host's pool
// (pool.go); one at a time per socket.
func (s *socket) drainPooled() {
	x := s.q
	budget := drainBudgetPooled
	x.hmu.Lock()
	for {
		if len(x.hq) == 0 {
			x.hrunning = false
			x.recycleQueue()
			held := x.held
			x.held = false
			x.hmu.Unlock()
			if held {
				s.host.door.release()
			}
			return
		}
		it := x.hq[0]
		x.hq[0] = hitem{}
		if len(x.hq) == 1 {
			x.hq = x.hq[:0] // the array's start kept, for recycleQueue
		} else {
			x.hq = x.hq[1:]
		}
		isData := it.m == nil
		if isData {
			if x.hbanned {
				// Cannot happen (the ban purges the queue and nothing is
				// queued after it); kept so the rule reads in one place.
				x.hmu.Unlock()
				s.dropBanned(len(it.data))
				putReadBuf(it.rb)
				x.hmu.Lock()
				continue
			}
			// Taken under hmu: the ban, also under hmu, either sees this
			// delivery in flight (and its reply waits for it) or came first.
			x.delivering = true
		}
		x.hmu.Unlock()
		s.pooledReceive(it)
		if budget--; budget == 0 {
			goruntime.Gosched()
			budget = drainBudgetPooled
		}
		// One critical section ends this delivery and takes the next
		// entry (a ban's reply queued behind it, typically).
		x.hmu.Lock()
		if isData {
			x.delivering = false
		}
	}
}

// pooledReceive delivers one queued entry to the pooled handler.
// Goroutine: the pooled drain's worker.
func (s *socket) pooledReceive(it hitem) {
	if it.m == nil {
		s.takeWaiting(len(it.data), s.q.pendingIn.Add(-int64(len(it.data))))
		s.invokeReceived(it.data)
		putReadBuf(it.rb) // RecycleReads: the handler kept no view of it
		return
	}
	m := it.m
	_, msg, sender := actor.UnwrapEnvelope(m)
	switch msg := msg.(type) {
	case replyOp:
		s.reply(msg.to, msg.msg) // a ban's reply, queued behind the delivery it waited for
		return
	}
	s.invoke(msg, sender, isTaggedReply(m))
	if ev, ok := msg.(*events.Event); ok && ev.EventKind() == events.FDClose {
		s.q.closeTaken.Store(true) // the handler has heard of the close (linger.go)
	}
}

// invoke runs the handler once with a pooled Context. Goroutine: the loop
// (Inline) or the pooled drain goroutine (Pooled).
func (s *socket) invoke(msg any, sender *actor.PID, reply bool) {
	c := s.host.ctxPool.Get().(*Context)
	c.s, c.msg, c.sender, c.responded = s, msg, sender, reply
	s.run(c)
}

// invokeReceived hands bytes to the handler as the Context's own
// Received: the hot path, with no allocation (the Context and its Received
// come from a pool). Goroutine: the loop (Inline) or the pooled drain's
// worker (Pooled, whose handler owns data).
func (s *socket) invokeReceived(data []byte) {
	c := s.host.ctxPool.Get().(*Context)
	c.s, c.recv.Data, c.sender, c.responded = s, data, nil, false
	c.msg = &c.recv
	s.run(c)
}

// run calls the handler, then flushes the call's write batch. A panicking
// handler aborts its own socket and leaves everything else running; a
// request it leaves unanswered gets Error{WSAEINVAL}. Goroutine: the loop
// (Inline) or the pooled drain goroutine (Pooled).
func (s *socket) run(c *Context) {
	defer func() {
		p := recover()
		// The call's write batch leaves now, in one write (batch.go): also
		// after a panic, whose Abort then comes behind it, as it would
		// behind unbatched writes.
		c.flush()
		if p != nil {
			s.host.log.Error("sockactor: handler panic; aborting socket", s.logAttrs(netio.ReasonLocalAbort, slog.String("panic", fmt.Sprint(p)))...)
			s.post(&Abort{})
		}
		if c.sender != nil && !c.responded && !isReply(c.msg) {
			s.host.replyFrom(s.PID(), c.sender, &Error{Code: uint32(winsock.WSAEINVAL), Detail: fmt.Sprintf("unhandled message %T", c.msg)})
		}
		*c = Context{out: keepBatch(c.out)}
		s.host.ctxPool.Put(c)
	}()
	s.prof.handler.Receive(c)
}
