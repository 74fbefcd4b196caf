package actors

import (
	"github.com/asynkron/protoactor-go/actor"

	"github.com/sockactor/sockactor/netio"
	"github.com/sockactor/sockactor/winsock"
)

// The receive ban at the socket actor (docs/SEMANTICS.md §3).
//
// netio enforces the ban on the read path: once Conn.ShutdownRecv has run, no
// byte read from the kernel reaches OnData. What netio cannot see is what was
// read before and not yet consumed by the handler: the pull buffer (pull
// mode) and the Received messages waiting in a pooled handler's queue. This
// file is where those are settled, so that from the moment the
// RecvDisconnect reply is sent no Received reaches any handler:
//
//   - Inline: the handler runs on the loop, and so does the ban, so every
//     delivery has returned before the ban starts.
//   - Pull: the buffer is emptied on the loop; Recv answers WSAESHUTDOWN.
//   - Pooled: the drain goroutine takes a Received from the queue and marks
//     it in flight under hmu; the ban sets hbanned and purges the queue under
//     the same hmu. So either the ban came first (the Received is purged and
//     never delivered) or the delivery did (and the reply is queued to go out
//     right after that handler call returns). No interleaving of the two
//     goroutines leaves a Received that starts after the reply.

// banNow is Context.RecvDisconnect from a pooled handler: the ban runs on
// the loop and its code comes back on done (buffered, size 1).
type banNow struct{ done chan winsock.Code }

// replyOp is a reply queued on the pooled handler queue, sent by the drain
// goroutine once the delivery in flight ahead of it has returned.
type replyOp struct {
	to  *actor.PID
	msg any
}

// doRecvDisconnect applies the ban and builds the reply. Goroutine: the loop.
func (s *socket) doRecvDisconnect(m *RecvDisconnect, closed bool) *RecvDisconnectResult {
	if m == nil || m.BufferLen < 0 {
		return &RecvDisconnectResult{Code: uint32(winsock.WSAEINVAL)}
	}
	queued := s.dropPull() + s.banPooled()
	if closed {
		// §3.9: after FD_CLOSE it still succeeds and still bans. There is no
		// circuit left to reset (FD_CLOSE was posted, and a half-open send
		// side stays usable), so what was waiting is dropped and counted
		// whatever the policy.
		s.conn.ShutdownRecv(0)
		s.conn.AddBanned(queued)
		return &RecvDisconnectResult{}
	}
	if s.prof.policy == BanDiscard || s.conn.Datagram() {
		s.conn.AddBanned(queued) // UDP is never reset, whatever the policy (§6)
	}
	// Under BanReset, queued bytes (these, or gnet's own buffer) reset the
	// connection now: FD_CLOSE 10053 recv-ban; the reply still succeeds.
	s.conn.ShutdownRecv(queued)
	// A socket the application suspended is read again: what the kernel
	// holds and what follows are the ban's now (reset or discard, §5),
	// never the application's, and SuspendReading answers WSAESHUTDOWN.
	s.conn.ResumeReading(netio.PauseApp)
	s.notePaused()
	return &RecvDisconnectResult{}
}

// dropPull empties the pull buffer and returns how many unread bytes it
// held. Goroutine: the loop.
func (s *socket) dropPull() int {
	x := s.x
	if x == nil {
		return 0
	}
	n := len(x.pull) - x.pullOff
	x.pull, x.pullOff, x.plens = nil, 0, nil
	s.takeWaiting(n, 0)
	return n
}

// banPooled puts the ban in force for the pooled hand-off: no Received is
// taken from the queue from now on, and those waiting are dropped. It
// returns the bytes dropped. Goroutine: the loop.
func (s *socket) banPooled() int {
	if !s.pooled() {
		return 0
	}
	x := s.q
	x.hmu.Lock()
	defer x.hmu.Unlock()
	if x.hbanned {
		return 0
	}
	x.hbanned = true
	dropped := 0
	kept := x.hq[:0]
	for _, it := range x.hq {
		if it.m == nil {
			dropped += len(it.data)
			putReadBuf(it.rb) // never handed to the handler
			continue
		}
		kept = append(kept, it)
	}
	clear(x.hq[len(kept):])
	x.hq = kept
	s.takeWaiting(dropped, x.pendingIn.Add(-int64(dropped)))
	return dropped
}

// replyAfterDelivery sends a RecvDisconnect reply: at once, or, if a pooled
// delivery taken before the ban is in the handler right now, first in the
// queue so it leaves as soon as that handler call returns. Goroutine: the
// loop.
func (s *socket) replyAfterDelivery(to *actor.PID, msg any) {
	if to == nil {
		return
	}
	if s.pooled() {
		x := s.q
		x.hmu.Lock()
		if x.delivering {
			x.push(hitem{})
			copy(x.hq[1:], x.hq)
			x.hq[0] = hitem{m: replyOp{to: to, msg: msg}}
			x.hmu.Unlock()
			return
		}
		x.hmu.Unlock()
	}
	s.reply(to, msg)
}

// dropBanned counts bytes the ban kept from the handler. Goroutine: any.
func (s *socket) dropBanned(n int) {
	s.takeWaiting(n, s.q.pendingIn.Add(-int64(n)))
	s.conn.AddBanned(n)
}
