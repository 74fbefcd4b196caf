package netio

import (
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// The writability watch: how a connection that waits for gnet's outbound
// buffer to drain (an FD_WRITE owed after a refusal, a FIN queued behind
// unsent bytes) learns that it may have, with no timer per connection and no
// polling.
//
// gnet writes its buffer when the kernel reports the socket writable, and
// tells nobody. The engine keeps one epoll instance of its own, beside
// gnet's, in which a waiting connection's descriptor is armed for a single
// EPOLLOUT (EPOLLONESHOT). The kernel wakes the watch's goroutine when the
// socket's send buffer has room again, which is when gnet writes more; the
// look runs on the connection's loop (stream.onWritable): drained far enough,
// the waiters run; not yet, the descriptor is armed again. A peer that never
// reads never makes its socket writable, so its connection costs nothing
// until it does: no wake-up, no task.
//
// Ownership: the waits map is guarded by mu (the loops arm and drop, the
// watch's goroutine looks up); every waiter field but c belongs to its
// connection's loop. A descriptor leaves the epoll set in Engine.OnClose,
// before gnet closes it, so a later connection given the same number is
// never woken by this one's registration; a look that races with the close
// finds the connection closed (or another connection, for which it is only
// an extra look) and does nothing.

// writeWatch is an engine's writability watch (Engine.ww), made on first use.
type writeWatch struct {
	epfd int // immutable
	wake int // immutable: an eventfd, Stop's signal to the goroutine

	mu    sync.Mutex
	waits map[int]*waiter // mu: by descriptor
	done  chan struct{}   // closed when the goroutine returns
	looks atomic.Uint64   // wake-ups handed to a loop (what a wait costs)
}

// waiter is one waiting stream's record. Fields other than c and s belong
// to the connection's loop.
type waiter struct {
	c     *Conn   // immutable
	s     *stream // immutable: c's stream part
	fn    func()
	low   int         // fn runs once at most low bytes are queued
	inSet bool        // the descriptor is in the epoll set
	last  int         // unsent bytes at the last look: a drop is progress
	stall int         // looks in a row that found no progress
	retry *time.Timer // a stalled wait's next arm (rearm)

	fin     *time.Timer // a pending FIN's deadline (finDeadline)
	finMark int         // queued bytes when the deadline was last armed
}

// watch returns the engine's writability watch, starting it on first use.
// Nil if it cannot be made (no epoll: the engine could not run either).
// Goroutine: any loop.
func (e *Engine) watch() *writeWatch {
	e.wwMu.Lock()
	defer e.wwMu.Unlock()
	if w := e.ww.Load(); w != nil || e.wwDown {
		return w
	}
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil
	}
	wake, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		_ = unix.Close(epfd)
		return nil
	}
	ev := unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(wake)}
	if err := unix.EpollCtl(epfd, unix.EPOLL_CTL_ADD, wake, &ev); err != nil {
		_ = unix.Close(epfd)
		_ = unix.Close(wake)
		return nil
	}
	w := &writeWatch{epfd: epfd, wake: wake, waits: make(map[int]*waiter), done: make(chan struct{})}
	go w.run()
	e.ww.Store(w)
	return w
}

// stopWatch ends the watch's goroutine and closes its descriptors, once no
// loop runs. Goroutine: Stop's helper. Idempotent.
func (e *Engine) stopWatch() {
	e.wwMu.Lock()
	w := e.ww.Swap(nil)
	e.wwDown = true
	e.wwMu.Unlock()
	if w == nil {
		return
	}
	one := []byte{1, 0, 0, 0, 0, 0, 0, 0}
	_, _ = unix.Write(w.wake, one)
	<-w.done
	w.mu.Lock()
	for _, wt := range w.waits { // no loop runs now: their fields are ours
		if wt.fin != nil {
			wt.fin.Stop()
		}
		if wt.retry != nil {
			wt.retry.Stop()
		}
	}
	w.waits = nil
	w.mu.Unlock()
	_ = unix.Close(w.epfd)
	_ = unix.Close(w.wake)
}

// run is the watch's goroutine: it blocks in epoll_wait and hands each
// writable descriptor's look to its connection's loop.
func (w *writeWatch) run() {
	defer close(w.done)
	evs := make([]unix.EpollEvent, 64)
	for {
		n, err := unix.EpollWait(w.epfd, evs, -1)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return
		}
		for i := 0; i < n; i++ {
			fd := int(evs[i].Fd)
			if fd == w.wake {
				return
			}
			w.mu.Lock()
			wt := w.waits[fd]
			w.mu.Unlock()
			if wt != nil {
				w.looks.Add(1)
				c, s := wt.c, wt.s
				// Fails only when the loops stop: OnClose drops the wait.
				_ = c.execute(func() { s.onWritable(c) })
			}
		}
	}
}

// waiterOf returns c's waiter, made if need be; nil without a watch.
// Loop only.
func (s *stream) waiterOf(c *Conn) *waiter {
	w := c.eng.watch()
	if w == nil {
		return nil
	}
	fd := s.gc.Fd()
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.waits == nil {
		return nil // stopped
	}
	wt := w.waits[fd]
	if wt == nil || wt.c != c {
		wt = &waiter{c: c, s: s, low: -1, last: -1}
		w.waits[fd] = wt
	}
	return wt
}

// waiting returns c's waiter, nil if c waits for nothing. Loop only.
func (s *stream) waiting(c *Conn) *waiter {
	w := c.eng.ww.Load()
	if w == nil {
		return nil
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if wt := w.waits[s.gc.Fd()]; wt != nil && wt.c == c {
		return wt
	}
	return nil
}

// arm asks the kernel for one EPOLLOUT on c's descriptor. Loop only.
func (s *stream) arm(c *Conn, wt *waiter) {
	w := c.eng.ww.Load()
	if w == nil {
		return
	}
	fd := s.gc.Fd()
	ev := unix.EpollEvent{Events: unix.EPOLLOUT | unix.EPOLLONESHOT, Fd: int32(fd)}
	op := unix.EPOLL_CTL_MOD
	if !wt.inSet {
		op = unix.EPOLL_CTL_ADD
	}
	err := unix.EpollCtl(w.epfd, op, fd, &ev)
	if err == unix.EEXIST || err == unix.ENOENT {
		op ^= unix.EPOLL_CTL_ADD ^ unix.EPOLL_CTL_MOD
		err = unix.EpollCtl(w.epfd, op, fd, &ev)
	}
	// Another error means the descriptor is failing: gnet's own poll
	// reports that, and OnClose drops the wait.
	wt.inSet = err == nil
}

// unwatch drops c's wait: out of the epoll set, its FIN deadline stopped.
// Loop only (OnClose runs it before gnet closes the descriptor).
func (s *stream) unwatch(c *Conn) {
	w := c.eng.ww.Load()
	if w == nil {
		return
	}
	fd := s.gc.Fd()
	w.mu.Lock()
	wt := w.waits[fd]
	if wt == nil || wt.c != c {
		w.mu.Unlock()
		return
	}
	delete(w.waits, fd)
	w.mu.Unlock()
	if wt.inSet {
		_ = unix.EpollCtl(w.epfd, unix.EPOLL_CTL_DEL, fd, nil)
	}
	if wt.fin != nil {
		wt.fin.Stop()
	}
	if wt.retry != nil {
		wt.retry.Stop()
	}
}

// queued is what stands between a new write and the wire on the loop's
// side: gnet's outbound buffer and what a direct write kept. Loop only.
func (s *stream) queued() int { return s.gc.OutboundBuffered() + s.directQueued() }

// unsent is queued plus what the kernel still holds for the peer (TCP:
// not yet acknowledged; unix: not yet read), so a peer that reads slowly
// shows progress even while gnet's buffer waits for room. Loop only.
func (s *stream) unsent() int { return s.queued() + outq(s.gc.Fd()) }

// onWritable is the look the watch asks for: the socket had room, so gnet
// has written (or is about to). Loop only.
func (s *stream) onWritable(c *Conn) {
	if c.closed.Load() {
		return
	}
	wt := s.waiting(c)
	if wt == nil {
		return
	}
	wt.inSet = true // it fired: still in the set, disarmed
	q, u := s.queued(), s.unsent()
	switch {
	case wt.last >= 0 && u < wt.last:
		c.active = true // bytes moved: not idle
		wt.stall = 0
	case wt.last >= 0:
		wt.stall++
	}
	wt.last = u
	if wt.fn != nil && q <= wt.low {
		fn := wt.fn
		wt.fn = nil
		fn() // may write (and wait again), or close
		if c.closed.Load() {
			return
		}
	}
	if c.send == finPending {
		s.tryFin(c) // sends the FIN, or waits again
		return
	}
	s.settle(c, wt)
}

// settle arms the watch again while something still waits, and drops it
// otherwise. Loop only.
func (s *stream) settle(c *Conn, wt *waiter) {
	if c.closed.Load() {
		return
	}
	if wt.fn != nil || c.send == finPending {
		s.rearm(c, wt)
		return
	}
	s.unwatch(c)
}

// rearm arms the watch for the next look. After looks that found no
// progress (the kernel said the socket had room, yet no byte moved: under
// TCP memory pressure a socket can poll writable while its writes fail),
// the arm waits, doubling from 1 ms up to 1 s, so such a socket costs a few
// looks a second instead of a spin. Loop only.
func (s *stream) rearm(c *Conn, wt *waiter) {
	if wt.stall < 2 {
		s.arm(c, wt)
		return
	}
	if wt.retry != nil {
		return // an arm is on its way
	}
	d := min(time.Millisecond<<min(wt.stall-2, 10), time.Second)
	wt.retry = time.AfterFunc(d, func() {
		_ = c.execute(func() { // timer goroutine: the arm runs on the loop
			wt.retry = nil
			if !c.closed.Load() && s.waiting(c) == wt {
				s.arm(c, wt)
			}
		})
	})
}

// NotifyDrained calls fn on the loop once at most lowWater bytes are queued
// for sending: at once if that is already so (so a caller that must not see
// fn run inside its own call checks first), else when the kernel has taken
// enough of gnet's buffer, as the writability watch learns. A later call
// replaces an earlier fn that has not run. fn is not called if the
// connection closes first. Loop only.
func (c *Conn) NotifyDrained(lowWater int, fn func()) {
	if c.closed.Load() {
		return
	}
	s, ok := c.stream()
	if !ok || s.queued() <= lowWater { // a datagram is never queued
		fn()
		return
	}
	wt := s.waiterOf(c)
	if wt == nil {
		return
	}
	wt.fn, wt.low = fn, lowWater
	s.arm(c, wt)
}

// waitFin waits for the outbound buffer to empty before the FIN goes, with
// a deadline: if the peer takes no byte for halfOpenFlushTimeout, the
// connection is reset (ReasonTimeout) and what is still queued is counted
// as dropped. Loop only.
func (s *stream) waitFin(c *Conn) {
	wt := s.waiterOf(c)
	if wt == nil {
		return
	}
	if wt.fin == nil {
		wt.finMark = s.unsent()
		wt.fin = time.AfterFunc(halfOpenFlushTimeout, func() {
			// Timer goroutine: the look runs on the loop.
			_ = c.execute(func() { s.finDeadline(c) })
		})
	}
	s.rearm(c, wt)
}

// finDeadline is the pending FIN's deadline: progress since the last one
// buys another period, none resets the connection. Loop only.
func (s *stream) finDeadline(c *Conn) {
	if c.closed.Load() || c.send != finPending {
		return
	}
	wt := s.waiting(c)
	if wt == nil || wt.fin == nil {
		return
	}
	if q := s.unsent(); q < wt.finMark {
		wt.finMark = q
		wt.fin.Reset(halfOpenFlushTimeout)
		return
	}
	c.Close(ReasonTimeout) // abortive: OnClose counts the queued bytes in SendDropped
}
