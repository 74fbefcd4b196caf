package main

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/goleak"
	"go.uber.org/zap"

	"github.com/sockactor/sockactor/fleet"
	"github.com/sockactor/sockactor/fleet/embedetcd"
)

// etcdLeaks are the goroutines of the embedded etcd server and its gRPC
// that may still be ending when goleak looks (each ends shortly after
// the server's Close), and the package-level ones that live for the
// process.
var etcdLeaks = []goleak.Option{
	goleak.IgnoreTopFunction("go.opencensus.io/stats/view.(*worker).start"),
	goleak.IgnoreAnyFunction("google.golang.org/grpc/internal/grpcsync.(*CallbackSerializer).run"),
	goleak.IgnoreAnyFunction("google.golang.org/grpc/internal/transport.(*http2Server).keepalive"),
	goleak.IgnoreAnyFunction("google.golang.org/grpc/internal/transport.(*controlBuffer).get"),
}

// startEtcd starts an embedded etcd server in the test's temporary
// directory. The caller closes it (deferred, so that it is gone before a
// deferred goleak check runs).
func startEtcd(t *testing.T) *embedetcd.Server {
	t.Helper()
	ecfg, err := embedetcd.NewConfig(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	etcd, err := embedetcd.Start(ctx, ecfg)
	if err != nil {
		t.Fatal(err)
	}
	return etcd
}

// fleetTTL is the test gateways' lease TTL.
const fleetTTL = time.Second

// fleetView is a watch -etcd's table, rebuilt from its lines: per gateway
// (remote address), socket id -> peer address. Only synced gateways have
// an entry.
type fleetView struct {
	mu    sync.Mutex
	gws   map[string]map[uint64]string
	inc   map[string]string // incarnation per gateway, from JOIN and RESTART
	seen  int               // lines applied
	kinds []string          // every line's kind and gateway, for errors
}

type fleetLine struct {
	Kind        string   `json:"kind"`
	Gateway     string   `json:"gateway"`
	Incarnation string   `json:"incarnation"`
	Socket      uint64   `json:"socket"`
	Remote      string   `json:"remote"`
	Sockets     []uint64 `json:"sockets"`
	Remotes     []string `json:"remotes"`
	Reason      string   `json:"reason"`
}

// apply reads the watcher's lines it has not applied yet. It fails the
// test on a line that breaks the table: a socket added twice, a GONE or
// FD_CLOSE of a socket it does not have, an event of a gateway not synced.
func (v *fleetView) apply(t *testing.T, w *child) {
	w.mu.Lock()
	lines := w.lines[v.seen:]
	w.mu.Unlock()
	v.mu.Lock()
	defer v.mu.Unlock()
	for _, l := range lines {
		v.seen++
		var f fleetLine
		if err := json.Unmarshal([]byte(l), &f); err != nil {
			t.Fatalf("watch line %q: %v", l, err)
		}
		v.kinds = append(v.kinds, f.Kind+" "+f.Gateway)
		tab := v.gws[f.Gateway]
		switch f.Kind {
		case "JOIN", "RESTART":
			v.inc[f.Gateway] = f.Incarnation
		case "SNAPSHOT":
			if len(tab) != 0 {
				t.Fatalf("SNAPSHOT of %s over a table it has: %v", f.Gateway, tab)
			}
			tab = map[uint64]string{}
			for i, id := range f.Sockets {
				tab[id] = f.Remotes[i]
			}
			v.gws[f.Gateway] = tab
		case "FD_ACCEPT", "FD_CONNECT":
			if tab == nil {
				t.Fatalf("%s of %s, not synced", f.Kind, f.Gateway)
			}
			if _, ok := tab[f.Socket]; ok {
				t.Fatalf("%s of socket %d of %s twice", f.Kind, f.Socket, f.Gateway)
			}
			tab[f.Socket] = f.Remote
		case "FD_CLOSE", "GONE":
			if _, ok := tab[f.Socket]; !ok {
				t.Fatalf("%s of socket %d of %s, not in the table %v", f.Kind, f.Socket, f.Gateway, tab)
			}
			delete(tab, f.Socket)
		case "LOST", "LEAVE":
			if len(tab) != 0 {
				t.Fatalf("%s of %s with sockets left: %v", f.Kind, f.Gateway, tab)
			}
			delete(v.gws, f.Gateway)
		}
	}
}

// peers returns the peer addresses of a gateway's table, sorted, and
// whether it is synced.
func (v *fleetView) peers(gw string) ([]string, bool) {
	v.mu.Lock()
	defer v.mu.Unlock()
	tab, ok := v.gws[gw]
	return slices.Sorted(maps.Values(tab)), ok
}

// fleetGateway is a gateway process and the client connections the test
// holds to it: its truth.
type fleetGateway struct {
	proc        *child
	tcp, remote string
	conns       []net.Conn
	incarnation string
}

func (g *fleetGateway) truth() []string {
	var out []string
	for _, c := range g.conns {
		out = append(out, c.LocalAddr().String())
	}
	slices.Sort(out)
	return out
}

func startFleetGateway(t *testing.T, endpoint, remote string, ttl time.Duration) *fleetGateway {
	t.Helper()
	p := startChild(t, "gateway", "-listen", "127.0.0.1:0", "-remote", remote, "-etcd", endpoint, "-ttl", ttl.String())
	_, first := p.wait(0, "the listening line", func(string) bool { return true })
	_, second := p.wait(1, "the remote line", func(string) bool { return true })
	_, reg := p.wait(2, "the registered line", func(l string) bool { return strings.HasPrefix(l, "registered ") })
	f := strings.Fields(reg)
	return &fleetGateway{proc: p, tcp: strings.TrimPrefix(first, "listening "), remote: strings.TrimPrefix(second, "remote "), incarnation: f[len(f)-1]}
}

// waitFleet waits until the watcher's table of every gateway in gws
// equals its truth, and it follows no other; it returns the time it took.
func waitFleet(t *testing.T, v *fleetView, w *child, what string, gws ...*fleetGateway) time.Duration {
	t.Helper()
	start := time.Now()
	deadline := start.Add(3 * waitTimeout)
	for {
		v.apply(t, w)
		ok := true
		var why string
		v.mu.Lock()
		n := len(v.gws)
		v.mu.Unlock()
		if n != len(gws) {
			ok, why = false, fmt.Sprintf("%d gateways followed, want %d", n, len(gws))
		}
		for _, g := range gws {
			got, synced := v.peers(g.remote)
			if want := g.truth(); !synced || !slices.Equal(got, want) {
				ok, why = false, fmt.Sprintf("%s: synced %v, watcher %v, truth %v", g.remote, synced, got, want)
			}
		}
		if ok {
			return time.Since(start)
		}
		if time.Now().After(deadline) {
			v.mu.Lock()
			defer v.mu.Unlock()
			t.Fatalf("%s: the watcher's table never matched: %s\nlines: %q", what, why, v.kinds)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// waitKind waits for the watcher's line of that kind for gateway gw from
// line index from on; it returns its index and when it was seen.
func waitKind(t *testing.T, w *child, from int, kind, gw string) (int, time.Time) {
	t.Helper()
	i, _ := w.wait(from, kind+" "+gw, func(l string) bool {
		var f fleetLine
		return json.Unmarshal([]byte(l), &f) == nil && f.Kind == kind && f.Gateway == gw
	})
	return i, time.Now()
}

func (c *child) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.lines)
}

// TestFleetProcesses: an embedded etcd in the test, three gateway
// processes with a 1 s TTL and a watcher process. After each step the
// watcher's table of every gateway equals the connections the test holds
// to it: kill -9 (LOST at once, LEAVE within TTL + 1 s), SIGSTOP for
// 2 x TTL then SIGCONT (LEAVE, then followed again), a restart on the same
// address (RESTART, a new incarnation, a fresh snapshot), etcd stopped
// and started again.
func TestFleetProcesses(t *testing.T) {
	defer goleak.VerifyNone(t, append(etcdLeaks, goleak.IgnoreCurrent())...)
	etcd := startEtcd(t)
	defer func() { _ = etcd.Close() }() // before goleak looks: not a Cleanup
	ecfg, ep := etcd.Config(), etcd.Endpoints()[0]

	a := startFleetGateway(t, ep, "127.0.0.1:0", fleetTTL)
	b := startFleetGateway(t, ep, "127.0.0.1:0", fleetTTL)
	c := startFleetGateway(t, ep, "127.0.0.1:0", 10*time.Second) // outlives its kill: a restart, not a leave
	w := startChild(t, "watch", "-etcd", ep, "-remote", "127.0.0.1:0")
	v := &fleetView{gws: map[string]map[uint64]string{}, inc: map[string]string{}}
	for g, n := range map[*fleetGateway]int{a: 2, b: 1, c: 2} {
		for range n {
			g.conns = append(g.conns, dialEcho(t, g.tcp))
		}
	}
	waitFleet(t, v, w, "three gateways", a, b, c)
	b.conns[0].Close()
	b.conns = b.conns[1:]
	b.conns = append(b.conns, dialEcho(t, b.tcp))
	waitFleet(t, v, w, "a close and an accept", a, b, c)

	// kill -9: the connection's loss is seen at once (LOST, its sockets
	// GONE), the lease's end within TTL + 1 s (LEAVE).
	from := w.count()
	killed := time.Now()
	a.proc.stop(syscall.SIGKILL)
	leave, left := waitKind(t, w, from, "LEAVE", a.remote)
	lost := "none (the lease ended first)"
	w.mu.Lock()
	for i := from; i < leave; i++ {
		var f fleetLine
		if json.Unmarshal([]byte(w.lines[i]), &f) == nil && f.Kind == "LOST" && f.Gateway == a.remote {
			lost = w.times[i].Sub(killed).String()
		}
	}
	w.mu.Unlock()
	t.Logf("kill -9: LOST after %s, LEAVE after %v (TTL %v)", lost, left.Sub(killed), fleetTTL)
	if d := left.Sub(killed); d > fleetTTL+time.Second {
		t.Errorf("LEAVE %v after the kill, want within TTL + 1 s", d)
	}
	waitFleet(t, v, w, "after kill -9", b, c)

	// SIGSTOP for 2 x TTL: the lease expires (LEAVE, GONE); SIGCONT: the
	// gateway registers again and is followed again, its connections kept.
	from = w.count()
	stopped := time.Now()
	if err := b.proc.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	_, left = waitKind(t, w, from, "LEAVE", b.remote)
	t.Logf("SIGSTOP: LEAVE after %v", left.Sub(stopped))
	if time.Since(stopped) < 2*fleetTTL {
		time.Sleep(2*fleetTTL - time.Since(stopped))
	}
	waitFleet(t, v, w, "while b is stopped", c)
	resumed := time.Now()
	if err := b.proc.cmd.Process.Signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	d := waitFleet(t, v, w, "after SIGCONT", b, c)
	t.Logf("SIGCONT: followed again after %v", d)
	_ = resumed
	if got := v.inc[b.remote]; got != b.incarnation {
		t.Errorf("b joined again as %q, want its incarnation %q", got, b.incarnation)
	}

	// A restart on the same address before the old lease ends: RESTART with
	// a new incarnation, a fresh snapshot.
	from = w.count()
	c.proc.stop(syscall.SIGKILL)
	for _, cn := range c.conns {
		cn.Close()
	}
	c2 := startFleetGateway(t, ep, c.remote, fleetTTL)
	i, _ := waitKind(t, w, from, "RESTART", c.remote)
	var rl fleetLine
	w.mu.Lock()
	_ = json.Unmarshal([]byte(w.lines[i]), &rl)
	w.mu.Unlock()
	if rl.Incarnation != c2.incarnation || rl.Incarnation == c.incarnation {
		t.Errorf("RESTART incarnation %q; old %q, new %q", rl.Incarnation, c.incarnation, c2.incarnation)
	}
	c2.conns = append(c2.conns, dialEcho(t, c2.tcp))
	waitFleet(t, v, w, "after the restart", b, c2)

	// etcd stopped for 2 x TTL, sockets opened and closed meanwhile, etcd
	// started again: nothing lost. What etcd did meanwhile (the leases the
	// gateways lost, perhaps a key deleted before it was written again) is
	// read back from etcd itself, so the wait below covers every change.
	cli := etcdClient(t, ep)
	defer cli.Close() // before goleak looks
	before := leases(t, cli)
	from = w.count()
	if err := etcd.Close(); err != nil {
		t.Fatal(err)
	}
	b.conns = append(b.conns, dialEcho(t, b.tcp))
	c2.conns[0].Close()
	c2.conns = append(c2.conns[1:], dialEcho(t, c2.tcp))
	time.Sleep(2 * fleetTTL) // etcd away for longer than the TTL
	ctx2, cancel2 := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel2()
	etcd, err := embedetcd.Start(ctx2, ecfg)
	if err != nil {
		t.Fatal(err)
	}
	// Both gateways registered again (new leases), then every change to
	// the prefix since the stop: a key deleted must have been seen
	// (LEAVE) before the table can be checked.
	var after map[string]int64
	if !waitCond(func() bool {
		after = leases(t, cli)
		for k, l := range before {
			if k != "" && (after[k] == 0 || after[k] == l) {
				return false
			}
		}
		return true
	}) {
		t.Fatalf("the gateways did not register again: leases %v, before %v", after, before)
	}
	for _, gw := range deletedSince(t, cli, before) {
		waitKind(t, w, from, "LEAVE", gw)
		t.Logf("etcd back: %s left (its lease expired before it was registered again)", gw)
	}
	d = waitFleet(t, v, w, "after etcd came back", b, c2)
	t.Logf("etcd back: exact after %v", d)

	stopTimed(t, w, syscall.SIGTERM)
	for _, g := range []*fleetGateway{b, c2} {
		if code := g.proc.stop(syscall.SIGTERM); code != 0 {
			t.Errorf("gateway %s exit code %d", g.remote, code)
		}
	}
}

// etcdClient is a client of the test's etcd; the caller closes it.
func etcdClient(t *testing.T, ep string) *clientv3.Client {
	t.Helper()
	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{ep}, Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	return cli
}

// leases returns the lease of every key of the fleet, and the revision
// they were read at under the key "".
func leases(t *testing.T, cli *clientv3.Client) map[string]int64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	resp, err := cli.Get(ctx, fleet.DefaultPrefix, clientv3.WithPrefix())
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]int64{"": resp.Header.Revision}
	for _, kv := range resp.Kvs {
		out[strings.TrimPrefix(string(kv.Key), fleet.DefaultPrefix)] = kv.Lease
	}
	return out
}

// deletedSince returns the gateways whose key was deleted since the
// revision of before, up to now.
func deletedSince(t *testing.T, cli *clientv3.Client, before map[string]int64) []string {
	t.Helper()
	now := leases(t, cli)[""]
	if now == before[""] {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	var out []string
	for wr := range cli.Watch(ctx, fleet.DefaultPrefix, clientv3.WithPrefix(), clientv3.WithRev(before[""]+1)) {
		if err := wr.Err(); err != nil {
			t.Fatal(err)
		}
		for _, ev := range wr.Events {
			if ev.Type == clientv3.EventTypeDelete {
				out = append(out, strings.TrimPrefix(string(ev.Kv.Key), fleet.DefaultPrefix))
			}
		}
		if wr.Header.Revision >= now {
			break
		}
	}
	return out
}

// waitCond polls cond until it holds or 3 x waitTimeout passed.
func waitCond(cond func() bool) bool {
	end := time.Now().Add(3 * waitTimeout)
	for !cond() {
		if time.Now().After(end) {
			return false
		}
		time.Sleep(10 * time.Millisecond)
	}
	return true
}
