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

// TestLeavingIsALeave: a gateway's Leaving, on its events' path, makes the
// watcher report GONE for each socket and LEAVE at once; the FD_CLOSE,
// lost endpoint and key writes of that incarnation that follow are
// silent, and the key's deletion (or absence from a list) forgets it.
func TestLeavingIsALeave(t *testing.T) {
	sys := actor.NewActorSystem()
	defer sys.Shutdown()
	sub, _ := sys.ProcessRegistry.Add(nullProcess{}, "fleet-sub-test")
	m := Member{Address: "127.0.0.1:1", Incarnation: "inc-1"}
	const key = "gw/inc-1"
	w := &Watcher{sys: sys, gws: map[string]*gateway{}, stale: map[string][]*actor.PID{}, left: map[string]string{}}
	g := &gateway{key: key, member: m, sess: 7, sub: sub, synced: true, seq: 3, sockets: map[uint64]*events.SocketEntry{
		2: {SocketId: 2}, 1: {SocketId: 1},
	}}
	w.gws[key] = g

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
