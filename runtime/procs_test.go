package runtime_test

import (
	"os"
	goruntime "runtime"
	"testing"

	"github.com/sockactor/sockactor/actors"
	sockrt "github.com/sockactor/sockactor/runtime"
)

// Start raises GOMAXPROCS to SuggestedGOMAXPROCS while it runs (Go chose the
// value), Shutdown puts it back; KeepGOMAXPROCS leaves it alone.
func TestStartRaisesGOMAXPROCSAndShutdownRestoresIt(t *testing.T) {
	if _, set := os.LookupEnv("GOMAXPROCS"); set {
		t.Skip("GOMAXPROCS is set in the environment: the runtime leaves it")
	}
	old := goruntime.GOMAXPROCS(1) // a value below any suggestion
	defer goruntime.GOMAXPROCS(old)
	for _, keep := range []bool{false, true} {
		rt, err := sockrt.New(sockrt.Options{EventLoops: 2, KeepGOMAXPROCS: keep})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := rt.Listen("tcp://127.0.0.1:0", echo, actors.ListenOptions{}); err != nil {
			t.Fatal(err)
		}
		if err := rt.Start(ctx5(t)); err != nil {
			t.Fatal(err)
		}
		got := goruntime.GOMAXPROCS(0)
		if want := sockrt.SuggestedGOMAXPROCS(2); !keep && got != want {
			t.Errorf("GOMAXPROCS while running = %d, want %d", got, want)
		}
		if keep && got != 1 {
			t.Errorf("KeepGOMAXPROCS: GOMAXPROCS = %d, want 1 (untouched)", got)
		}
		if err := rt.Shutdown(ctx5(t)); err != nil {
			t.Fatal(err)
		}
		if got := goruntime.GOMAXPROCS(0); got != 1 {
			t.Errorf("GOMAXPROCS after Shutdown = %d, want 1 back", got)
		}
	}
}

// startOn starts a runtime with opts and a listener on addr, failing the
// test otherwise.
func startOn(t *testing.T, opts sockrt.Options, addr string) *sockrt.Runtime {
	t.Helper()
	rt, err := sockrt.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := rt.Listen(addr, echo, actors.ListenOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := rt.Start(ctx5(t)); err != nil {
		t.Fatal(err)
	}
	return rt
}

// The default loop count and the raise come from GOMAXPROCS (Go's default
// follows the CPU quota), never from NumCPU, and the count is taken before
// any raise: with GOMAXPROCS 1 a default runtime runs 1 loop and raises
// GOMAXPROCS to 1+1+1; a second one, made while the first has raised it,
// still counts 1 loop (not the raised 3), and the raise covers both
// runtimes' loops (1+2+1). A UDP listener doubles the loops. Each Shutdown
// takes its loops out; the last puts 1 back. A value the process sets
// itself after Start is kept by Shutdown.
func TestDefaultEventLoopsAndRaiseFollowGOMAXPROCS(t *testing.T) {
	if _, set := os.LookupEnv("GOMAXPROCS"); set {
		t.Skip("GOMAXPROCS is set in the environment: the runtime leaves it")
	}
	old := goruntime.GOMAXPROCS(1)
	defer goruntime.GOMAXPROCS(old)
	expect := func(what string, want int) {
		t.Helper()
		if got := goruntime.GOMAXPROCS(0); got != want {
			t.Fatalf("%s: GOMAXPROCS = %d, want %d", what, got, want)
		}
	}

	first := startOn(t, sockrt.Options{}, "tcp://127.0.0.1:0")
	expect("one default runtime", 3)
	if got := sockrt.SuggestedGOMAXPROCS(0); got != 3 {
		t.Fatalf("SuggestedGOMAXPROCS(0) during the raise = %d, want 3 (from the value before it)", got)
	}
	second := startOn(t, sockrt.Options{}, "tcp://127.0.0.1:0")
	expect("a second default runtime made during the raise", 4)
	withUDP := startOn(t, sockrt.Options{}, "udp://127.0.0.1:0")
	expect("a third with a UDP listener (two loops)", 6)
	for _, rt := range []*sockrt.Runtime{withUDP, second} {
		if err := rt.Shutdown(ctx5(t)); err != nil {
			t.Fatal(err)
		}
	}
	expect("the two later runtimes shut down", 3)
	if err := first.Shutdown(ctx5(t)); err != nil {
		t.Fatal(err)
	}
	expect("every runtime shut down", 1)

	rt := startOn(t, sockrt.Options{}, "tcp://127.0.0.1:0")
	expect("a runtime started again", 3)
	goruntime.GOMAXPROCS(7) // the process's own choice from now on
	if err := rt.Shutdown(ctx5(t)); err != nil {
		t.Fatal(err)
	}
	expect("Shutdown after the process set its own value", 7)
}
