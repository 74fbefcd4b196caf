package runtime

import (
	"context"
	"testing"

	"github.com/asynkron/protoactor-go/actor"
)

// TestCompactRegistry: a system the runtime makes has the compact registry,
// and what protoactor registered while making it (the event stream, the
// dead-letter process) still resolves; a system passed in is left alone.
func TestCompactRegistry(t *testing.T) {
	rt, err := New(Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Shutdown(context.Background())
	reg := rt.system.ProcessRegistry
	if n := len(reg.LocalPIDs.LocalPIDs); n != registryBuckets {
		t.Fatalf("registry has %d buckets, want %d", n, registryBuckets)
	}
	for _, id := range []string{"eventstream", "deadletter"} {
		if _, ok := reg.GetLocal(id); !ok {
			t.Errorf("%s lost in the move", id)
		}
	}
	own := actor.NewActorSystem()
	before := len(own.ProcessRegistry.LocalPIDs.LocalPIDs)
	rt2, err := New(Options{ActorSystem: own})
	if err != nil {
		t.Fatal(err)
	}
	defer rt2.Shutdown(context.Background())
	if n := len(own.ProcessRegistry.LocalPIDs.LocalPIDs); n != before {
		t.Fatalf("a system passed in was respread: %d buckets, had %d", n, before)
	}
}
