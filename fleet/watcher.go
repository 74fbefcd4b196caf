package fleet

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/asynkron/protoactor-go/eventstream"
	"github.com/asynkron/protoactor-go/remote"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/sockactor/sockactor/actors"
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
// the gateway's open sockets as of the last seq applied, none missing,
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
	sess  uint64

	closeOnce sync.Once
}

// gateway is the watcher's state of one key. Loop only (and View, under mu).
type gateway struct {
	key     string
	member  Member
	sess    uint64     // the sync or follow in progress
	sub     *actor.PID // its subscriber process, nil if none
	synced  bool
	seq     uint64
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
		gws: map[string]*gateway{}, stale: map[string][]*actor.PID{}}
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

// The loop's messages.
type (
	listed struct { // the prefix as a Get found it: every key's member
		members map[string]Member
		rev     int64
	}
	revision struct{ rev int64 } // every change up to rev was pushed
	put      struct {
		key    string
		member Member
	}
	deleted      struct{ key string }
	endpointLost struct{ address string }
	probed       struct {
		key  string
		sess uint64
		err  error
	}
	retry struct {
		key  string
		sess uint64
	}
	timedOut struct {
		key  string
		sess uint64
	}
	fromGW struct { // a message to a session's subscriber process
		key  string
		sess uint64
		msg  any
	}
)

// run is the loop goroutine: it applies every message under mu and
// reports the updates without it.
func (w *Watcher) run() {
	defer close(w.loop)
	var ups []Update
	for {
		select {
		case <-w.ctx.Done():
			w.mu.Lock()
			for _, g := range w.gws {
				w.endSession(g)
			}
			w.mu.Unlock()
			return
		case <-w.q.ready:
		}
		for _, m := range w.q.take() {
			w.mu.Lock()
			ups = w.handle(m, ups[:0])
			w.mu.Unlock()
			if w.opts.OnUpdate != nil {
				for _, u := range ups {
					if w.ctx.Err() != nil {
						break
					}
					w.opts.OnUpdate(u)
				}
			}
		}
	}
}

func (w *Watcher) handle(m any, ups []Update) []Update {
	switch m := m.(type) {
	case listed:
		for key, g := range w.gws {
			if _, ok := m.members[key]; !ok {
				ups = w.leave(g, ups)
			}
		}
		keys := make([]string, 0, len(m.members))
		for k := range m.members {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			ups = w.put(k, m.members[k], ups)
		}
		w.rev = m.rev
	case revision:
		w.rev = max(w.rev, m.rev)
	case put:
		ups = w.put(m.key, m.member, ups)
	case deleted:
		if g := w.gws[m.key]; g != nil {
			ups = w.leave(g, ups)
		}
	case endpointLost:
		for _, g := range w.gws {
			if g.member.Address == m.address && g.sub != nil {
				ups = w.lose(g, ups)
			}
		}
	case probed:
		if g := w.gws[m.key]; g != nil && g.sess == m.sess && g.sub == nil {
			if m.err != nil {
				w.later(g)
			} else {
				w.request(g)
			}
		}
	case retry:
		if g := w.gws[m.key]; g != nil && g.sess == m.sess && g.sub == nil {
			w.sync(g)
		}
	case timedOut:
		if g := w.gws[m.key]; g != nil && g.sess == m.sess && !g.synced {
			ups = w.lose(g, ups)
		}
	case fromGW:
		g := w.gws[m.key]
		if g == nil || g.sess != m.sess || g.sub == nil {
			return ups // a session that is over
		}
		switch msg := m.msg.(type) {
		case *events.Snapshot:
			if g.synced {
				return ups
			}
			if msg.Code != 0 {
				return w.lose(g, ups)
			}
			ups = w.snapshot(g, msg, ups)
		case *events.Event:
			if g.synced && msg.Seq > g.seq {
				g.seq = msg.Seq
				apply(g.sockets, msg)
				ups = append(ups, Update{Kind: Event, Gateway: g.member, Event: msg})
			}
		case *actor.DeadLetterResponse: // not that incarnation's node actor
			if !g.synced {
				ups = w.lose(g, ups)
			}
		}
	}
	return ups
}

// put handles a key written: a join, a restart, or the same incarnation
// again (a registration made again after a lost lease).
func (w *Watcher) put(key string, m Member, ups []Update) []Update {
	g := w.gws[key]
	switch {
	case g == nil:
		g = &gateway{key: key, member: m, sockets: map[uint64]*events.SocketEntry{}, backoff: retryMin}
		w.gws[key] = g
		ups = append(ups, Update{Kind: Join, Gateway: m})
		w.sync(g)
	case g.member.Incarnation != m.Incarnation:
		ups = w.gone(g, ReasonRestart, ups)
		w.endSession(g)
		delete(w.stale, g.member.Address) // subscribers of a process that is gone
		g.member = m
		g.backoff = retryMin
		ups = append(ups, Update{Kind: Restart, Gateway: m})
		w.sync(g)
	default:
		g.member = m
		if g.sub == nil && !g.synced { // waiting to retry: now
			g.backoff = retryMin
			w.sync(g)
		}
	}
	return ups
}

// leave reports a key gone: Gone records, then Leave.
func (w *Watcher) leave(g *gateway, ups []Update) []Update {
	ups = w.gone(g, ReasonLeave, ups)
	w.endSession(g)
	delete(w.gws, g.key)
	return append(ups, Update{Kind: Leave, Gateway: g.member})
}

// lose ends a sync or follow that failed while the key stays: Gone
// records if it was followed, Lost, and a new try later.
func (w *Watcher) lose(g *gateway, ups []Update) []Update {
	wasSynced := g.synced
	ups = w.gone(g, ReasonLost, ups)
	w.endSession(g)
	if wasSynced {
		ups = append(ups, Update{Kind: Lost, Gateway: g.member})
		g.backoff = retryMin
	}
	w.later(g)
	return ups
}

// gone reports every socket of the table as gone and empties it.
func (w *Watcher) gone(g *gateway, reason string, ups []Update) []Update {
	ids := make([]uint64, 0, len(g.sockets))
	for id := range g.sockets {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	for _, id := range ids {
		ups = append(ups, Update{Kind: Gone, Gateway: g.member, Socket: g.sockets[id], Reason: reason})
	}
	clear(g.sockets)
	return ups
}

// endSession ends the sync or follow in progress: its subscriber leaves the
// registry (and is unsubscribed at that address after its next snapshot),
// its timer stops, and what it still receives is ignored.
func (w *Watcher) endSession(g *gateway) {
	w.sess++
	g.sess = w.sess
	g.synced = false
	g.seq = 0
	if g.timer != nil {
		g.timer.Stop()
		g.timer = nil
	}
	if g.sub != nil {
		w.sys.ProcessRegistry.Remove(g.sub)
		w.stale[g.member.Address] = append(w.stale[g.member.Address], g.sub)
		g.sub = nil
	}
}

// later schedules the next sync try after the backoff, which doubles.
func (w *Watcher) later(g *gateway) {
	w.endSession(g)
	key, sess := g.key, g.sess
	g.timer = time.AfterFunc(g.backoff, func() { w.q.push(retry{key: key, sess: sess}) })
	g.backoff = min(2*g.backoff, retryMax)
}

// sync starts a try: a TCP connect to the gateway's address, then (probed)
// the snapshot request.
func (w *Watcher) sync(g *gateway) {
	w.endSession(g)
	key, sess, addr := g.key, g.sess, g.member.Address
	w.probes.Add(1)
	go func() {
		defer w.probes.Done()
		d := net.Dialer{Timeout: probeTimeout}
		c, err := d.DialContext(w.ctx, "tcp", addr)
		if err == nil {
			_ = c.Close()
		}
		w.q.push(probed{key: key, sess: sess, err: err})
	}()
}

// request registers the session's subscriber and sends the snapshot request
// naming it, from it: the reply and then the events reach it in order on
// the one connection from the gateway.
func (w *Watcher) request(g *gateway) {
	key, sess := g.key, g.sess
	sub, ok := w.sys.ProcessRegistry.Add(&subscriber{w: w, key: key, sess: sess}, "fleet-watch-"+strconv.FormatUint(sess, 10))
	if !ok {
		w.later(g)
		return
	}
	g.sub = sub
	name := nodeName
	if g.member.Incarnation != "" {
		name = NodeActorName(g.member.Incarnation)
	}
	node := actor.NewPID(g.member.Address, name)
	w.sys.Root.RequestWithCustomSender(node, actors.NewSnapshotRequest(sub, w.mask), sub)
	g.timer = time.AfterFunc(w.cfg.requestTimeout(), func() { w.q.push(timedOut{key: key, sess: sess}) })
}

// snapshot applies a snapshot: the table, Synced, and the subscribers of
// earlier sessions at that address unsubscribed.
func (w *Watcher) snapshot(g *gateway, s *events.Snapshot, ups []Update) []Update {
	if g.timer != nil {
		g.timer.Stop()
		g.timer = nil
	}
	g.synced, g.seq, g.backoff = true, s.Seq, retryMin
	clear(g.sockets)
	for _, e := range s.Sockets {
		g.sockets[e.SocketId] = e
	}
	if old := w.stale[g.member.Address]; len(old) > 0 {
		node := actor.NewPID(g.member.Address, nodeName)
		for _, pid := range old {
			w.sys.Root.Send(node, actors.NewUnsubscribe(pid))
		}
		delete(w.stale, g.member.Address)
	}
	return append(ups, Update{Kind: Snapshot, Gateway: g.member, Snapshot: s})
}

// apply updates a table with one event.
func apply(t map[uint64]*events.SocketEntry, ev *events.Event) {
	switch ev.EventKind() {
	case events.FDAccept, events.FDConnect:
		if ev.EventKind() == events.FDConnect && ev.Code != 0 {
			return
		}
		t[ev.SocketId] = &events.SocketEntry{SocketId: ev.SocketId, PidAddress: ev.PidAddress, PidId: ev.PidId,
			State: "open", LocalAddr: ev.LocalAddr, RemoteAddr: ev.RemoteAddr, ListenerId: ev.ListenerId, Seq: ev.Seq}
	case events.FDClose:
		delete(t, ev.SocketId)
	}
}

// subscriber is a session's subscriber: a registry process, not an actor,
// that hands the loop the snapshot and the events. It ignores system
// messages, so the gateway's watch on it is never answered and taking it
// out of the registry sends nothing to a gateway that may be unreachable.
type subscriber struct {
	w    *Watcher
	key  string
	sess uint64
}

func (s *subscriber) SendUserMessage(_ *actor.PID, m any) {
	switch msg := actor.UnwrapEnvelopeMessage(m).(type) {
	case *events.Event, *events.Snapshot, *actor.DeadLetterResponse:
		s.w.q.push(fromGW{key: s.key, sess: s.sess, msg: msg})
	}
}
func (*subscriber) SendSystemMessage(*actor.PID, any) {}
func (*subscriber) Stop(*actor.PID)                   {}

// followEtcd is the etcd goroutine: list the prefix, then watch it from
// the next revision; list again whenever the watch ends (compaction, etcd
// lost for good), so nothing is missed.
func (w *Watcher) followEtcd() {
	defer close(w.etcd)
	prefix := w.cfg.prefix()
	log := w.cfg.logger()
	wait := retryMin
	for w.ctx.Err() == nil {
		ctx, cancel := context.WithTimeout(w.ctx, w.cfg.requestTimeout())
		resp, err := w.cli.Get(ctx, prefix, clientv3.WithPrefix())
		cancel()
		if err != nil {
			log.Debug("fleet: listing the fleet failed; trying again", "err", err)
			if !sleep(w.ctx, wait) {
				return
			}
			wait = min(2*wait, retryMax)
			continue
		}
		wait = retryMin
		l := listed{members: map[string]Member{}, rev: resp.Header.Revision}
		for _, kv := range resp.Kvs {
			if m, err := decodeMember(string(kv.Key), prefix, kv.Value); err == nil {
				l.members[string(kv.Key)] = m
			} else {
				log.Info("fleet: ignoring a key", "err", err)
			}
		}
		w.q.push(l)
		for wr := range w.cli.Watch(w.ctx, prefix, clientv3.WithPrefix(), clientv3.WithRev(resp.Header.Revision+1)) {
			if wr.Err() != nil {
				log.Debug("fleet: watch ended; listing again", "err", wr.Err())
				break
			}
			for _, ev := range wr.Events {
				key := string(ev.Kv.Key)
				switch ev.Type {
				case clientv3.EventTypePut:
					if m, err := decodeMember(key, prefix, ev.Kv.Value); err == nil {
						w.q.push(put{key: key, member: m})
					} else {
						log.Info("fleet: ignoring a key", "err", err)
					}
				case clientv3.EventTypeDelete:
					w.q.push(deleted{key: key})
				}
			}
			w.q.push(revision{rev: wr.Header.Revision})
		}
	}
}

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// queue is an unbounded FIFO of loop messages: pushing never blocks
// (protoactor's remote reader and the event stream push into it).
type queue struct {
	mu    sync.Mutex
	items []any
	ready chan struct{}
}

func (q *queue) init() { q.ready = make(chan struct{}, 1) }

func (q *queue) push(m any) {
	q.mu.Lock()
	q.items = append(q.items, m)
	q.mu.Unlock()
	select {
	case q.ready <- struct{}{}:
	default:
	}
}

func (q *queue) take() []any {
	q.mu.Lock()
	defer q.mu.Unlock()
	items := q.items
	q.items = nil
	return items
}
