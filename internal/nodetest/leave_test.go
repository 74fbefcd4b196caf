package nodetest_test

import (
	"context"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/sockactor/sockactor/actors"
	"github.com/sockactor/sockactor/events"
	"github.com/sockactor/sockactor/internal/socktest"
	sockrt "github.com/sockactor/sockactor/runtime"
)

// TestShutdownSaysLeavingBeforeAnyFDClose: a snapshot subscriber on
// another node hears the gateway's Leaving (the last seq, the gateway's
// address) after every event published before the Shutdown, and no
// FD_CLOSE of the sockets that Shutdown closes: by the order of one
// sender's messages on the wire, not by timing (issue: a fleet watcher
// once reported FD_CLOSE and LOST where GONE and LEAVE were due).
func TestShutdownSaysLeavingBeforeAnyFDClose(t *testing.T) {
	gw := newNode(t, nodes.gateway, sockrt.Options{EventLoops: 2})
	ln, err := gw.Listen("tcp://127.0.0.1:0", pingHandler, actors.ListenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := gw.Start(ctx5(t)); err != nil {
		t.Fatal(err)
	}
	w := newNode(t, nodes.watcher, sockrt.Options{})
	node := sockrt.NodePID(gw.Address())

	var mu sync.Mutex
	var got []any
	log := func() []any {
		mu.Lock()
		defer mu.Unlock()
		return append([]any(nil), got...)
	}
	pid := w.System().Root.Spawn(actor.PropsFromFunc(func(c actor.Context) {
		switch m := c.Message().(type) {
		case *actor.Started:
			// What a fleet watcher asks for (its mask always has these).
			c.Request(node, actors.NewSnapshotRequest(c.Self(), events.MaskOf(events.FDAccept, events.FDConnect, events.FDClose)))
		case *events.Snapshot, *events.Event, *events.Leaving:
			mu.Lock()
			got = append(got, m)
			mu.Unlock()
		}
	}))
	defer w.System().Root.Stop(pid)
	socktest.WaitFor(t, "the snapshot", func() bool { return len(log()) > 0 })

	const conns = 20
	var open []net.Conn
	defer func() {
		for _, c := range open {
			c.Close()
		}
	}()
	for range conns {
		c, err := net.DialTimeout("tcp", ln.Addr().String(), socktest.Timeout)
		if err != nil {
			t.Fatal(err)
		}
		open = append(open, c)
	}
	socktest.WaitFor(t, "every FD_ACCEPT at the subscriber", func() bool { return len(log()) == 1+conns })
	lastSeq := gw.Stats().Events.Seq

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := gw.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	socktest.WaitFor(t, "Leaving", func() bool { return len(log()) > 1+conns })
	// The FD_CLOSEs of the Shutdown were queued before it returned, and
	// the watcher's node is still up: any sent would arrive in a moment.
	time.Sleep(300 * time.Millisecond)

	msgs := log()
	if s, ok := msgs[0].(*events.Snapshot); !ok || s.Code != 0 {
		t.Fatalf("first message %v, want the snapshot", msgs[0])
	}
	for i, m := range msgs[1 : 1+conns] {
		if e, ok := m.(*events.Event); !ok || e.EventKind() != events.FDAccept {
			t.Fatalf("message %d: %v, want an FD_ACCEPT", i+1, m)
		}
	}
	if l, ok := msgs[1+conns].(*events.Leaving); !ok || l.Seq != lastSeq || l.Address != gw.Address() {
		t.Fatalf("after the FD_ACCEPTs: %v, want Leaving{seq %d, %s}", msgs[1+conns], lastSeq, gw.Address())
	}
	if rest := msgs[2+conns:]; len(rest) != 0 {
		t.Fatalf("%d messages after Leaving (the first: %v); the Shutdown closed %d sockets", len(rest), rest[0], conns)
	}
}
