package runtime

import (
	"os"
	goruntime "runtime"
	"sync"
)

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
// Runtime.Start applies it (counting a UDP engine's loops too) unless the
// process chose GOMAXPROCS itself through the environment or
// Options.KeepGOMAXPROCS is set; Shutdown restores the previous value. A
// process that sets GOMAXPROCS from code after Start keeps its own.
func SuggestedGOMAXPROCS(eventLoops int) int {
	cpus := goruntime.NumCPU()
	if eventLoops <= 0 {
		eventLoops = cpus
	}
	return cpus + eventLoops + 1
}

// The process-wide GOMAXPROCS raise (Options.KeepGOMAXPROCS): the first
// runtime that raises it records the value before, every runtime that
// raised it counts, and the last one to shut down restores it.
var procs struct {
	sync.Mutex
	raisers int
	before  int
}

// raiseGOMAXPROCS raises GOMAXPROCS to what loops event loops want, unless
// the environment set it; it reports whether this runtime now counts as a
// raiser. Safe for concurrent use.
func raiseGOMAXPROCS(loops int) bool {
	if _, set := os.LookupEnv("GOMAXPROCS"); set {
		return false
	}
	want := goruntime.NumCPU() + loops + 1
	procs.Lock()
	defer procs.Unlock()
	cur := goruntime.GOMAXPROCS(0)
	if procs.raisers == 0 {
		if cur >= want {
			return false
		}
		procs.before = cur
	}
	if cur < want {
		goruntime.GOMAXPROCS(want)
	}
	procs.raisers++
	return true
}

// restoreGOMAXPROCS undoes one raise; the last one puts the old value back.
func restoreGOMAXPROCS() {
	procs.Lock()
	defer procs.Unlock()
	if procs.raisers--; procs.raisers == 0 {
		goruntime.GOMAXPROCS(procs.before)
	}
}
