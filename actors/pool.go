package actors

import (
	goruntime "runtime"
	"sync"
	"time"
)

// The pooled handlers' goroutines: a pool of workers, each of which runs
// one socket's drain (drainPooled) at a time and then the next, instead of
// a new goroutine per drain through protoactor's default dispatcher.
//
// Why: a drain on a fresh goroutine would pay the goroutine's start and
// exit and, for a handler of any depth (a protocol parser), the growth of
// its starting stack by copying, on every read; and every hand-off would
// wake a thread. A worker keeps its grown stack from drain to drain, and
// under load the workers go from socket to socket without parking
// (bench/README.md has the measurements).
//
// The hand-off (schedule, on the socket's loop or any goroutine that queues
// a message for the handler): while fewer than target workers run (one per
// CPU), the worker parked last (its stack and caches are the warmest) is
// given the socket on its channel, or a new worker starts with it;
// otherwise the socket waits in the pool's queue, which every worker
// empties before it parks. A worker that finds the queue empty yields its
// thread once (runtime.Gosched) and looks again before it parks: the loop
// whose next read would wake it is often runnable on the same P, and a
// park and a wake-up cost a thread's sleep and futex wake. Handlers may block: while sockets wait, a
// watchdog (poolWatch) checks that the running workers finish drains; if
// none finished in that time, it starts one more worker for the queue's
// head, and so on up to max (Options.PoolSize, DefaultPoolSize). So at
// most max handler calls run at once, and only max handlers blocking at
// once hold up the others.
//
// A worker parked longer than poolIdle is ended by the next worker that
// parks (the oldest first). Workers are counted in the host's door, so
// Shutdown waits for them: close (WaitTasks) ends the parked ones and
// makes the others end once the queue is empty.

// DefaultPoolSize is the most pooled handler calls that run at once when
// Options.PoolSize is 0.
const DefaultPoolSize = 10000

// poolIdle is how long a worker stays parked before a later park ends it.
const poolIdle = 10 * time.Second

// drainBudgetPooled is how many queued messages a drain hands its
// handler before the worker yields its thread (runtime.Gosched), so a
// flooded socket takes turns with the other goroutines of the process.
const drainBudgetPooled = 300

// workerPool runs the drains of pooled sockets. Goroutine-safety: every
// method is safe for concurrent use; mu guards the fields below it.
type workerPool struct {
	max    int   // immutable: the most workers at once
	target int   // immutable: workers kept running while sockets wait (the CPUs)
	door   *door // immutable: counts the workers

	mu       sync.Mutex
	idle     []*poolWorker // parked workers, the last parked last
	queue    []*socket     // sockets waiting for a running worker
	qhead    int           // queue[qhead:] waits
	workers  int           // workers alive
	active   int           // workers not parked
	progress uint64        // drains finished (the watchdog's clock)
	seen     uint64        // progress when the watchdog was armed
	watching bool          // the watchdog is armed
	watchdog *time.Timer   // made on first use
	closed   bool          // workers end instead of parking
}

// poolWorker is one worker's parking place.
type poolWorker struct {
	wake  chan *socket // buffered 1: the next socket, or nil to end
	since time.Time    // when it parked (pool.mu)
}

// poolWatch is how long sockets may wait in the queue while the running
// workers finish no drain before the pool takes them for blocked and runs
// one more worker.
const poolWatch = time.Millisecond

func newWorkerPool(size int, d *door) *workerPool {
	if size <= 0 {
		size = DefaultPoolSize
	}
	return &workerPool{max: size, target: min(size, max(goruntime.NumCPU(), 2)), door: d}
}

// schedule runs s.drainPooled on a worker. While fewer than target
// workers run, a parked worker is woken for it (or a new one started);
// otherwise s waits in the queue for a running worker, which takes it as
// soon as its drain is done: under load the workers go from socket to
// socket without parking, and the loop wakes no thread per read. The
// watchdog keeps a handler that blocks from holding the queue.
// Goroutine: any (the socket's loop, mostly).
func (p *workerPool) schedule(s *socket) {
	p.mu.Lock()
	if p.active < p.target {
		p.run(s) // unlocks
		return
	}
	p.queue = append(p.queue, s)
	if !p.watching {
		p.arm()
	}
	p.mu.Unlock()
}

// run hands s to a parked worker, or to a new one, and unlocks mu.
func (p *workerPool) run(s *socket) {
	p.active++
	if n := len(p.idle); n > 0 {
		w := p.idle[n-1]
		p.idle[n-1] = nil
		p.idle = p.idle[:n-1]
		p.mu.Unlock()
		w.wake <- s // never blocks: one send per park
		return
	}
	p.workers++
	p.mu.Unlock()
	p.door.hold() // ended by the worker's exit
	go p.work(s)
}

// arm starts the watchdog. Called with mu held.
func (p *workerPool) arm() {
	p.watching, p.seen = true, p.progress
	if p.watchdog == nil {
		p.watchdog = time.AfterFunc(poolWatch, p.watch)
		return
	}
	p.watchdog.Reset(poolWatch)
}

// watch is the watchdog: if sockets still wait and no drain finished
// since it was armed, the running workers are blocked in their handlers
// (or busy for that long): one more worker takes the queue's head, up to
// max. Goroutine: the timer's.
func (p *workerPool) watch() {
	p.mu.Lock()
	p.watching = false
	if p.qhead == len(p.queue) {
		p.mu.Unlock()
		return
	}
	stuck := p.progress == p.seen && p.active < p.max
	p.arm()
	if !stuck {
		p.mu.Unlock()
		return
	}
	p.run(p.pop()) // unlocks
}

// pop takes the queue's head. Called with mu held and the queue not empty.
func (p *workerPool) pop() *socket {
	s := p.queue[p.qhead]
	p.queue[p.qhead] = nil
	if p.qhead++; p.qhead == len(p.queue) {
		p.queue, p.qhead = p.queue[:0], 0
	}
	return s
}

// work is a worker's goroutine: s's drain, then the queue's sockets, then
// parked until the next hand-off. Goroutine: the worker's own.
func (p *workerPool) work(s *socket) {
	defer p.door.release()
	w := &poolWorker{wake: make(chan *socket, 1)}
	for s != nil {
		s.drainPooled()
		s = p.next(w)
	}
}

// next returns the next socket for worker w: the queue's head, or, after
// parking, the one handed over; nil ends the worker. Goroutine: w's.
func (p *workerPool) next(w *poolWorker) *socket {
	p.mu.Lock()
	p.progress++
	for yielded := false; ; yielded = true {
		if p.qhead < len(p.queue) {
			// Also a worker over target (the watchdog's): the queue may be
			// waiting for it alone, the others blocked.
			s := p.pop()
			p.mu.Unlock()
			return s
		}
		if yielded || p.closed {
			break
		}
		// One yield before parking: the loop whose next read would wake
		// this worker may be runnable on this P.
		p.mu.Unlock()
		goruntime.Gosched()
		p.mu.Lock()
	}
	p.active--
	if p.closed {
		p.workers--
		p.mu.Unlock()
		return nil
	}
	now := time.Now()
	w.since = now
	p.idle = append(p.idle, w)
	// End the workers parked too long: the oldest are at the bottom.
	for len(p.idle) > 1 && now.Sub(p.idle[0].since) > poolIdle {
		old := p.idle[0]
		copy(p.idle, p.idle[1:])
		p.idle[len(p.idle)-1] = nil
		p.idle = p.idle[:len(p.idle)-1]
		p.workers--
		old.wake <- nil
	}
	p.mu.Unlock()
	return <-w.wake
}

// close ends the parked workers and makes the others end once the queue
// is empty; drains scheduled later still run. Safe from any goroutine;
// idempotent.
func (p *workerPool) close() {
	p.mu.Lock()
	p.closed = true
	idle := p.idle
	p.idle = nil
	p.workers -= len(idle)
	if p.watchdog != nil {
		p.watchdog.Stop()
		p.watching = false
	}
	p.mu.Unlock()
	for _, w := range idle {
		w.wake <- nil
	}
}
