package actors

import (
	"context"
	"sync"
	"time"
)

// door is the way the socket actors start their own goroutines and timers
// (the dialling goroutine, linger timers, Context.After; pooled handlers run
// on protoactor's dispatcher and Caller waiters on the caller's side, not
// here): it counts them, refuses
// new ones once closed, and lets the runtime's Shutdown wait for all of them.
// Its context is done once it is closed, so a goroutine blocked on the
// network (a dial) ends promptly.
//
// Goroutine-safety: every method is safe for concurrent use.
type door struct {
	ctx    context.Context
	cancel context.CancelFunc

	mu     sync.Mutex // guards closed and timers
	closed bool
	timers map[*doorTimer]struct{}
	wg     sync.WaitGroup // goroutines running and timers pending or firing
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
	d.wg.Add(1)
	go func() {
		defer d.wg.Done()
		fn()
	}()
	return true
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
	d.wg.Add(1)
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
	d.wg.Done()
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

// Wait waits until every goroutine and timer started through the door has
// ended, or ctx is done.
func (d *door) Wait(ctx context.Context) error {
	done := make(chan struct{})
	go func() {
		d.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
