package actors

import (
	"sync"
	"sync/atomic"

	"github.com/sockactor/sockactor/netio"
)

// Inbound back-pressure (docs/SEMANTICS.md §5): bytes read from a stream
// socket and not yet taken by its application (a pooled handler's queue, a
// pull-mode buffer) are "waiting". When a socket's waiting bytes reach
// MaxInbound its reads pause (netio.PauseInbound), so TCP's flow control
// holds the peer; they resume when the application has brought them down
// to a quarter of the limit. The runtime-wide budget (MaxBuffered) bounds
// the sum: over it, a socket that receives while holding at least its fair
// share (the budget over the sockets holding bytes) pauses
// (netio.PauseBudget), so the sockets holding the most stop first; they all
// resume once the sum is back under three quarters of the budget. A
// datagram socket cannot pause: over either limit its datagrams are
// dropped and counted.
//
// Goroutines: bytes are added on the socket's loop; they are taken on the
// loop (pull mode, bans) or on the pooled handler's goroutine. A pause is
// applied and lifted on the loop; the taking side asks for a resume with a
// resumeRead message, at most once per pause (pooledQ.pausedIn for
// MaxInbound, inboundBook.paused for the budget), and the loop checks
// again after pausing, so a resume is never lost between the two.

// DefaultMaxBuffered is the runtime-wide budget of waiting inbound bytes
// when none is set.
const DefaultMaxBuffered = 256 << 20

// inboundBook is the runtime-wide account of waiting bytes (host.inbound).
type inboundBook struct {
	total   atomic.Int64 // waiting bytes, all sockets
	holders atomic.Int64 // sockets with waiting bytes

	mu     sync.Mutex
	paused map[*socket]struct{} // mu: sockets paused by the budget
}

// resumeRead asks a socket's loop to lift a pause (a source whose
// condition has cleared).
type resumeRead struct{ src netio.PauseSource }

// addWaiting accounts n bytes just queued for the application, own being
// the socket's waiting bytes now, and pauses reads if a limit says so.
// Goroutine: the loop.
func (s *socket) addWaiting(n int, own int64) {
	b := &s.host.inbound
	total := b.total.Add(int64(n))
	if own == int64(n) {
		b.holders.Add(1)
	}
	if s.conn.Datagram() {
		return
	}
	if own >= int64(s.host.opts.MaxInbound) {
		s.pauseInbound(own)
	}
	if max := s.host.opts.MaxBuffered; total > max {
		if holders := max1(b.holders.Load()); own >= max/holders {
			s.pauseBudget()
		}
	}
}

func max1(n int64) int64 { return max(n, 1) }

// takeWaiting accounts n bytes the application took (or the ban or the
// release dropped), own being what the socket still holds, and asks for the
// resumes that allows. Goroutine: any.
func (s *socket) takeWaiting(n int, own int64) {
	if n == 0 {
		return
	}
	b := &s.host.inbound
	total := b.total.Add(-int64(n))
	if own == 0 {
		b.holders.Add(-1)
	}
	if own <= int64(s.host.opts.MaxInbound/4) {
		if q := s.pushQ(); q != nil {
			if q.pausedIn.CompareAndSwap(true, false) {
				s.post(resumeRead{src: netio.PauseInbound}) // the pooled goroutine: the loop lifts it
			}
		} else if s.conn.ReadPaused()&netio.PauseInbound != 0 {
			s.post(resumeRead{src: netio.PauseInbound}) // after the operation that took them
		}
	}
	if total <= s.host.opts.MaxBuffered*3/4 {
		s.host.resumeBudget()
	}
}

// datagramOverBudget reports whether a datagram of n bytes, to a socket
// holding own bytes, must be dropped: UDP cannot pause. Counted here.
// Goroutine: the loop.
func (s *socket) datagramOverBudget(n int, own int64) bool {
	if own+int64(n) <= int64(s.host.opts.MaxInbound) && s.host.inbound.total.Load()+int64(n) <= s.host.opts.MaxBuffered {
		return false
	}
	s.host.limits.inbound.Add(1)
	s.host.limits.inboundDropped.Add(uint64(n))
	return true
}

// pushQ returns the pooled hand-off when the application takes its bytes
// off the loop (a pooled push-mode handler), nil when it takes them on the
// loop (pull mode's Recv).
func (s *socket) pushQ() *pooledQ {
	if s.prof.pull {
		return nil
	}
	return s.q
}

// pauseInbound pauses reads for MaxInbound. Goroutine: the loop.
func (s *socket) pauseInbound(own int64) {
	if s.conn.ReadPaused()&netio.PauseInbound != 0 {
		return
	}
	q := s.pushQ()
	if q != nil {
		q.pausedIn.Store(true) // before the pause: a take from now on asks for a resume
	}
	if !s.conn.PauseReading(netio.PauseInbound) {
		if q != nil {
			q.pausedIn.Store(false)
		}
		return
	}
	s.host.limits.inbound.Add(1)
	s.notePaused()
	if q != nil && q.pendingIn.Load() <= int64(s.host.opts.MaxInbound/4) && q.pausedIn.CompareAndSwap(true, false) {
		s.resume(netio.PauseInbound) // the handler took them meanwhile
	}
}

// pauseBudget pauses reads for the runtime-wide budget. Goroutine: the loop.
func (s *socket) pauseBudget() {
	if s.conn.ReadPaused()&netio.PauseBudget != 0 || !s.conn.PauseReading(netio.PauseBudget) {
		return
	}
	s.host.limits.budget.Add(1)
	s.notePaused()
	b := &s.host.inbound
	b.mu.Lock()
	if b.paused == nil {
		b.paused = make(map[*socket]struct{})
	}
	b.paused[s] = struct{}{}
	b.mu.Unlock()
	if b.total.Load() <= s.host.opts.MaxBuffered*3/4 {
		s.host.resumeBudget() // the sum fell meanwhile
	}
}

// resumeBudget asks every socket the budget paused to read again.
// Goroutine: any.
func (h *host) resumeBudget() {
	b := &h.inbound
	b.mu.Lock()
	paused := b.paused
	b.paused = nil
	b.mu.Unlock()
	for s := range paused {
		s.post(resumeRead{src: netio.PauseBudget})
	}
}

// resume lifts the pause of src. Goroutine: the loop.
func (s *socket) resume(src netio.PauseSource) {
	if s.conn == nil {
		return
	}
	if src == netio.PauseInbound && s.pushQ() == nil && s.x != nil && len(s.x.pull)-s.x.pullOff > s.host.opts.MaxInbound/4 {
		return // pull mode: filled again since the take that asked
	}
	s.conn.ResumeReading(src) // may deliver bytes a read brought in meanwhile
	s.notePaused()
}

// dropWaiting accounts every byte the socket still holds as gone: at its
// release, when nobody will take them. Goroutine: the loop.
func (s *socket) dropWaiting(n int) { s.takeWaiting(n, 0) }
