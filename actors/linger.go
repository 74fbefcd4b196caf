package actors

import (
	"sync"
	"time"
)

// The linger queue: a closed socket keeps answering for HostOptions'
// Linger, then is released. A socket whose application is still at work
// on it starts its linger again instead (lingerOver): one whose
// application took bytes with Recv (pull mode) since the linger started,
// or whose send side moved (the application wrote, or the peer took
// queued bytes: an answer still on its way), and a pooled one whose handler has not yet returned from
// its FD_CLOSE (a slow handler still taking what was queued before it, the
// answer to a half-closed client's request among them). So a reader that
// keeps reading gets every byte, and an answer still being written
// leaves whole, however slow they are; a forgetful handler still leaks
// nothing. Every socket of a host lingers for the same
// duration, so the sockets wait in the order their lingers end: one FIFO
// and one timer (armed for the head) serve them all, instead of a timer, a
// door entry and a map entry per closed socket. The timer fires at most
// once per lingerSlack: it waits that much past the head's end and
// releases every socket whose linger has ended by then, so a churn of
// thousands of closes a second costs a hundred timer wake-ups a second,
// not one per socket (a socket is released up to lingerSlack after its
// Linger, never before). A socket released early
// (Close during its linger, Shutdown) stays in the queue until its turn,
// where releasing it again does nothing.

// lingerEntry is one socket and when its linger ends.
type lingerEntry struct {
	s  *socket
	at time.Time
}

// lingerQueue is the host's queue. Safe for concurrent use.
type lingerQueue struct {
	mu    sync.Mutex
	q     []lingerEntry // guarded by mu: q[head:] wait, oldest first
	head  int           // guarded by mu
	armed bool          // guarded by mu: a timer for q[head] is pending
	fires int           // guarded by mu: lingerDue runs so far (tests)
}

// add starts s's linger. It reports false if the host's door is closed (the
// runtime is stopping): the caller then releases s at once.
// Goroutine: any (the socket's loop, normally).
func (h *host) lingerAdd(s *socket) bool {
	lq := &h.lingerQ
	lq.mu.Lock()
	defer lq.mu.Unlock()
	if !lq.armed {
		if h.door.AfterFunc(h.opts.Linger+lingerSlack(h.opts.Linger), h.lingerDue) == nil {
			return false
		}
		lq.armed = true
	}
	lq.q = append(lq.q, lingerEntry{s: s, at: time.Now().Add(h.opts.Linger)})
	return true
}

// lingerDue releases every socket whose linger has ended and arms the timer
// for the next one. Goroutine: the timer's.
func (h *host) lingerDue() {
	lq := &h.lingerQ
	now := time.Now()
	lq.mu.Lock()
	lq.fires++
	var due []*socket
	for lq.head < len(lq.q) && !lq.q[lq.head].at.After(now) {
		due = append(due, lq.q[lq.head].s)
		lq.q[lq.head] = lingerEntry{}
		lq.head++
	}
	lq.compact()
	lq.armed = false
	if lq.head < len(lq.q) {
		wait := lq.q[lq.head].at.Sub(now) + lingerSlack(h.opts.Linger)
		lq.armed = h.door.AfterFunc(wait, h.lingerDue) != nil
	}
	lq.mu.Unlock()
	for _, s := range due {
		s.lingerEnded()
	}
}

// lingerSlack is how long past the end of the queue head's linger the
// timer fires, gathering the lingers that end meanwhile into one wake-up:
// a sixteenth of the linger, at most 10 ms.
func lingerSlack(linger time.Duration) time.Duration {
	return min(linger/16, 10*time.Millisecond)
}

// compact gives the queue's consumed front back. mu held.
func (lq *lingerQueue) compact() {
	switch {
	case lq.head == len(lq.q):
		lq.q, lq.head = lq.q[:0], 0
		if cap(lq.q) > 1024 {
			lq.q = nil // a burst's memory goes back
		}
	case lq.head > 1024 && lq.head > len(lq.q)/2:
		lq.q = append(lq.q[:0:0], lq.q[lq.head:]...)
		lq.head = 0
	}
}

// lingering returns the sockets still in the queue (some may have been
// released already). Goroutine: any.
func (h *host) lingering() []*socket {
	lq := &h.lingerQ
	lq.mu.Lock()
	defer lq.mu.Unlock()
	out := make([]*socket, 0, len(lq.q)-lq.head)
	for _, e := range lq.q[lq.head:] {
		out = append(out, e.s)
	}
	return out
}

// lingerEnded releases s once its linger is over: on its loop if it has a
// connection, else here. Goroutine: the linger timer's.
func (s *socket) lingerEnded() {
	s.mu.Lock()
	onLoop := s.conn != nil
	released := s.released
	s.mu.Unlock()
	switch {
	case released:
	case onLoop:
		s.post(releaseNow{})
	default:
		s.release() // never connected: no loop owns it
	}
}

// lingerOver ends s's linger (the releaseNow that lingerEnded posted): it
// releases s, unless its application is still at work on it; then the
// linger starts again (see the top of this file). Goroutine: the loop.
func (s *socket) lingerOver() {
	again := false
	if x := s.x; x != nil {
		again = x.tookLate || // a Recv took bytes during this linger
			(s.conn != nil && s.conn.SendProgress() != x.lingerSent) // the send side moved
		x.tookLate = false
	}
	if q := s.q; q != nil && !q.closeTaken.Load() {
		again = true // a pooled handler that has not yet returned from its FD_CLOSE
	}
	if again && s.lingerStart() {
		return
	}
	s.release()
}

// lingerStart starts (or starts again) s's linger, noting how far its send
// side has moved. It reports false if the runtime is stopping (no linger
// then). Goroutine: the loop.
func (s *socket) lingerStart() bool {
	if s.conn != nil {
		s.ext().lingerSent = s.conn.SendProgress()
	}
	return s.host.lingerAdd(s)
}
