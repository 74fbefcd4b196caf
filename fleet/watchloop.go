package fleet

import (
	"sort"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/sockactor/sockactor/events"
)

// The watcher's loop: one goroutine applies what etcd and the gateways
// report, in order, and hands the updates to OnUpdate (run, handle), and
// what a gateway's joining, leaving or being lost does to the view.

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
		for key := range w.left {
			if _, ok := m.members[key]; !ok {
				delete(w.left, key)
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
		delete(w.left, m.key)
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
			// Above the snapshot's seq, not above the last event's: the
			// gateway's sockets publish from several loops, so events of
			// different sockets may come with their seqs out of order
			// (each socket's own come in order, docs/SEMANTICS.md §7).
			if g.synced && msg.Seq > g.snapSeq {
				g.seq = max(g.seq, msg.Seq)
				apply(g.sockets, msg)
				ups = append(ups, Update{Kind: Event, Gateway: g.member, Event: msg})
			}
		case *events.Leaving:
			// The gateway's Shutdown, after its revoke and before its
			// sockets close, on the path of its events: GONE … LEAVE now,
			// ahead of the FD_CLOSEs, the lost endpoint and the etcd delete.
			w.left[g.key] = g.member.Incarnation
			ups = w.leave(g, ups)
		case *actor.DeadLetterResponse: // not that incarnation's node actor
			if !g.synced {
				ups = w.lose(g, ups)
			}
		}
	}
	return ups
}

// put handles a key written: a join, a restart, or the same incarnation
// again: a change of its Member (its listeners), or the same Member
// written again (a registration made again after a lost lease: silent).
func (w *Watcher) put(key string, m Member, ups []Update) []Update {
	if inc, ok := w.left[key]; ok {
		if inc == m.Incarnation {
			return ups // said Leaving; its key is on its way out
		}
		delete(w.left, key)
	}
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
		changed := !g.member.sameAs(m)
		g.member = m
		if changed {
			ups = append(ups, Update{Kind: Change, Gateway: m})
		}
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
	g.snapSeq, g.seq = 0, 0
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
