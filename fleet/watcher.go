package fleet

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/asynkron/protoactor-go/eventstream"
	"github.com/asynkron/protoactor-go/remote"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/sockactor/sockactor/events"
)

// nodeName is runtime.NodeName (fleet cannot import runtime, which imports
// it); a test checks they are equal.
const nodeName = "sockactor"

// NodeActorName returns the registry name of the node actor of the
// incarnation a gateway registered: runtime.NodeName + "@" + incarnation.
// A runtime with Options.Fleet registers its node actor under it too, so a
// request to it reaches that incarnation only: after a restart on the same
// address it is a dead letter, never the new process's answer. Safe for
// concurrent use.
func NodeActorName(incarnation string) string { return nodeName + "@" + incarnation }

// Sync retries: after a failed snapshot (no connection, no answer, a dead
// letter) the watcher tries again retryMin later, doubling to retryMax,
// while the gateway's key stays. Each try connects to the gateway's
// address first (probeTimeout): protoactor's connection attempts to a node
// where nothing listens cannot be interrupted.
const (
	retryMin     = 100 * time.Millisecond
	retryMax     = 2 * time.Second
	probeTimeout = time.Second
)

// followMask is what a watcher always subscribes to: the kinds that open
// and close a socket of the table.
var followMask = events.MaskOf(events.FDAccept, events.FDConnect, events.FDClose)

// WatchOptions configure a Watcher; NewWatcher copies them.
type WatchOptions struct {
	// OnUpdate receives every Update, one call at a time, in order, on the
	// watcher's goroutine: it must not block for long, nor call Close. nil
	// is allowed (View only).
	OnUpdate func(Update)
	// Mask adds kinds to follow beyond FD_ACCEPT, FD_CONNECT and FD_CLOSE
	// (always followed: they make the table). Every event followed is an
	// Event update.
	Mask events.Mask
}

// Watcher follows every gateway registered under a Config's prefix: it
// lists and watches the prefix in etcd and, per gateway, snapshots its
// node actor over protoactor remote and follows its events (docs/
// SEMANTICS.md §7). Its view of each gateway (View) is exact once Synced:
// the gateway's open sockets as of the events applied, none missing,
// none twice, across joins, leaves, losses, hangs and restarts.
//
// A Watcher owns its etcd client, one goroutine that applies and reports
// (OnUpdate runs there), one that follows etcd, and short-lived probes. It
// uses, but does not own, the actor system: start remote on it first
// (runtime.StartRemote) and shut it down after Close. Its methods are safe
// for concurrent use.
type Watcher struct {
	cfg  Config
	sys  *actor.ActorSystem
	cli  *clientv3.Client
	opts WatchOptions
	mask events.Mask

	ctx    context.Context
	cancel context.CancelFunc
	q      queue
	loop   chan struct{} // closed when the loop goroutine ended
	etcd   chan struct{} // closed when the etcd goroutine ended
	probes sync.WaitGroup
	lost   *eventstream.Subscription

	mu    sync.Mutex          // guards gws and rev for View and Revision; the loop writes under it
	gws   map[string]*gateway // by key
	rev   int64               // the etcd revision applied last
	stale map[string][]*actor.PID
	// left holds, by key, the incarnation of each gateway that said
	// Leaving (its Shutdown), until its key goes: a put of that incarnation
	// seen meanwhile (a list made before the revoke) is not a new join.
	// Loop only.
	left map[string]string
	sess uint64

	closeOnce sync.Once
}

// gateway is the watcher's state of one key. Loop only (and View, under mu).
type gateway struct {
	key     string
	member  Member
	sess    uint64     // the sync or follow in progress
	sub     *actor.PID // its subscriber process, nil if none
	synced  bool
	snapSeq uint64 // the snapshot's seq: events at or below it are in it
	seq     uint64 // the highest seq applied (the snapshot's or an event's)
	sockets map[uint64]*events.SocketEntry
	backoff time.Duration
	timer   *time.Timer
}

// NewWatcher starts a watcher of cfg's fleet on sys, which must run
// protoactor remote (runtime.StartRemote). It returns at once; the first
// updates follow as etcd answers. Errors: ErrConfig, ErrNoRemote.
func NewWatcher(sys *actor.ActorSystem, cfg Config, opts WatchOptions) (*Watcher, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if sys == nil || sys.Address() == "nonhost" {
		return nil, ErrNoRemote
	}
	if opts.Mask != 0 && !opts.Mask.Valid() {
		return nil, fmt.Errorf("%w: invalid mask %v", ErrConfig, opts.Mask)
	}
	cli, err := cfg.client()
	if err != nil {
		return nil, err
	}
	w := &Watcher{cfg: cfg, sys: sys, cli: cli, opts: opts, mask: followMask | opts.Mask,
		loop: make(chan struct{}), etcd: make(chan struct{}),
		gws: map[string]*gateway{}, stale: map[string][]*actor.PID{}, left: map[string]string{}}
	w.q.init()
	w.ctx, w.cancel = context.WithCancel(context.Background())
	w.lost = sys.EventStream.SubscribeWithPredicate(func(ev any) {
		w.q.push(endpointLost{address: ev.(*remote.EndpointTerminatedEvent).Address})
	}, func(ev any) bool { _, ok := ev.(*remote.EndpointTerminatedEvent); return ok })
	go w.run()
	go w.followEtcd()
	return w, nil
}

// View returns the watcher's view of every registered gateway, ordered by
// address; the values are copies.
func (w *Watcher) View() []GatewayView {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := make([]GatewayView, 0, len(w.gws))
	for _, g := range w.gws {
		v := GatewayView{Member: g.member, Synced: g.synced, Seq: g.seq}
		for _, s := range g.sockets {
			v.Sockets = append(v.Sockets, s)
		}
		sort.Slice(v.Sockets, func(i, j int) bool { return v.Sockets[i].SocketId < v.Sockets[j].SocketId })
		out = append(out, v)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Member.Address < out[j].Member.Address })
	return out
}

// Revision returns the etcd revision of the membership the watcher has
// applied (0 before its first list): every change to the prefix up to it
// has been handled, and its updates reported or being reported. A caller
// that wrote to etcd can wait for Revision to reach its write's revision.
func (w *Watcher) Revision() int64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.rev
}

// Close stops the watcher: no OnUpdate call starts after it returns (one
// in progress finishes first, unless ctx ends). The gateways are not told:
// each drops this node's subscribers when it unsubscribes or loses this
// node. Idempotent; errors: ctx.Err() if ctx ends before the goroutines.
func (w *Watcher) Close(ctx context.Context) error {
	w.closeOnce.Do(func() {
		w.cancel()
		w.sys.EventStream.Unsubscribe(w.lost)
	})
	for _, ch := range []chan struct{}{w.loop, w.etcd} {
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	done := make(chan struct{})
	go func() { w.probes.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		return ctx.Err()
	}
	if err := w.cli.Close(); err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	return nil
}
