package runtime

import (
	"os"
	goruntime "runtime"
	"sync"
)

// SuggestedGOMAXPROCS returns the GOMAXPROCS a latency-sensitive process
// running a Runtime with eventLoops loops (0: the default count, see
// Options.EventLoops) should use: the process's own GOMAXPROCS plus one per
// event loop plus one for gnet's accepting reactor. The process's own is
// GOMAXPROCS as it stands, which by default Go sets from the CPU quota of a
// container (since Go 1.25) or else the CPU count; while a Runtime has
// raised it, the value from before the raise.
//
// Why: gnet's event loops block in epoll_wait, a raw system call, not in Go's
// network poller. When a loop hands work to another goroutine (an event to
// a subscriber actor, a pooled handler), Go's sysmon may give the loop's P
// to that goroutine; when epoll_wait returns and no P is idle, the loop waits
// in the global run queue until sysmon next looks, which is up to 10 ms on
// an idle-looking process. With a P to spare per blocked loop the loop gets
// one at once, and the OS thread scheduler shares the CPUs instead
// (bench/README.md has the measurements).
//
// Runtime.Start applies it (see Options.KeepGOMAXPROCS for when it does
// not, and what Shutdown puts back).
func SuggestedGOMAXPROCS(eventLoops int) int {
	base := baseGOMAXPROCS()
	if eventLoops <= 0 {
		eventLoops = base
	}
	return base + eventLoops + 1
}

// The process-wide GOMAXPROCS raise (Options.KeepGOMAXPROCS). Every runtime
// that raises counts, with its event loops; GOMAXPROCS is then the value
// from before the first raise plus one per loop of every such runtime plus
// one. The last one to shut down puts the old value back. Once the process
// sets GOMAXPROCS itself (a value other than the one the raise set), the
// raise leaves it alone from then on.
var procs struct {
	sync.Mutex
	raisers int  // runtimes counted
	loops   int  // their event loops
	before  int  // GOMAXPROCS before the first raise
	def     bool // before was Go's default (it follows the CPU quota)
	set     int  // the value the raise set last; 0 when the process took over
}

// baseGOMAXPROCS is the process's GOMAXPROCS without the raise: the value
// from before it while one is in force, else the current one. It is what
// the default event loop count and the raise are computed from, so a raise
// never inflates them. Safe for concurrent use.
func baseGOMAXPROCS() int {
	procs.Lock()
	defer procs.Unlock()
	if procs.raisers > 0 {
		return procs.before
	}
	return goruntime.GOMAXPROCS(0)
}

// raiseGOMAXPROCS counts a runtime with loops event loops in the raise,
// unless the environment set GOMAXPROCS; it reports whether it did (the
// runtime must then call lowerGOMAXPROCS with the same loops). Safe for
// concurrent use.
func raiseGOMAXPROCS(loops int) bool {
	if _, set := os.LookupEnv("GOMAXPROCS"); set {
		return false
	}
	procs.Lock()
	defer procs.Unlock()
	cur := goruntime.GOMAXPROCS(0)
	if procs.raisers == 0 {
		// Setting GOMAXPROCS turns off Go's own updates of it when the CPU
		// quota changes: find out whether cur is Go's default, so that the
		// last lower can hand GOMAXPROCS back to Go rather than fix it.
		// (A value the process set that happens to equal the default
		// passes for it.)
		def, ok := defaultGOMAXPROCS()
		if ok && def != cur {
			goruntime.GOMAXPROCS(cur)
		}
		procs.before, procs.def, procs.set = cur, ok && def == cur, cur
	}
	procs.raisers++
	procs.loops += loops
	applyGOMAXPROCS(cur)
	return true
}

// lowerGOMAXPROCS takes a runtime with loops event loops out of the raise;
// the last one puts the value from before back. Safe for concurrent use.
func lowerGOMAXPROCS(loops int) {
	procs.Lock()
	defer procs.Unlock()
	procs.raisers--
	procs.loops -= loops
	cur := goruntime.GOMAXPROCS(0)
	if procs.raisers > 0 {
		applyGOMAXPROCS(cur)
		return
	}
	if procs.set == 0 || cur != procs.set {
		return // the process set its own value meanwhile: it stays
	}
	if procs.def {
		_, _ = defaultGOMAXPROCS()
	} else {
		goruntime.GOMAXPROCS(procs.before)
	}
}

// applyGOMAXPROCS sets GOMAXPROCS to what the counted runtimes want, unless
// the process has set its own value since the raise last set one (cur is
// GOMAXPROCS now). procs held.
func applyGOMAXPROCS(cur int) {
	if cur != procs.set {
		procs.set = 0 // the process took over
		return
	}
	want := procs.before + procs.loops + 1
	if want != cur {
		goruntime.GOMAXPROCS(want)
	}
	procs.set = want
}
