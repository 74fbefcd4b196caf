package runtime

import (
	"os"
	goruntime "runtime"
	"testing"
)

// When GOMAXPROCS was Go's default before the raise, the last lower hands
// it back to Go (which then follows the CPU quota again) instead of fixing
// the old value; a value the process had set is put back as it was.
func TestLowerHandsADefaultGOMAXPROCSBackToGo(t *testing.T) {
	if _, set := os.LookupEnv("GOMAXPROCS"); set {
		t.Skip("GOMAXPROCS is set in the environment: the raise does not apply")
	}
	def, ok := defaultGOMAXPROCS()
	if !ok {
		t.Skip("before Go 1.25 GOMAXPROCS cannot be handed back")
	}
	defer defaultGOMAXPROCS()
	if !raiseGOMAXPROCS(2) {
		t.Fatal("no raise")
	}
	if got := goruntime.GOMAXPROCS(0); got != def+3 {
		t.Fatalf("raised GOMAXPROCS = %d, want %d", got, def+3)
	}
	if !procs.def {
		t.Fatal("Go's default GOMAXPROCS not recognised as such")
	}
	lowerGOMAXPROCS(2)
	if got := goruntime.GOMAXPROCS(0); got != def {
		t.Fatalf("GOMAXPROCS after the last lower = %d, want Go's default %d", got, def)
	}

	goruntime.GOMAXPROCS(def + 1) // the process's own value
	raiseGOMAXPROCS(1)
	if procs.def {
		t.Fatal("a value the process set taken for Go's default")
	}
	if got := goruntime.GOMAXPROCS(0); got != def+3 {
		t.Fatalf("raised GOMAXPROCS = %d, want %d", got, def+3)
	}
	lowerGOMAXPROCS(1)
	if got := goruntime.GOMAXPROCS(0); got != def+1 {
		t.Fatalf("GOMAXPROCS after the last lower = %d, want the process's %d back", got, def+1)
	}
}
