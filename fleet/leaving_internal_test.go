package fleet

import (
	"testing"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/sockactor/sockactor/events"
)

// nullProcess stands in for a watcher's subscriber process.
type nullProcess struct{}

func (nullProcess) SendUserMessage(*actor.PID, any)   {}
func (nullProcess) SendSystemMessage(*actor.PID, any) {}
func (nullProcess) Stop(*actor.PID)                   {}

// followed returns a watcher (on an actor system of its own, shut down
// when the test ends) following one gateway, gw/inc-1 at 127.0.0.1:1, in
// session 7 with a subscriber process, not yet synced, its table empty.
func followed(t *testing.T) (*Watcher, *gateway) {
	t.Helper()
	sys := actor.NewActorSystem()
	t.Cleanup(sys.Shutdown)
	sub, _ := sys.ProcessRegistry.Add(nullProcess{}, "fleet-sub-test")
	const key = "gw/inc-1"
	w := &Watcher{sys: sys, gws: map[string]*gateway{}, stale: map[string][]*actor.PID{}, left: map[string]string{}}
	g := &gateway{key: key, member: Member{Address: "127.0.0.1:1", Incarnation: "inc-1"}, sess: 7, sub: sub,
		sockets: map[uint64]*events.SocketEntry{}}
	w.gws[key] = g
	return w, g
}

// TestLeavingIsALeave: a gateway's Leaving, on its events' path, makes the
// watcher report GONE for each socket and LEAVE at once; the FD_CLOSE,
// lost endpoint and key writes of that incarnation that follow are
// silent, and the key's deletion (or absence from a list) forgets it.
func TestLeavingIsALeave(t *testing.T) {
	w, g := followed(t)
	g.synced, g.seq = true, 3
	g.sockets[2], g.sockets[1] = &events.SocketEntry{SocketId: 2}, &events.SocketEntry{SocketId: 1}
	m, key := g.member, g.key

	ups := w.handle(fromGW{key: key, sess: 7, msg: &events.Leaving{Seq: 3, Address: m.Address}}, nil)
	kinds := func(ups []Update) []Kind {
		var ks []Kind
		for _, u := range ups {
			ks = append(ks, u.Kind)
		}
		return ks
	}
	if len(ups) != 3 || ups[0].Kind != Gone || ups[0].Socket.SocketId != 1 || ups[0].Reason != ReasonLeave ||
		ups[1].Kind != Gone || ups[1].Socket.SocketId != 2 || ups[2].Kind != Leave {
		t.Fatalf("Leaving gave %v, want GONE 1, GONE 2 (leave), LEAVE", kinds(ups))
	}
	if w.gws[key] != nil || w.left[key] != "inc-1" {
		t.Fatalf("after Leaving: gateway %v, left %q", w.gws[key], w.left[key])
	}
	for _, msg := range []any{
		fromGW{key: key, sess: 7, msg: &events.Event{Kind: uint32(events.FDClose), SocketId: 1, Seq: 4}},
		endpointLost{address: m.Address},
		put{key: key, member: m}, // a list made before the revoke
	} {
		if ups := w.handle(msg, nil); len(ups) != 0 {
			t.Fatalf("%T after Leaving gave %v, want nothing", msg, kinds(ups))
		}
	}
	if ups := w.handle(deleted{key: key}, nil); len(ups) != 0 || len(w.left) != 0 {
		t.Fatalf("the key's deletion gave %v, left %v", kinds(ups), w.left)
	}
	w.left[key] = "inc-1"
	if ups := w.handle(listed{members: map[string]Member{}}, nil); len(ups) != 0 || len(w.left) != 0 {
		t.Fatalf("a list without the key gave %v, left %v", kinds(ups), w.left)
	}
}

// TestEventsOfTwoLoopsOutOfSeqOrder: a gateway's sockets publish from
// several event loops, so the FD_ACCEPT of one socket (seq 6) may reach the
// watcher after the FD_CLOSE of another (seq 7). Both are applied: the
// watcher drops only what its snapshot already holds (seq ≤ 5), and its
// Seq is the highest applied.
func TestEventsOfTwoLoopsOutOfSeqOrder(t *testing.T) {
	w, g := followed(t)
	key := g.key
	ups := w.handle(fromGW{key: key, sess: 7, msg: &events.Snapshot{Seq: 5, Sockets: []*events.SocketEntry{{SocketId: 1, Seq: 2}}}}, nil)
	if len(ups) != 1 || ups[0].Kind != Snapshot {
		t.Fatalf("the snapshot gave %d updates, want one SNAPSHOT", len(ups))
	}
	for _, tc := range []struct {
		ev    *events.Event
		apply bool
	}{
		{&events.Event{Kind: uint32(events.FDClose), SocketId: 1, Seq: 7}, true},
		{&events.Event{Kind: uint32(events.FDAccept), SocketId: 2, Seq: 6}, true},  // the other loop's, later
		{&events.Event{Kind: uint32(events.FDAccept), SocketId: 3, Seq: 5}, false}, // in the snapshot already
	} {
		ups := w.handle(fromGW{key: key, sess: 7, msg: tc.ev}, nil)
		if got := len(ups) == 1 && ups[0].Kind == Event; got != tc.apply {
			t.Fatalf("event seq %d (%v socket %d): %d updates, want applied %v", tc.ev.Seq, tc.ev.EventKind(), tc.ev.SocketId, len(ups), tc.apply)
		}
	}
	if _, ok := g.sockets[1]; ok || g.sockets[2] == nil || len(g.sockets) != 1 {
		t.Fatalf("table %v, want socket 2 only", g.sockets)
	}
	if g.seq != 7 {
		t.Fatalf("seq %d after events 7 and 6, want 7", g.seq)
	}
}
