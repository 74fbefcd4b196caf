package fleet_test

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"go.uber.org/goleak"

	"github.com/sockactor/sockactor/actors"
	"github.com/sockactor/sockactor/events"
	"github.com/sockactor/sockactor/fleet"
	"github.com/sockactor/sockactor/fleet/embedetcd"
	"github.com/sockactor/sockactor/internal/socktest"
	sockrt "github.com/sockactor/sockactor/runtime"
)

// ttl is the lease TTL of the tests' gateways: short, so leaves are quick.
const ttl = time.Second

// deadline bounds every wait on a condition.
const deadline = 20 * time.Second

// leakOptions are the goroutines goleak may find at the end: gnet's worker
// pool (socktest.LeakOptions), and those of the etcd server and client
// and of gRPC that end shortly after their Close returns or live for the
// process (zap's and etcd's package-level loggers, gRPC's resolver and
// balancer callbacks, the http2 transports closing, glog's flush daemon).
func leakOptions() []goleak.Option {
	return append(socktest.LeakOptions(),
		goleak.IgnoreTopFunction("go.opencensus.io/stats/view.(*worker).start"),
		goleak.IgnoreAnyFunction("google.golang.org/grpc/internal/grpcsync.(*CallbackSerializer).run"),
		goleak.IgnoreAnyFunction("google.golang.org/grpc/internal/transport.(*http2Client).keepalive"),
		goleak.IgnoreAnyFunction("google.golang.org/grpc/internal/transport.(*controlBuffer).get"),
		goleak.IgnoreAnyFunction("google.golang.org/grpc.(*addrConn).resetTransportAndUnlock"),
		goleak.IgnoreAnyFunction("google.golang.org/grpc/internal/transport.(*http2Server).keepalive"),
		goleak.IgnoreAnyFunction("google.golang.org/grpc/internal/transport.(*http2Client).reader"),
		goleak.IgnoreAnyFunction("google.golang.org/grpc/internal/transport.(*serverHandlerTransport).runStream"),
		goleak.IgnoreAnyFunction("github.com/asynkron/protoactor-go/actor.(*deadLetterProcess).SendUserMessage.func1"),
		goleak.IgnoreAnyFunction("github.com/asynkron/protoactor-go/remote.(*endpointWriter).initializeInternal"),
	)
}

// etcdConfig picks the embedded etcd's directory and ports.
func etcdConfig(t testing.TB) embedetcd.Config {
	t.Helper()
	c, err := embedetcd.NewConfig(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// etcdRef holds the test's embedded etcd: made before the gateways and
// the watcher, so that its cleanup, which stops the server, runs after
// theirs (a server stopped under its clients waits seconds for their
// streams).
type etcdRef struct {
	cfg embedetcd.Config
	mu  sync.Mutex
	s   *embedetcd.Server
}

func newEtcd(t testing.TB) *etcdRef {
	t.Helper()
	e := &etcdRef{cfg: etcdConfig(t)}
	t.Cleanup(func() { _ = e.stop() })
	return e
}

// start starts the server (again, on the same data and ports).
func (e *etcdRef) start(t testing.TB) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), deadline)
	defer cancel()
	s, err := embedetcd.Start(ctx, e.cfg)
	if err != nil {
		t.Fatal(err)
	}
	e.mu.Lock()
	e.s = s
	e.mu.Unlock()
}

func (e *etcdRef) stop() error {
	e.mu.Lock()
	s := e.s
	e.s = nil
	e.mu.Unlock()
	if s == nil {
		return nil
	}
	return s.Close()
}

// echo is the gateways' handler.
var echo = actors.HandlerFunc(func(c *actors.Context) {
	switch m := c.Message().(type) {
	case *actors.Received:
		_, _ = c.Write(m.Data)
	case *events.Event:
		if actors.ReasonOf(m) == actors.ReasonPeerClose {
			c.Close()
		}
	}
})

// gateway is an in-process gateway of the fleet.
type gateway struct {
	rt   *sockrt.Runtime
	ln   *sockrt.Listener
	addr string // its TCP listener, once started
}

func quiet() *slog.Logger {
	return slog.New(slog.NewTextHandler(discard{}, &slog.HandlerOptions{Level: slog.LevelError + 1}))
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

// newGateway makes a gateway (remote started) of the fleet in cfg; start
// registers it. Every remote of a test process is started before its etcd
// server and clients (fleet.go's note on grpclog).
func newGateway(t testing.TB, cfg *fleet.Config) *gateway {
	t.Helper()
	rt, err := sockrt.New(sockrt.Options{EventLoops: 1, Logger: quiet(),
		Remote: &sockrt.RemoteOptions{Listen: "127.0.0.1:0"}, Fleet: cfg})
	if err != nil {
		t.Fatal(err)
	}
	g := &gateway{rt: rt}
	t.Cleanup(func() { g.stop(t) })
	g.ln, err = rt.Listen("tcp://127.0.0.1:0", echo, actors.ListenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return g
}

func (g *gateway) start(t testing.TB) {
	t.Helper()
	if err := g.rt.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	g.addr = g.ln.Addr().String()
}

func (g *gateway) stop(t testing.TB) {
	ctx, cancel := context.WithTimeout(context.Background(), deadline)
	defer cancel()
	if err := g.rt.Shutdown(ctx); err != nil {
		t.Error(err)
	}
}

// truth is the gateway's own table: the ids of its open sockets.
func (g *gateway) truth(t testing.TB) []uint64 {
	snap, err := g.rt.Snapshot(nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	return ids(snap.Sockets)
}

func ids(es []*events.SocketEntry) []uint64 {
	out := []uint64{}
	for _, e := range es {
		out = append(out, e.SocketId)
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

// recorder keeps a watcher's updates.
type recorder struct {
	onEvent func(fleet.Update) // set before the watcher starts, if at all

	mu  sync.Mutex
	ups []fleet.Update
	at  []time.Time
}

func (r *recorder) add(u fleet.Update) {
	if r.onEvent != nil {
		r.onEvent(u)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.ups = append(r.ups, u)
	r.at = append(r.at, time.Now())
}

// find returns the index of the first update from index from on that
// matches, or -1.
func (r *recorder) find(from int, match func(fleet.Update) bool) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	for i := from; i < len(r.ups); i++ {
		if match(r.ups[i]) {
			return i
		}
	}
	return -1
}

func (r *recorder) len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.ups)
}

func (r *recorder) get(i int) (fleet.Update, time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.ups[i], r.at[i]
}

func (r *recorder) String() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var b strings.Builder
	for _, u := range r.ups {
		fmt.Fprintf(&b, "%s %s", u.Kind, u.Gateway.Address)
		switch {
		case u.Event != nil:
			fmt.Fprintf(&b, " %s socket=%d seq=%d", u.Event.EventKind(), u.Event.SocketId, u.Event.Seq)
		case u.Socket != nil:
			fmt.Fprintf(&b, " socket=%d reason=%s", u.Socket.SocketId, u.Reason)
		case u.Snapshot != nil:
			fmt.Fprintf(&b, " sockets=%v seq=%d", ids(u.Snapshot.Sockets), u.Snapshot.Seq)
		}
		b.WriteByte('\n')
	}
	return b.String()
}

// watcherNode is a node of its own (not a runtime) that watches the fleet.
type watcherNode struct {
	sys *actor.ActorSystem
	w   *fleet.Watcher
	rec *recorder
}

// newWatcherNode starts the watcher's node (its remote); watch starts
// the watcher.
func newWatcherNode(t testing.TB) *watcherNode {
	t.Helper()
	sys := actor.NewActorSystem(sockrt.ActorSystemLogging(quiet(), nil), actor.WithDeadLetterThrottleInterval(100*time.Millisecond))
	if _, err := sockrt.StartRemote(sys, sockrt.RemoteOptions{Listen: "127.0.0.1:0"}); err != nil {
		t.Fatal(err)
	}
	n := &watcherNode{sys: sys, rec: &recorder{}}
	t.Cleanup(func() {
		if n.w != nil {
			ctx, cancel := context.WithTimeout(context.Background(), deadline)
			defer cancel()
			if err := n.w.Close(ctx); err != nil {
				t.Error(err)
			}
			if err := n.w.Close(ctx); err != nil { // idempotent
				t.Error(err)
			}
		}
		sockrt.StopRemote(sys)
		sys.Shutdown()
	})
	return n
}

func (n *watcherNode) watch(t testing.TB, cfg fleet.Config) {
	t.Helper()
	w, err := fleet.NewWatcher(n.sys, cfg, fleet.WatchOptions{OnUpdate: n.rec.add})
	if err != nil {
		t.Fatal(err)
	}
	n.w = w
}

// checkLeaks checks, once every cleanup of the test has run, that no
// goroutine is left (register it first: cleanups run last first).
func checkLeaks(t *testing.T) {
	t.Cleanup(func() { goleak.VerifyNone(t, leakOptions()...) })
}

// view returns the watcher's table of the gateway at remote address addr:
// whether it is synced, and its socket ids.
func (n *watcherNode) view(addr string) (bool, []uint64) {
	for _, v := range n.w.View() {
		if v.Member.Address == addr {
			return v.Synced, ids(v.Sockets)
		}
	}
	return false, nil
}

// waitExact waits until the watcher follows every gateway given and its
// table of each equals the gateway's own, and nothing else is registered.
func waitExact(t testing.TB, n *watcherNode, gws ...*gateway) {
	t.Helper()
	var last string
	ok := waitUntil(func() bool {
		if len(n.w.View()) != len(gws) {
			last = fmt.Sprintf("%d gateways in view, want %d", len(n.w.View()), len(gws))
			return false
		}
		for _, g := range gws {
			synced, got := n.view(g.rt.Address())
			want := g.truth(t)
			if !synced || !slices.Equal(got, want) {
				last = fmt.Sprintf("gateway %s: synced %v, watcher %v, gateway %v", g.rt.Address(), synced, got, want)
				return false
			}
		}
		return true
	})
	if !ok {
		t.Fatalf("the watcher's view never became exact: %s\nupdates:\n%s", last, n.rec)
	}
}

// waitUntil polls cond until it holds or deadline passes.
func waitUntil(cond func() bool) bool {
	end := time.Now().Add(deadline)
	for !cond() {
		if time.Now().After(end) {
			return false
		}
		time.Sleep(5 * time.Millisecond)
	}
	return true
}

// dial opens n client connections to addr; they close at the end of the
// test.
func dial(t testing.TB, addr string, n int) []net.Conn {
	t.Helper()
	var cs []net.Conn
	for range n {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		cs = append(cs, c)
	}
	return cs
}
