package fleet_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"

	"github.com/sockactor/sockactor/actors"
	"github.com/sockactor/sockactor/fleet"
	sockrt "github.com/sockactor/sockactor/runtime"
	"github.com/sockactor/sockactor/winsock"
)

// The listeners of a runtime's registration, as they change while it
// runs: published by Listen and by a listener's close, reported by the
// watcher as CHANGE (real etcd, real sockets).

// listenerOf is what a Member lists for l.
func listenerOf(l *sockrt.Listener) fleet.Listener {
	return fleet.Listener{ID: l.ID(), Network: l.Network(), Addr: l.Addr().String()}
}

// closeListener closes l by a request to its PID, as any node may.
func closeListener(t testing.TB, rt *sockrt.Runtime, l *sockrt.Listener) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), deadline)
	defer cancel()
	if err := rt.Close(ctx, l.PID()); err != nil {
		t.Fatalf("closing listener %d: %v", l.ID(), err)
	}
}

// checkMember checks the registration's own Member: it changes on the
// goroutine of Listen or of the close, before they return.
func checkMember(t testing.TB, g *gateway, want []fleet.Listener) {
	t.Helper()
	if got := g.rt.Fleet().Member().Listeners; !slices.Equal(got, want) {
		t.Fatalf("Registration.Member().Listeners = %v, want %v", got, want)
	}
}

// waitChange waits for the watcher's CHANGE of g listing want, from
// update from on, and checks that nothing else of g came before it but
// events and earlier CHANGEs (the steps of changes made one right after
// the other): its sync is untouched. Then the watcher's View lists want.
func waitChange(t testing.TB, n *watcherNode, g *gateway, from int, want []fleet.Listener) int {
	t.Helper()
	addr := g.rt.Address()
	i := -1
	if !waitUntil(func() bool {
		i = n.rec.find(from, func(u fleet.Update) bool {
			return u.Kind == fleet.Change && u.Gateway.Address == addr && slices.Equal(u.Gateway.Listeners, want)
		})
		return i >= 0
	}) {
		t.Fatalf("no CHANGE of %s to %v:\n%s", addr, want, n.rec)
	}
	// Before it, only events and earlier CHANGEs: changes made one right
	// after the other may be written, and reported, one by one or as one.
	for j := from; j < i; j++ {
		if u, _ := n.rec.get(j); u.Gateway.Address == addr && u.Kind != fleet.Event && u.Kind != fleet.Change {
			t.Fatalf("before the CHANGE to %v: %v %v\n%s", want, u.Kind, u.Gateway.Listeners, n.rec)
		}
	}
	var last string
	if !waitUntil(func() bool {
		for _, v := range n.w.View() {
			if v.Member.Address == addr {
				last = fmt.Sprint(v.Member.Listeners, " synced ", v.Synced)
				return slices.Equal(v.Member.Listeners, want) && v.Synced
			}
		}
		last = "not in the view"
		return false
	}) {
		t.Fatalf("the watcher's View of %s: %s, want %v synced", addr, last, want)
	}
	return i
}

// TestFleetListenersChange: listeners declared before Start are published
// at Start (one closed before it is not); one added while the gateway
// runs comes as CHANGE listing it, its close as CHANGE without it, down to
// none; the watcher follows the sockets throughout, and its View has the
// listeners. A Shutdown racing a Listen and a close neither blocks nor
// panics, and nothing of the gateway follows its LEAVE.
func TestFleetListenersChange(t *testing.T) {
	checkLeaks(t)
	etcd := newEtcd(t)
	cfg := &fleet.Config{Endpoints: etcd.cfg.Endpoints(), TTL: ttl}
	n := newWatcherNode(t)
	g := newGateway(t, cfg)
	pre, err := g.rt.Listen("tcp://127.0.0.1:0", echo, actors.ListenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	dropped, err := g.rt.Listen("tcp://127.0.0.1:0", echo, actors.ListenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	closeListener(t, g.rt, dropped) // before Start: never published
	etcd.start(t)
	g.start(t)
	n.watch(t, *cfg)
	waitExact(t, n, g)
	base := []fleet.Listener{listenerOf(g.ln), listenerOf(pre)}
	checkMember(t, g, base)
	if i := n.rec.find(0, func(u fleet.Update) bool { return u.Kind == fleet.Join }); i < 0 {
		t.Fatalf("no JOIN:\n%s", n.rec)
	} else if u, _ := n.rec.get(i); !slices.Equal(u.Gateway.Listeners, base) {
		t.Fatalf("JOIN lists %v, want %v", u.Gateway.Listeners, base)
	}

	// Added while running: CHANGE listing it; it serves, and the watcher
	// follows its sockets.
	from := n.rec.len()
	added, err := g.rt.Listen("tcp://127.0.0.1:0", echo, actors.ListenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	withAdded := append(slices.Clone(base), listenerOf(added))
	checkMember(t, g, withAdded)
	waitChange(t, n, g, from, withAdded)
	dial(t, added.Addr().String(), 2)
	if !waitUntil(func() bool { return len(g.truth(t)) == 2 }) { // accepted: a close resets the queued ones
		t.Fatalf("the gateway never accepted the connections: %v", g.truth(t))
	}
	waitExact(t, n, g)

	// Closed: CHANGE without it; the sockets it accepted stay, and so does
	// the watcher's table of them.
	from = n.rec.len()
	closeListener(t, g.rt, added)
	checkMember(t, g, base)
	waitChange(t, n, g, from, base)
	waitExact(t, n, g)
	if _, socks := n.view(g.rt.Address()); len(socks) != 2 {
		t.Fatalf("the watcher's table after the close: %v, want the 2 sockets", socks)
	}

	// Every listener closed: CHANGE with none.
	from = n.rec.len()
	closeListener(t, g.rt, pre)
	closeListener(t, g.rt, g.ln)
	checkMember(t, g, nil)
	waitChange(t, n, g, from, nil)

	// Shutdown while a listener is being added and another closed: each
	// either happens before the registration is revoked or is refused
	// (Listen: WSAENETDOWN; the close: the listener is released).
	last, err := g.rt.Listen("tcp://127.0.0.1:0", echo, actors.ListenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	waitChange(t, n, g, n.rec.len(), []fleet.Listener{listenerOf(last)})
	var wg sync.WaitGroup
	wg.Add(3)
	go func() { defer wg.Done(); g.stop(t) }()
	go func() {
		defer wg.Done()
		ctx, cancel := context.WithTimeout(context.Background(), deadline)
		defer cancel()
		_ = g.rt.Close(ctx, last.PID()) // an error once released: a dead letter
	}()
	go func() {
		defer wg.Done()
		l, err := g.rt.Listen("tcp://127.0.0.1:0", echo, actors.ListenOptions{})
		if err != nil && winsock.CodeOf(err, winsock.OK) != winsock.WSAENETDOWN {
			t.Errorf("Listen racing Shutdown: %v", err)
		}
		if err == nil && l == nil {
			t.Error("Listen racing Shutdown: no listener, no error")
		}
	}()
	wg.Wait()
	leave := -1
	if !waitUntil(func() bool {
		leave = n.rec.find(0, func(u fleet.Update) bool { return u.Kind == fleet.Leave })
		return leave >= 0
	}) {
		t.Fatalf("no LEAVE:\n%s", n.rec)
	}
	if err := g.rt.Fleet().SetListeners(base); !errors.Is(err, fleet.ErrClosed) {
		t.Errorf("SetListeners after Shutdown: %v, want ErrClosed", err)
	}
	rev := etcdRevision(t, cfg)
	if !waitUntil(func() bool { return n.w.Revision() >= rev }) {
		t.Fatalf("the watcher is at revision %d, etcd at %d", n.w.Revision(), rev)
	}
	if i := n.rec.find(leave+1, func(u fleet.Update) bool { return u.Gateway.Address == g.rt.Address() }); i >= 0 {
		u, _ := n.rec.get(i)
		t.Errorf("an update of %s after its LEAVE: %v %v", g.rt.Address(), u.Kind, u.Gateway.Listeners)
	}
}
