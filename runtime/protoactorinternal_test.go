package runtime

import (
	"context"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
)

// TestRemoteReaderList: stop finds protoactor's list of inbound streams
// (protoactorinternal.go) and waits until it is empty before the graceful part of
// the shutdown. It fails if protoactor's layout changes and
// readerConnections finds nothing. A stream's reader is played by an entry
// that a goroutine takes off the list a little later, as a reader does
// after its handler returns (one node only: a second one in this process
// would talk gRPC across remote starts, see internal/grpcorder).
func TestRemoteReaderList(t *testing.T) {
	a, err := New(Options{EventLoops: 1, Remote: &RemoteOptions{Listen: "127.0.0.1:0"}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := a.Start(ctx); err != nil {
		t.Fatal(err)
	}
	list := readerConnections(a.remote.r)
	if list == nil {
		t.Fatal("protoactor's list of inbound streams not found: its layout changed (see protoactorinternal.go)")
	}
	const lag = 50 * time.Millisecond
	key := new(int)
	list.Store(key, make(chan bool, 1))
	done := make(chan struct{})
	start := time.Now() // before the goroutine's sleep starts: the wait cannot look shorter than it was
	go func() {
		defer close(done)
		time.Sleep(lag)
		list.Delete(key)
	}()
	waitReaders(a.remote.r)
	if d := time.Since(start); d < lag {
		t.Fatalf("waitReaders returned after %v, before the reader left the list (%v)", d, lag)
	}
	<-done
	if err := a.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
}

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
