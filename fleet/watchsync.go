package fleet

import (
	"context"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/sockactor/sockactor/actors"
	"github.com/sockactor/sockactor/events"
)

// Following one gateway: a snapshot from its node actor, then its events
// (sync, request, snapshot, apply, subscriber), with retries; following
// etcd's prefix (followEtcd); and the loop's queue.

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
	g.synced, g.snapSeq, g.seq, g.backoff = true, s.Seq, s.Seq, retryMin
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
	case *events.Event, *events.Snapshot, *events.Leaving, *actor.DeadLetterResponse:
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
