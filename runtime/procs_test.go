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
