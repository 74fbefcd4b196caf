package fleet_test

import (
	"context"
	"errors"
	"io"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/sockactor/sockactor/fleet"
	sockrt "github.com/sockactor/sockactor/runtime"
	"github.com/sockactor/sockactor/winsock"
)

func TestFleetNodeName(t *testing.T) {
	if got, want := fleet.NodeActorName("x"), sockrt.NodeName+"@x"; got != want {
		t.Fatalf("NodeActorName = %q, want %q", got, want)
	}
}

func TestFleetConfigErrors(t *testing.T) {
	for _, c := range []fleet.Config{
		{},
		{Endpoints: []string{"http://127.0.0.1:1"}, TTL: 500 * time.Millisecond},
		{Endpoints: []string{"http://127.0.0.1:1"}, Prefix: "/no-slash"},
		{Endpoints: []string{"http://127.0.0.1:1"}, RequestTimeout: -1},
	} {
		if err := c.Validate(); !errors.Is(err, fleet.ErrConfig) {
			t.Errorf("%+v: %v, want ErrConfig", c, err)
		}
	}
	cfg := fleet.Config{Endpoints: []string{"http://127.0.0.1:1"}}
	if _, err := fleet.Register(cfg, fleet.Member{Address: "127.0.0.1:1"}, nil); !errors.Is(err, fleet.ErrConfig) {
		t.Errorf("Register without incarnation: %v", err)
	}
	if _, err := fleet.NewWatcher(actor.NewActorSystem(sockrt.ActorSystemLogging(quiet(), nil)), cfg, fleet.WatchOptions{}); !errors.Is(err, fleet.ErrNoRemote) {
		t.Errorf("NewWatcher without remote: %v", err)
	}
	_, err := sockrt.New(sockrt.Options{Fleet: &cfg})
	if !errors.Is(err, winsock.ErrInvalid) {
		t.Errorf("runtime with Fleet and no Remote: %v", err)
	}
	_, err = sockrt.New(sockrt.Options{Remote: &sockrt.RemoteOptions{Listen: "127.0.0.1:0"}, Fleet: &fleet.Config{}})
	if !errors.Is(err, winsock.ErrInvalid) || !errors.Is(err, fleet.ErrConfig) {
		t.Errorf("runtime with an empty Fleet: %v", err)
	}
}

// TestFleetFollow: two gateways join, the watcher follows their sockets
// exactly; one shuts down (revoke: LEAVE at once, a GONE per socket it
// had, nothing of it after), the other goes on.
func TestFleetFollow(t *testing.T) {
	checkLeaks(t)
	etcd := newEtcd(t)
	cfg := &fleet.Config{Endpoints: etcd.cfg.Endpoints(), TTL: ttl}
	n := newWatcherNode(t)
	g1, g2 := newGateway(t, cfg), newGateway(t, cfg)
	etcd.start(t)
	g1.start(t)
	g2.start(t)
	n.watch(t, *cfg)
	waitExact(t, n, g1, g2)

	c1 := dial(t, g1.addr, 3)
	dial(t, g2.addr, 2)
	waitExact(t, n, g1, g2)
	c1[0].Close()
	if !waitUntil(func() bool { return len(g1.truth(t)) == 2 }) {
		t.Fatalf("the gateway never saw the close: %v", g1.truth(t))
	}
	waitExact(t, n, g1, g2)

	// A graceful shutdown revokes first: the watcher reports the two
	// sockets it had as GONE (leave), then LEAVE, at once.
	_, had := n.view(g1.rt.Address())
	t.Logf("the watcher's table of %s: %v", g1.rt.Address(), had)
	from := n.rec.len()
	start := time.Now()
	g1.stop(t)
	leave := -1
	if !waitUntil(func() bool {
		leave = n.rec.find(from, func(u fleet.Update) bool { return u.Kind == fleet.Leave && u.Gateway.Address == g1.rt.Address() })
		return leave >= 0
	}) {
		t.Fatalf("no LEAVE for %s:\n%s", g1.rt.Address(), n.rec)
	}
	_, at := n.rec.get(leave)
	t.Logf("LEAVE %v after Shutdown began", at.Sub(start))
	var gone []uint64
	for i := from; i < leave; i++ {
		u, _ := n.rec.get(i)
		if u.Gateway.Address != g1.rt.Address() {
			continue
		}
		if u.Kind == fleet.Event { // reported after waitExact saw the table
			continue
		}
		if u.Kind != fleet.Gone || u.Reason != fleet.ReasonLeave {
			t.Errorf("before LEAVE: %v %+v", u.Kind, u)
			continue
		}
		gone = append(gone, u.Socket.SocketId)
	}
	if len(gone) != len(had) {
		t.Errorf("GONE %v, the table had %v", gone, had)
	}
	waitExact(t, n, g2)
	if i := n.rec.find(leave+1, func(u fleet.Update) bool { return u.Gateway.Address == g1.rt.Address() }); i >= 0 {
		u, _ := n.rec.get(i)
		t.Errorf("an update of %s after its LEAVE: %v", g1.rt.Address(), u.Kind)
	}
}

// TestFleetEtcdRestart: etcd stops while sockets open and close on the
// gateways; once it is back, the watcher's view is exact again and the
// gateways are still (or again) registered, with no CHANGE: their keys
// were written again with the same Member.
func TestFleetEtcdRestart(t *testing.T) {
	checkLeaks(t)
	etcd := newEtcd(t)
	cfg := &fleet.Config{Endpoints: etcd.cfg.Endpoints(), TTL: ttl, RequestTimeout: time.Second}
	n := newWatcherNode(t)
	g1, g2 := newGateway(t, cfg), newGateway(t, cfg)
	etcd.start(t)
	g1.start(t)
	g2.start(t)
	n.watch(t, *cfg)
	dial(t, g1.addr, 2)
	waitExact(t, n, g1, g2)

	if err := etcd.stop(); err != nil {
		t.Fatal(err)
	}
	// While etcd is away the gateways serve and the watcher follows them.
	c := dial(t, g1.addr, 2)
	dial(t, g2.addr, 3)
	c[0].Close()
	waitExact(t, n, g1, g2)
	// Down for longer than the TTL: the leases may expire once it is back.
	time.Sleep(2 * ttl)
	etcd.start(t)
	dial(t, g2.addr, 1)
	// Both lost their lease (no keep-alive answered for longer than the
	// TTL) and registered again; once the watcher has applied etcd's
	// revision from then, whatever etcd did meanwhile (an expiry, a
	// write) is in its view.
	if !waitUntil(func() bool { return g1.rt.Fleet().Registrations() >= 2 && g2.rt.Fleet().Registrations() >= 2 }) {
		t.Fatalf("not registered again: %d, %d", g1.rt.Fleet().Registrations(), g2.rt.Fleet().Registrations())
	}
	rev := etcdRevision(t, cfg)
	if !waitUntil(func() bool { return n.w.Revision() >= rev }) {
		t.Fatalf("the watcher is at revision %d, etcd at %d", n.w.Revision(), rev)
	}
	waitExact(t, n, g1, g2)
	t.Logf("registrations: %d, %d", g1.rt.Fleet().Registrations(), g2.rt.Fleet().Registrations())
	// Written again with the same Member: never a CHANGE.
	if i := n.rec.find(0, func(u fleet.Update) bool { return u.Kind == fleet.Change }); i >= 0 {
		t.Errorf("CHANGE for a registration made again with the same listeners:\n%s", n.rec)
	}
}

// TestFleetLinksNoEtcdServer: a library user links the etcd client only;
// the server comes with fleet/embedetcd alone.
func TestFleetLinksNoEtcdServer(t *testing.T) {
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command")
	}
	out, err := exec.Command(gobin, "list", "-deps", "github.com/sockactor/sockactor/runtime", "github.com/sockactor/sockactor/fleet").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "go.etcd.io/etcd/client/v3\n") {
		t.Fatalf("runtime does not link the etcd client?\n%s", out)
	}
	for _, p := range strings.Fields(string(out)) {
		if strings.HasPrefix(p, "go.etcd.io/etcd/server/") {
			t.Errorf("runtime or fleet links %s", p)
		}
	}
}

// etcdRevision returns etcd's current revision.
func etcdRevision(t *testing.T, cfg *fleet.Config) int64 {
	t.Helper()
	cli, err := clientv3.New(clientv3.Config{Endpoints: cfg.Endpoints, Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	ctx, cancel := context.WithTimeout(context.Background(), deadline)
	defer cancel()
	resp, err := cli.Get(ctx, "/")
	if err != nil {
		t.Fatal(err)
	}
	return resp.Header.Revision
}

// TestFleetWithoutEtcd: a gateway starts and serves while etcd is down,
// registers once etcd is up, and its Shutdown while etcd is down again
// takes at most the revoke's bound (the key then goes with its TTL).
func TestFleetWithoutEtcd(t *testing.T) {
	checkLeaks(t)
	etcd := newEtcd(t)
	cfg := &fleet.Config{Endpoints: etcd.cfg.Endpoints(), TTL: ttl, RequestTimeout: 500 * time.Millisecond}
	g := newGateway(t, cfg)
	g.start(t)
	c := dial(t, g.addr, 1)[0]
	if _, err := c.Write([]byte("up")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 2)
	_ = c.SetReadDeadline(time.Now().Add(deadline))
	if _, err := io.ReadFull(c, buf); err != nil {
		t.Fatalf("the gateway does not serve without etcd: %v", err)
	}
	if n := g.rt.Fleet().Registrations(); n != 0 {
		t.Fatalf("registered %d times without etcd", n)
	}
	up := time.Now()
	etcd.start(t)
	ctx, cancel := context.WithTimeout(context.Background(), deadline)
	defer cancel()
	if err := g.rt.Fleet().Wait(ctx); err != nil {
		t.Fatal(err)
	}
	t.Logf("registered %v after etcd was started", time.Since(up))
	if err := etcd.stop(); err != nil { // about 6 s: etcd waits for its clients' streams
		t.Fatal(err)
	}
	start := time.Now()
	g.stop(t)
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("Shutdown with etcd down took %v", d)
	} else {
		t.Logf("Shutdown with etcd down: %v", d)
	}
	err := g.rt.Fleet().Close(ctx) // idempotent: the first call's result
	if !errors.Is(err, fleet.ErrRevoke) {
		t.Errorf("Close with etcd down: %v, want ErrRevoke", err)
	}
	if err := g.rt.Fleet().Wait(ctx); !errors.Is(err, fleet.ErrClosed) {
		t.Errorf("Wait after Close: %v", err)
	}
}
