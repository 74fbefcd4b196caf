package actors

import (
	"github.com/asynkron/protoactor-go/actor"

	"github.com/sockactor/sockactor/netio"
	"github.com/sockactor/sockactor/winsock"
)

// UDP sockets (docs/SEMANTICS.md §6): a listener's peers and dialled UDP
// sockets are sockets like the others; what differs is that a datagram is
// the unit. Push mode needs nothing here (one OnData is one datagram, one
// Received); pull mode keeps the datagrams' lengths beside their bytes so
// that one Recv takes one datagram; a ban on the listener reaches every peer.

// pullDatagram queues one datagram for Recv. Goroutine: the loop.
func (s *socket) pullDatagram(data []byte) {
	x := s.x
	if s.datagramOverBudget(len(data), int64(len(x.pull)-x.pullOff)) {
		return // no flow control to pause: dropped and counted
	}
	x.pull = append(x.pull, data...)
	x.plens = append(x.plens, len(data))
	s.addWaiting(len(data), int64(len(x.pull)-x.pullOff))
	s.postRead()
}

// recvDatagram answers a Recv on a UDP socket with the oldest datagram: its
// first m.Max bytes, and WSAEMSGSIZE when it was longer (the rest is
// discarded, as Winsock's recv does). It returns nil when none is queued.
// Goroutine: the loop.
func (s *socket) recvDatagram(m *Recv) *RecvResult {
	x := s.x
	if x == nil || len(x.plens) == 0 {
		return nil
	}
	size := x.plens[0]
	n := min(int(m.Max), size)
	out := make([]byte, n)
	copy(out, x.pull[x.pullOff:])
	x.pullOff += size
	x.plens = x.plens[1:]
	s.takeWaiting(size, int64(len(x.pull)-x.pullOff))
	if len(x.plens) == 0 {
		x.pull, x.pullOff, x.plens = x.pull[:0], 0, x.plens[:0]
		if cap(x.pull) > 64<<10 {
			x.pull, x.plens = nil, nil // do not keep a flood's buffer
		}
	}
	s.readPosted = false
	if len(x.plens) > 0 {
		s.postRead()
	}
	r := &RecvResult{Data: out}
	if n < size {
		r.Code = uint32(winsock.WSAEMSGSIZE)
	}
	return r
}

// banListenerPeers is RecvDisconnect on a UDP listener: the ban covers
// every peer, now and to come; the reply leaves once every peer's loop has
// dropped what its socket held. Goroutine: the sender's.
func (l *Listener) banListenerPeers(sender *actor.PID) {
	l.nl.BanPeers(func(c *netio.Conn) {
		// Event loop goroutine of the peer.
		if s, ok := c.Owner.(*socket); ok {
			c.AddBanned(s.dropPull() + s.banPooled())
		}
	}, func() {
		if sender != nil {
			l.host.replyFrom(l.pid, sender, &RecvDisconnectResult{})
		}
	})
}
