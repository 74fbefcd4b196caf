package runtime

import goruntime "runtime"

// SuggestedGOMAXPROCS returns the GOMAXPROCS a latency-sensitive process
// running a Runtime with eventLoops loops (0: one per CPU) should use:
// the CPU count plus one per event loop plus one for gnet's accepting
// reactor.
//
// Why: gnet's event loops block in epoll_wait, a raw system call, not in Go's
// network poller. When a loop hands work to another goroutine (an event to
// a subscriber actor, a pooled handler), Go's sysmon may give the loop's P
// to that goroutine; when epoll_wait returns and no P is idle, the loop waits
// in the global run queue until sysmon next looks, which is up to 10 ms on
// an idle-looking process. With a P to spare per blocked loop the loop gets
// one at once, and the OS thread scheduler shares the CPUs instead. On this
// project's 2-core reference machine it took the FD_CLOSE p99 at 1000
// closes/s from ~8 ms to ~0.4 ms (bench/README.md).
//
// It is a process-wide setting, so the runtime never changes it itself: the
// application's main applies it, e.g.
//
//	goruntime.GOMAXPROCS(sockrt.SuggestedGOMAXPROCS(0))
func SuggestedGOMAXPROCS(eventLoops int) int {
	cpus := goruntime.NumCPU()
	if eventLoops <= 0 {
		eventLoops = cpus
	}
	return cpus + eventLoops + 1
}
