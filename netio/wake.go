package netio

import (
	"context"
	"sync"

	"github.com/panjf2000/gnet/v2"

	"github.com/sockactor/sockactor/winsock"
)

// The wake list: work for a loop that must not wait behind that loop's batch
// of reads (the socket actors' mailbox drains: RecvDisconnect, Send, Close,
// Info, ...).
//
// gnet runs a loop task (EventLoop.Execute) only after it has handled every
// descriptor epoll reported in the current wake-up: with many busy
// connections on a loop that is one read (up to 64 KiB) and one echo per
// connection, tens of milliseconds on a loaded machine, before a message
// that arrived at the start of the batch runs. (gnet's priorities do not
// help: a LowPriority task goes to the same urgent queue as a HighPriority
// one until 1024 tasks are waiting; the wait is the batch, not the queue.)
//
// So Wake puts the work on its loop's wake list, and the loop runs the list
// at the start of the next OnTraffic (between two reads: one atomic load per
// read when the list is empty on every loop), or, if no read comes first,
// from one gnet task queued when the list became non-empty. Either way the
// work runs on the loop that owns the connection, between two callbacks, as
// a task would: only where, in the loop's order, it runs changes.
//
// One rule keeps the callbacks' own guarantees: an entry for the connection
// whose OnTraffic is running is left for later (the next OnTraffic of
// another connection, or the task), so work for a connection never runs
// inside that connection's own read callback, where closes are deferred and
// gnet holds its read buffer. Work for other connections runs as it would
// from a task: a close there is immediate (gnet then ignores the stale
// event of that descriptor still in the batch).

// wakeEntry is one connection's work on the wake list.
type wakeEntry struct {
	c  *Conn
	fn func(*Conn)
}

// loopWake is the wake list of one loop (a part of its loopTraffic).
type loopWake struct {
	mu      sync.Mutex
	q       []wakeEntry       // guarded by mu
	spare   []wakeEntry       // loop: the last run's array, for reuse
	running bool              // loop: inside run (no nesting)
	task    gnet.RunnableFunc // immutable: runs the list; made once per loop
}

// Wake runs fn(c) on c's event loop ahead of the reads still to come in the
// loop's current batch (see above). Safe from any goroutine. fn should be
// a function value that does not allocate (a package-level func). It fails
// with ErrNetDown when the engine is shutting down; fn then never runs.
// Entries for one connection run in the order they were woken.
func (c *Conn) Wake(fn func(*Conn)) error {
	el := c.loop()
	lt := c.eng.traffic.loopOf(el)
	w := &lt.wake
	w.mu.Lock()
	first := len(w.q) == 0
	w.q = append(w.q, wakeEntry{c: c, fn: fn})
	if first {
		c.eng.traffic.waking.Add(1)
	}
	w.mu.Unlock()
	if !first {
		return nil // a task is queued (the list is non-empty since it was)
	}
	if err := el.Execute(context.Background(), w.task); err != nil {
		// The loops are stopping: nothing will run the list.
		w.mu.Lock()
		if len(w.q) > 0 {
			clear(w.q)
			w.q = w.q[:0]
			c.eng.traffic.waking.Add(-1)
		}
		w.mu.Unlock()
		return winsock.ErrNetDown
	}
	return nil
}

// loop returns the gnet loop that owns c. Safe from any goroutine.
func (c *Conn) loop() gnet.EventLoop { return c.t.loop() }

// runWakes runs the calling loop's wake list if any loop has one: the check
// at the start of every read. Loop only (inside OnTraffic of c).
func (e *Engine) runWakes(c *Conn, gc gnet.Conn) {
	e.traffic.loopOf(gc.EventLoop()).wake.run(&e.traffic, c)
}

// run runs the entries queued so far, except those of skip (nil from the
// task), which stay queued. Loop only.
func (w *loopWake) run(b *trafficBook, skip *Conn) {
	if w.running {
		return
	}
	w.mu.Lock()
	if len(w.q) == 0 {
		w.mu.Unlock()
		return
	}
	todo := w.q
	w.q = w.spare[:0]
	w.spare = nil
	if skip != nil {
		n := 0
		for _, en := range todo {
			if en.c == skip {
				w.q = append(w.q, en)
				continue
			}
			todo[n] = en
			n++
		}
		clear(todo[n:])
		todo = todo[:n]
	}
	if len(w.q) == 0 {
		b.waking.Add(-1)
	}
	w.mu.Unlock()
	w.running = true
	for i, en := range todo {
		todo[i] = wakeEntry{}
		en.fn(en.c)
	}
	w.running = false
	if cap(todo) <= 256 {
		w.spare = todo[:0]
	}
}
