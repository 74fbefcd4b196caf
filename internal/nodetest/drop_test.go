package nodetest_test

import (
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/sockactor/sockactor/actors"
	"github.com/sockactor/sockactor/events"
	"github.com/sockactor/sockactor/internal/socktest"
	sockrt "github.com/sockactor/sockactor/runtime"
)

// dropSetup is a gateway with a local subscriber and a watcher node whose
// two recorders subscribe remotely: one runtime-wide, one to a socket.
func dropSetup(t *testing.T, wsys *actor.ActorSystem, wc actors.Caller) (*sockrt.Runtime, *sockrt.Listener, *socktest.Recorder) {
	t.Helper()
	gw, ln := gateway(t, pingHandler, actors.ListenOptions{})
	local := socktest.NewRecorder(gw.System())
	if err := gw.Subscribe(local.PID, events.MaskAll); err != nil {
		t.Fatal(err)
	}
	wide := socktest.NewRecorder(wsys)
	one := socktest.NewRecorder(wsys)
	ctx := ctx5(t)
	if err := wc.Subscribe(ctx, sockrt.NodePID(gw.Address()), wide.PID, events.MaskAll); err != nil {
		t.Fatal(err)
	}
	c := dial(t, ln.Addr().String())
	sock := local.AcceptedFor(t, c)
	if err := wc.Subscribe(ctx, sock.PID(), one.PID, events.MaskAll); err != nil {
		t.Fatal(err)
	}
	socktest.WaitFor(t, "the remote FD_ACCEPT", func() bool { return wide.Count(sock.SocketId, events.FDAccept) == 1 })
	t.Cleanup(func() { c.Close() })
	return gw, ln, local
}

// checkAfterDrop: once both remote subscribers are dropped, the gateway
// serves on and its local subscriber loses nothing.
func checkAfterDrop(t *testing.T, gw *sockrt.Runtime, ln *sockrt.Listener, local *socktest.Recorder, lost time.Time) {
	t.Helper()
	socktest.WaitFor(t, "two remote subscribers dropped", func() bool { return gw.Stats().Events.RemoteDropped == 2 })
	t.Logf("remote subscribers dropped %v after their node went", time.Since(lost).Round(time.Millisecond))
	for i := 0; i < 20; i++ {
		c := dial(t, ln.Addr().String())
		if got := roundTrip(t, c, "after"); got != "after" {
			t.Fatal(got)
		}
		id := local.AcceptedFor(t, c).SocketId
		c.Close()
		local.CloseEvent(t, id)
	}
}

func TestRemoteSubscriberDroppedWhenItsNodeShutsDown(t *testing.T) {
	sys := nodes.victims[0]
	if sys.IsStopped() {
		t.Skip("its victim node was stopped by an earlier run (-count > 1); nodes start only in TestMain")
	}
	gw, ln, local := dropSetup(t, sys, actors.Caller{System: sys})
	stopNode(sys, nodes.victimRemotes[0])
	checkAfterDrop(t, gw, ln, local, time.Now())
}

// TestRemoteSubscriberDroppedWhenItsNodeDies: the watcher node's server
// stops at once, as in a crash (its connections close without a word).
func TestRemoteSubscriberDroppedWhenItsNodeDies(t *testing.T) {
	sys := nodes.victims[1]
	if sys.IsStopped() {
		t.Skip("its victim node was stopped by an earlier run (-count > 1); nodes start only in TestMain")
	}
	gw, ln, local := dropSetup(t, sys, actors.Caller{System: sys})
	nodes.victimRemotes[1].Shutdown(false) // the gRPC server and its connections, at once
	lost := time.Now()
	checkAfterDrop(t, gw, ln, local, lost)
	if gw.Stats().Remote.EndpointsLost == 0 {
		t.Error("no endpoint counted lost")
	}
	stopNode(sys, nodes.victimRemotes[1]) // the rest of it, for the leak check
}

// TestRemoteSubscriberDroppedWhenItsNodeIsPartitioned: the watcher node
// can no longer be reached, and says nothing (a frozen proxy stands for
// the network): gRPC's keepalive finds it lost within KeepaliveTime +
// KeepaliveTimeout (15 s by default), and its subscribers are dropped.
func TestRemoteSubscriberDroppedWhenItsNodeIsPartitioned(t *testing.T) {
	sys := nodes.partitioned
	if nodes.partition.frozen.Load() {
		t.Skip("the partition was made by an earlier run (-count > 1)")
	}
	gw, ln, local := dropSetup(t, sys, actors.Caller{System: sys})
	nodes.partition.frozen.Store(true)
	lost := time.Now()
	deadline := sockrt.DefaultKeepaliveTime + sockrt.DefaultKeepaliveTimeout + 15*time.Second
	for gw.Stats().Events.RemoteDropped < 2 {
		if time.Since(lost) > deadline {
			t.Fatalf("remote subscribers not dropped %v after the partition", deadline)
		}
		time.Sleep(20 * time.Millisecond)
	}
	checkAfterDrop(t, gw, ln, local, lost)
}
