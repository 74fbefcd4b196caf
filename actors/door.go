package actors

import (
	"context"
	"sync"
	"time"
)

// door is the one way the socket actors start their own goroutines and
// timers (the dialling goroutine, linger timers, Context.After) and the
// register of the pooled handler drains that outlive their socket's
// release: it counts them all, refuses new goroutines and timers once
// closed, and lets the runtime's Shutdown wait until the count is zero.
// Its context is done once it is closed, so a goroutine blocked on the
// network (a dial) ends promptly. Caller requests start no goroutine (they
// wait on the caller's own; see replyBox).
//
// A running pooled drain is not counted while its socket lives: counting
// every drain costs a shared counter per hand-off on the hot path. It is
// counted from the socket's release (see socket.holdDrain), which at
// Shutdown comes before Wait, so Wait also covers the handler calls still
// running then, the FD_CLOSE one last.
//
// Goroutine-safety: every method is safe for concurrent use.
type door struct {
	ctx    context.Context
	cancel context.CancelFunc

	mu     sync.Mutex // guards everything below
	closed bool
	timers map[*doorTimer]struct{}
	n      int           // goroutines running, timers pending or firing, drains held
	idle   chan struct{} // closed when n drops to 0; made by Wait
}

func newDoor() *door {
	d := &door{timers: map[*doorTimer]struct{}{}}
	d.ctx, d.cancel = context.WithCancel(context.Background())
	return d
}

// Go runs fn on a new goroutine, or reports false once the door is closed.
func (d *door) Go(fn func()) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return false
	}
	d.n++
	go func() {
		defer d.release()
		fn()
	}()
	return true
}

// hold counts work already under way that Wait must wait for, even once the
// door is closed (a pooled drain). Each hold is ended by one release.
func (d *door) hold() {
	d.mu.Lock()
	d.n++
	d.mu.Unlock()
}

// release ends one goroutine, timer or hold.
func (d *door) release() {
	d.mu.Lock()
	d.n--
	if d.n == 0 && d.idle != nil {
		close(d.idle)
		d.idle = nil
	}
	d.mu.Unlock()
}

// doorTimer is a timer started through a door.
type doorTimer struct {
	d *door
	t *time.Timer
}

// AfterFunc calls fn on its own goroutine after dur, like time.AfterFunc, or
// returns nil once the door is closed.
func (d *door) AfterFunc(dur time.Duration, fn func()) *doorTimer {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return nil
	}
	t := &doorTimer{d: d}
	d.timers[t] = struct{}{}
	d.n++
	t.t = time.AfterFunc(dur, func() {
		defer d.done(t)
		fn()
	})
	return t
}

// Stop stops the timer; it reports whether that kept fn from running.
// Safe on a nil timer.
func (t *doorTimer) Stop() bool {
	if t == nil || !t.t.Stop() {
		return false
	}
	t.d.done(t)
	return true
}

func (d *door) done(t *doorTimer) {
	d.mu.Lock()
	delete(d.timers, t)
	d.mu.Unlock()
	d.release()
}

// Close refuses new goroutines and timers, stops the pending timers and
// cancels the door's context. Idempotent.
func (d *door) Close() {
	d.mu.Lock()
	d.closed = true
	pending := make([]*doorTimer, 0, len(d.timers))
	for t := range d.timers {
		pending = append(pending, t)
	}
	d.mu.Unlock()
	d.cancel()
	for _, t := range pending {
		t.Stop()
	}
}

// Wait waits until every goroutine, timer and hold of the door has ended,
// or ctx is done. It starts no goroutine.
func (d *door) Wait(ctx context.Context) error {
	d.mu.Lock()
	if d.n == 0 {
		d.mu.Unlock()
		return nil
	}
	if d.idle == nil {
		d.idle = make(chan struct{})
	}
	idle := d.idle
	d.mu.Unlock()
	select {
	case <-idle:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
