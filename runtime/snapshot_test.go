package runtime_test

import (
	"context"
	"errors"
	"net"
	"syscall"
	"testing"

	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/sockactor/sockactor/actors"
	"github.com/sockactor/sockactor/events"
	"github.com/sockactor/sockactor/internal/socktest"
	sockrt "github.com/sockactor/sockactor/runtime"
	"github.com/sockactor/sockactor/winsock"
)

// pingHandler echoes bytes and answers a StringValue request.
var pingHandler = actors.HandlerFunc(func(c *actors.Context) {
	switch m := c.Message().(type) {
	case *actors.Received:
		_, _ = c.Write(m.Data)
	case *wrapperspb.StringValue:
		c.Respond(&wrapperspb.StringValue{Value: "pong " + m.Value})
	}
})

// TestSnapshotLocal: the Go helper on the runtime itself, and a runtime
// that keeps no table.
func TestSnapshotLocal(t *testing.T) {
	rt, err := sockrt.New(sockrt.Options{EventLoops: 1, Snapshots: true})
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Shutdown(context.Background())
	ln, err := rt.Listen("tcp://127.0.0.1:0", pingHandler, actors.ListenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := rt.Start(ctx5(t)); err != nil {
		t.Fatal(err)
	}
	rec := socktest.NewRecorder(rt.System())
	if err := rt.Subscribe(rec.PID, events.MaskAll); err != nil {
		t.Fatal(err)
	}
	c1, c2 := dial(t, ln.Addr().String()), dial(t, ln.Addr().String())
	a1, a2 := rec.AcceptedFor(t, c1), rec.AcceptedFor(t, c2)
	c1.Close()
	rec.CloseEvent(t, a1.SocketId)
	snap, err := rt.Snapshot(nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(snap.Sockets) != 1 || snap.Sockets[0].SocketId != a2.SocketId || snap.Sockets[0].State != "open" ||
		snap.Sockets[0].RemoteAddr != c2.LocalAddr().String() || snap.Sockets[0].PidId != a2.PidId ||
		snap.Sockets[0].ListenerId != ln.ID() || snap.Seq < a2.Seq {
		t.Fatalf("snapshot %v (want socket %d only)", snap, a2.SocketId)
	}
	via, err := rt.Caller.Snapshot(ctx5(t), rt.NodePID(), nil, 0)
	if err != nil || len(via.Sockets) != 1 {
		t.Fatalf("Caller.Snapshot: %v, %v", via, err)
	}
	if _, err := rt.Snapshot(nil, events.MaskAll); !errors.Is(err, winsock.ErrInvalid) {
		t.Fatalf("Snapshot(nil, mask): %v", err)
	}
	r, err := rt.System().Root.RequestFuture(rt.NodePID(), &actors.Info{}, socktest.Timeout).Result()
	if e, ok := r.(*actors.Error); !ok || err != nil || e.Code != uint32(winsock.WSAEINVAL) {
		t.Fatalf("Info to the node actor: %v, %v", r, err)
	}

	plain, err := sockrt.New(sockrt.Options{EventLoops: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Shutdown(context.Background())
	if _, err := plain.Snapshot(nil, 0); !errors.Is(err, winsock.ErrInvalid) {
		t.Fatalf("Snapshot without a table: %v", err)
	}
}

func TestRemoteOptionsErrors(t *testing.T) {
	for _, ro := range []sockrt.RemoteOptions{
		{Listen: "nonsense"},
		{Listen: "0.0.0.0:0"},
		{Listen: ":0"},
		{Listen: "127.0.0.1:99999"},
		{Listen: "127.0.0.1:0", Advertise: "no-port"},
		{Listen: "127.0.0.1:0", ConnectRetries: -1},
		{Listen: "127.0.0.1:0", KeepaliveTimeout: -1},
	} {
		if _, err := sockrt.New(sockrt.Options{Remote: &ro}); !errors.Is(err, winsock.ErrInvalid) {
			t.Errorf("%+v: %v, want WSAEINVAL", ro, err)
		}
	}
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	_, err = sockrt.New(sockrt.Options{Remote: &sockrt.RemoteOptions{Listen: taken.Addr().String()}})
	if !errors.Is(err, winsock.ErrAddrInUse) || !errors.Is(err, syscall.EADDRINUSE) {
		t.Fatalf("taken port: %v, want WSAEADDRINUSE", err)
	}
}
