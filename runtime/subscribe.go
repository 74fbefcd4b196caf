package runtime

import (
	"sync"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/sockactor/sockactor/events"
	"github.com/sockactor/sockactor/winsock"
)

// funcSubs holds the subscriber actors SubscribeFunc spawned, so Shutdown
// can stop the ones still subscribed. closed is set once, by Shutdown;
// after it SubscribeFunc spawns nothing.
type funcSubs struct {
	mu     sync.Mutex
	pids   map[*actor.PID]struct{}
	closed bool
}

// SubscribeFunc subscribes f, runtime-wide, to the events in mask of every
// socket, like Subscribe does for a PID. It spawns a small actor in the
// runtime's actor system whose receive calls f once per event: one call at a
// time, in the order the actor receives them (each socket's events in
// order), on that actor's goroutine. f must not block for long (it holds up
// later events, never the sockets) and must not wait for Shutdown.
//
// cancel unsubscribes and stops the actor: after it returns f is not called
// again, except for a call already running. cancel is idempotent and safe
// from any goroutine, f included. Shutdown cancels every subscription left,
// after f has seen the events queued to it, FD_CLOSE 10050 "shutdown" of
// each open socket included.
//
// Errors: WSAEINVAL for a nil f or an invalid mask, WSANOTINITIALISED after
// Shutdown. Safe for concurrent use.
func (rt *Runtime) SubscribeFunc(mask events.Mask, f func(*events.Event)) (cancel func(), err error) {
	if f == nil || !mask.Valid() {
		return nil, &winsock.OpError{Op: "SubscribeFunc", Code: winsock.WSAEINVAL, Detail: "nil func or invalid mask"}
	}
	fs := &rt.funcSubs
	fs.mu.Lock()
	defer fs.mu.Unlock()
	if fs.closed || rt.stopped() {
		return nil, &winsock.OpError{Op: "SubscribeFunc", Code: winsock.WSANOTINITIALISED}
	}
	pid := rt.system.Root.Spawn(actor.PropsFromFunc(func(c actor.Context) {
		if ev, ok := c.Message().(*events.Event); ok {
			f(ev)
		}
	}))
	if err := rt.Subscribe(pid, mask); err != nil {
		rt.system.Root.Stop(pid)
		return nil, err
	}
	if fs.pids == nil {
		fs.pids = make(map[*actor.PID]struct{})
	}
	fs.pids[pid] = struct{}{}
	var once sync.Once
	return func() {
		once.Do(func() {
			rt.hub.Unsubscribe(pid)
			fs.mu.Lock()
			delete(fs.pids, pid)
			fs.mu.Unlock()
			// A system message: the actor stops after the event in hand;
			// events still queued go to dead letters, never to f.
			rt.system.Root.Stop(pid)
		})
	}, nil
}

// stopFuncSubs stops the SubscribeFunc actors still subscribed, each after
// the events already in its mailbox (a poison pill queues behind them), and
// waits for them (each wait bounded by protoactor's future timeout, 10 s).
// Goroutine: the shutdown sequence, after the last event was published.
func (rt *Runtime) stopFuncSubs() {
	fs := &rt.funcSubs
	fs.mu.Lock()
	fs.closed = true
	pids := fs.pids
	fs.pids = nil
	fs.mu.Unlock()
	futures := make([]*actor.Future, 0, len(pids))
	for pid := range pids {
		rt.hub.Unsubscribe(pid)
		futures = append(futures, rt.system.Root.PoisonFuture(pid))
	}
	for _, fut := range futures {
		_ = fut.Wait()
	}
}
