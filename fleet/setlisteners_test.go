package fleet_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/sockactor/sockactor/fleet"
)

// keyState is a registration's key as etcd has it.
type keyState struct {
	ok      bool // the key exists
	member  fleet.Member
	lease   int64
	version int64 // writes since the key was created
}

// readKey reads key from etcd; an error when etcd does not answer.
func readKey(cli *clientv3.Client, key string) (keyState, error) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	resp, err := cli.Get(ctx, key)
	if err != nil || len(resp.Kvs) == 0 {
		return keyState{}, err
	}
	kv := resp.Kvs[0]
	s := keyState{ok: true, lease: kv.Lease, version: kv.Version}
	return s, json.Unmarshal(kv.Value, &s.member)
}

// waitKey waits until the key's state satisfies cond, and returns it.
func waitKey(t *testing.T, cli *clientv3.Client, key, what string, cond func(keyState) bool) keyState {
	t.Helper()
	var s keyState
	var last string
	if !waitUntil(func() bool {
		var err error
		s, err = readKey(cli, key)
		last = fmt.Sprintf("%+v, %v", s, err)
		return err == nil && cond(s)
	}) {
		t.Fatalf("the key never had %s: last %s", what, last)
	}
	return s
}

// TestFleetSetListeners: a Registration's listeners change while it runs:
// the key is written again under the same lease (once per change: the
// same listeners again write nothing), Member has them at once (a copy),
// a change made as the lease is lost is written by the registration made
// again, one made while etcd is away once it is back (SetListeners never
// waits for etcd), and after Close SetListeners is ErrClosed.
func TestFleetSetListeners(t *testing.T) {
	checkLeaks(t)
	etcd := newEtcd(t)
	etcd.start(t)
	cfg := fleet.Config{Endpoints: etcd.cfg.Endpoints(), TTL: ttl, RequestTimeout: time.Second, Logger: quiet()}
	a := fleet.Listener{ID: 1, Network: "tcp", Addr: "127.0.0.1:7001"}
	b := fleet.Listener{ID: 2, Network: "unix", Addr: "/tmp/b.sock"}
	c := fleet.Listener{ID: 3, Network: "udp", Addr: "127.0.0.1:7003"}
	started := time.Now().UTC()
	m := fleet.Member{Address: "127.0.0.1:1", Incarnation: fleet.NewIncarnation(started), Started: started, Listeners: []fleet.Listener{a}}
	reg, err := fleet.Register(cfg, m, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), deadline)
	defer cancel()
	t.Cleanup(func() { _ = reg.Close(ctx) }) // before etcd's stop (cleanups run last first)
	cli, err := clientv3.New(clientv3.Config{Endpoints: cfg.Endpoints, Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cli.Close() })
	if err := reg.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	has := func(ls ...fleet.Listener) func(keyState) bool {
		return func(s keyState) bool { return s.ok && slices.Equal(s.member.Listeners, ls) }
	}
	first := waitKey(t, cli, reg.Key(), "[a]", has(a))
	if first.version != 1 || first.lease == 0 {
		t.Fatalf("first registration: %+v", first)
	}

	// A change: Member has it at once, a copy of what was given; the key
	// is written again under the same lease.
	ls := []fleet.Listener{a, b}
	if err := reg.SetListeners(ls); err != nil {
		t.Fatal(err)
	}
	ls[0].Addr = "changed by the caller"
	got := reg.Member()
	if !slices.Equal(got.Listeners, []fleet.Listener{a, b}) || got.Incarnation != m.Incarnation || !got.Started.Equal(started) {
		t.Fatalf("Member after SetListeners: %+v", got)
	}
	got.Listeners[0].Addr = "changed by the caller"
	if l := reg.Member().Listeners[0]; l != a {
		t.Fatalf("Member shares its listeners: %+v", l)
	}
	s := waitKey(t, cli, reg.Key(), "[a b]", has(a, b))
	if s.lease != first.lease || s.version != 2 || reg.Registrations() != 1 {
		t.Fatalf("after SetListeners: %+v, %d registrations; first %+v", s, reg.Registrations(), first)
	}
	// The same listeners again write nothing: the next change is write 3.
	if err := reg.SetListeners([]fleet.Listener{a, b}); err != nil {
		t.Fatal(err)
	}
	if err := reg.SetListeners([]fleet.Listener{b}); err != nil {
		t.Fatal(err)
	}
	if s := waitKey(t, cli, reg.Key(), "[b]", has(b)); s.version != 3 || s.lease != first.lease {
		t.Fatalf("after [a b] again and [b]: %+v", s)
	}

	// The lease lost (revoked from outside: the key goes) and the
	// listeners changed at once: the registration made again writes them.
	rctx, rcancel := context.WithTimeout(ctx, time.Second)
	_, err = cli.Revoke(rctx, clientv3.LeaseID(first.lease))
	rcancel()
	if err != nil {
		t.Fatal(err)
	}
	if err := reg.SetListeners([]fleet.Listener{c}); err != nil {
		t.Fatal(err)
	}
	s = waitKey(t, cli, reg.Key(), "[c] under a new lease", func(s keyState) bool {
		return has(c)(s) && s.lease != first.lease && reg.Registrations() >= 2
	})
	if s.member.Incarnation != m.Incarnation {
		t.Fatalf("registered again as %q, was %q", s.member.Incarnation, m.Incarnation)
	}

	// etcd away: SetListeners still returns at once (the caller's
	// goroutine makes no request); the key has the change once etcd is
	// back, under the lease kept or a new one.
	if err := etcd.stop(); err != nil {
		t.Fatal(err)
	}
	if err := reg.SetListeners([]fleet.Listener{c, a}); err != nil {
		t.Fatal(err)
	}
	if got := reg.Member().Listeners; !slices.Equal(got, []fleet.Listener{c, a}) {
		t.Fatalf("Member while etcd is away: %v", got)
	}
	etcd.start(t)
	waitKey(t, cli, reg.Key(), "[c a] after etcd's restart", has(c, a))

	// None left: written without listeners.
	if err := reg.SetListeners(nil); err != nil {
		t.Fatal(err)
	}
	waitKey(t, cli, reg.Key(), "no listeners", has())

	// Closed: the key goes; SetListeners is ErrClosed and changes nothing.
	if err := reg.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if err := reg.SetListeners([]fleet.Listener{a}); !errors.Is(err, fleet.ErrClosed) {
		t.Fatalf("SetListeners after Close: %v, want ErrClosed", err)
	}
	if got := reg.Member().Listeners; got != nil {
		t.Fatalf("Member after a refused SetListeners: %v", got)
	}
	waitKey(t, cli, reg.Key(), "no key after Close", func(s keyState) bool { return !s.ok })
}
