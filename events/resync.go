package events

import (
	"cmp"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/asynkron/protoactor-go/actor"
)

// The Hub's part of docs/SEMANTICS.md §7: the runtime-wide seq stamped on
// every event, the table of open sockets that a snapshot lists, and the
// watch on remote subscribers that drops them when they stop or their node
// is lost.

// nonhost is the address protoactor gives PIDs of a system without remote.
const nonhost = "nonhost"

// tableShards spreads the socket table over locks, so that event loops
// opening and closing sockets at once rarely meet, and so that a snapshot
// holds one lock for a small part of the table at a time (see Snapshot).
const tableShards = 256

// flushRounds bounds how many rounds Snapshot hands the subscriber's held
// events over without their lock (see hold.flush): publishers that keep
// adding faster than the rounds send cannot keep the snapshot from ending.
const flushRounds = 8

// maxDead bounds how many terminated remote subscribers the hub remembers
// for the per-socket lists that may still name them; past it the oldest is
// forgotten (a socket that still lists it then sends to it again, and the
// hub watches it again).
const maxDead = 1 << 16

// resync is the Hub's seq, socket table and remote-subscriber watch.
//
// How a snapshot stays exact without holding publishers while it copies
// the table (docs/SEMANTICS.md §7): the gate's write side is held only to
// read the seq S, publish the cut (S) and put the requester in the
// runtime-wide list with its events held (hold). Every event with a seq up
// to S was applied to the table before the cut, every later one is applied
// after it and sees it. The table is then copied shard by shard, each under
// its own lock only: an entry whose opening seq is above S is left out, and
// an entry that was in the table at S but closed (or replaced) since is
// kept aside by apply until its shard is copied. Sorting and building the
// reply happen outside every lock; the reply is sent, then the held events
// (all with a seq above S, in the order they were published), then the
// requester's events flow directly.
type resync struct {
	// gate orders publications against the cut: a publication holds the
	// read side from taking its seq to loading the runtime-wide list (and
	// the held requester); a snapshot holds the write side only to read the
	// seq, publish the cut and subscribe its requester: O(1) in the number
	// of open sockets.
	gate   sync.RWMutex
	seq    atomic.Uint64
	track  atomic.Bool
	shards [tableShards]tableShard

	// snapMu serializes snapshots; epoch (guarded by snapMu) numbers them.
	snapMu sync.Mutex
	epoch  uint64
	// cut is the snapshot in progress, nil when none: written under the
	// gate's write side (and cleared once every shard is copied), read by
	// apply under its read side.
	cut atomic.Pointer[cut]

	wmu     sync.Mutex          // guards watched and deadQ
	watched map[string]struct{} // remote subscribers watched, by pidKey
	deadQ   []*actor.PID        // dead, oldest first (for maxDead)

	// dead: remote subscribers reported gone, by address then PID id (two
	// lookups, no key to build on the publishing path); deadN counts them
	// so that publishing costs one atomic load while there are none.
	dmu   sync.RWMutex
	dead  map[string]map[string]struct{}
	deadN atomic.Int64

	remoteDropped atomic.Uint64
}

// tableShard is one lock's worth of the socket table.
type tableShard struct {
	mu sync.Mutex
	m  map[uint64]entry // guarded by mu
	// copied (guarded by mu) is the epoch of the last snapshot that copied
	// this shard; kept (guarded by mu) the entries that were in the shard
	// at that snapshot's cut and left it (closed or replaced) before it was
	// copied. Once the shard is copied nothing more is kept for that cut.
	copied uint64
	kept   []keptEntry
}

// keptEntry is an entry that left its shard after the cut.
type keptEntry struct {
	id uint64
	e  entry
}

// cut is a snapshot's instant: its seq and its epoch.
type cut struct{ seq, epoch uint64 }

// entry is a socket in the table. Its strings are the event's, shared.
type entry struct {
	seq, listener              uint64
	pidAddr, pidID, local, rem string
}

func pidKey(pid *actor.PID) string { return pid.Address + "/" + pid.Id }

// EnableSnapshots makes the hub keep the table of open sockets that
// Snapshot lists (about 100 bytes per open socket). Call it before the
// first Publish: the table is built from the events it sees. Safe for
// concurrent use.
func (h *Hub) EnableSnapshots() { h.rs.track.Store(true) }

// SnapshotsEnabled reports whether EnableSnapshots was called.
func (h *Hub) SnapshotsEnabled() bool { return h.rs.track.Load() }

// Seq returns the seq of the last event published (0 before the first).
// Safe for concurrent use.
func (h *Hub) Seq() uint64 { return h.rs.seq.Load() }

// stamp gives ev its seq, applies it to the socket table and returns the
// runtime-wide subscribers it goes to and the snapshot requester whose
// events are held (nil if none), all under the gate's read side.
// Goroutine: the publishing socket's.
func (h *Hub) stamp(ev *Event) (Subs, *hold) {
	rs := &h.rs
	rs.gate.RLock()
	ev.Seq = rs.seq.Add(1)
	if rs.track.Load() {
		rs.apply(ev)
	}
	global := *h.global.Load()
	held := h.held.Load()
	rs.gate.RUnlock()
	return global, held
}

// apply records ev in the socket table: an FD_ACCEPT or successful
// FD_CONNECT adds its socket, an FD_CLOSE removes it. While a snapshot's
// cut is set and this shard is not copied yet, an entry that was in the
// table at the cut and leaves it now is kept aside for that snapshot.
// Called with the gate's read side held.
func (rs *resync) apply(ev *Event) {
	k := ev.EventKind()
	open := k == FDAccept || (k == FDConnect && ev.Code == 0)
	if !open && k != FDClose {
		return
	}
	sh := &rs.shards[ev.SocketId%tableShards]
	sh.mu.Lock()
	if c := rs.cut.Load(); c != nil && sh.copied != c.epoch {
		if old, ok := sh.m[ev.SocketId]; ok && old.seq <= c.seq {
			sh.kept = append(sh.kept, keptEntry{id: ev.SocketId, e: old})
		}
	}
	if open {
		if sh.m == nil {
			sh.m = map[uint64]entry{}
		}
		sh.m[ev.SocketId] = entry{seq: ev.Seq, listener: ev.ListenerId, pidAddr: ev.PidAddress,
			pidID: ev.PidId, local: ev.LocalAddr, rem: ev.RemoteAddr}
	} else {
		delete(sh.m, ev.SocketId)
	}
	sh.mu.Unlock()
}

// Snapshot lists the sockets whose FD_CLOSE has not been published, with
// the seq of the last event it reflects. If mask is not 0 it also
// subscribes sub runtime-wide to mask (replacing an earlier mask) in the
// same instant, so sub receives exactly the events with a higher seq; and
// if first is not nil it is called with the snapshot before any of those
// events is handed to sub (send the reply from it, and the reply comes
// first on any path that keeps order, such as one mailbox or one remote
// connection). Until first returns, sub's events are held by the hub (in
// memory, in order), not sent; first should not block.
//
// Publishers are held only for an instant that does not grow with the
// table (see resync): the copy and the sort run on the caller's
// goroutine, and snapshots are taken one at a time.
//
// It returns false, and does nothing, if the hub keeps no table (see
// EnableSnapshots), or if mask is not 0 and invalid or sub is nil.
// Safe for concurrent use.
func (h *Hub) Snapshot(sub *actor.PID, mask Mask, first func(*Snapshot)) (*Snapshot, bool) {
	rs := &h.rs
	if !rs.track.Load() || (mask != 0 && (sub == nil || sub.Id == "" || !mask.Valid())) {
		return nil, false
	}
	rs.snapMu.Lock()
	defer rs.snapMu.Unlock()
	rs.epoch++
	var held *hold
	if mask != 0 {
		held = &hold{pid: sub}
	}

	rs.gate.Lock()
	c := &cut{seq: rs.seq.Load(), epoch: rs.epoch}
	rs.cut.Store(c)
	if held != nil {
		h.held.Store(held)
		h.addGlobal(sub, mask, true)
	}
	rs.gate.Unlock()

	raw := rs.copyTable(c)
	snap := &Snapshot{Address: h.system.Address(), Seq: c.seq}
	block := make([]SocketEntry, len(raw))
	snap.Sockets = make([]*SocketEntry, len(raw))
	for i := range raw {
		e, se := &raw[i].e, &block[i]
		se.SocketId, se.PidAddress, se.PidId, se.State = raw[i].id, e.pidAddr, e.pidID, "open"
		se.LocalAddr, se.RemoteAddr, se.ListenerId, se.Seq = e.local, e.rem, e.listener, e.seq
		snap.Sockets[i] = se
	}
	slices.SortFunc(snap.Sockets, func(a, b *SocketEntry) int { return cmp.Compare(a.SocketId, b.SocketId) })
	if first != nil {
		first(snap)
	}
	if held != nil {
		held.flush(h)
		h.held.CompareAndSwap(held, nil)
		h.watch(sub)
	}
	return snap, true
}

// copyTable copies the table as it was at c, one shard lock at a time,
// and clears the cut. Goroutine: Snapshot's, with snapMu held.
func (rs *resync) copyTable(c *cut) []keptEntry {
	var out []keptEntry
	for i := range rs.shards {
		sh := &rs.shards[i]
		sh.mu.Lock()
		out = slices.Grow(out, len(sh.m)+len(sh.kept))
		for id, e := range sh.m {
			if e.seq <= c.seq { // opened after the cut otherwise
				out = append(out, keptEntry{id: id, e: e})
			}
		}
		out = append(out, sh.kept...)
		clear(sh.kept)
		sh.kept = sh.kept[:0]
		sh.copied = c.epoch
		sh.mu.Unlock()
	}
	rs.cut.Store(nil)
	return out
}

// hold keeps a snapshot requester's events from its subscription until
// the snapshot's reply is sent (Snapshot's first), so that the reply comes
// first. The hub holds one at a time (Hub.held: snapshots are serialized).
type hold struct {
	pid  *actor.PID // immutable
	live atomic.Bool
	mu   sync.Mutex
	q    []*Event // guarded by mu; in publication order
}

// keep queues ev for the requester unless the hold is over (then the
// caller sends it). Goroutine: the publisher's.
func (p *hold) keep(ev *Event) bool {
	if p.live.Load() {
		return false
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.live.Load() {
		return false
	}
	p.q = append(p.q, ev)
	return true
}

// flush sends the held events in order and ends the hold. The sending is
// done in rounds without the lock while publishers may still add; the last
// round (the queue found empty, or flushRounds reached) sends under the
// lock and ends the hold, so no later event overtakes a held one.
// Goroutine: Snapshot's.
func (p *hold) flush(h *Hub) {
	for round := 0; ; round++ {
		p.mu.Lock()
		batch := p.q
		p.q = nil
		if len(batch) == 0 || round == flushRounds {
			h.sendHeld(p.pid, batch)
			p.live.Store(true)
			p.mu.Unlock()
			return
		}
		p.mu.Unlock()
		h.sendHeld(p.pid, batch)
	}
}

// sendHeld sends a batch of held events to pid, dropping pid if it is found
// dead (the rest of the batch is then not sent).
func (h *Hub) sendHeld(pid *actor.PID, batch []*Event) {
	for _, ev := range batch {
		if !h.send(pid, ev) {
			h.drop(pid)
			return
		}
	}
}

// isRemote reports whether pid lives on another node.
func (h *Hub) isRemote(pid *actor.PID) bool {
	return pid.Address != nonhost && pid.Address != h.system.Address()
}

// Watch makes the hub watch a remote subscriber of a per-socket
// subscription, so that it is dropped from every list that names it when
// it stops or its node is lost (docs/SEMANTICS.md §7). A local PID needs
// no watch: a dead one is found at delivery. Each PID is watched once.
// Safe for concurrent use; it never blocks on the network.
func (h *Hub) Watch(pid *actor.PID) {
	if pid == nil || pid.Id == "" || !h.isRemote(pid) {
		return
	}
	rs := &h.rs
	key := pidKey(pid)
	rs.wmu.Lock()
	// Subscribed again after it was reported gone (a node back at the same
	// address, say): watch it afresh.
	rs.delDead(pid)
	if rs.watched == nil {
		rs.watched = map[string]struct{}{}
	}
	_, already := rs.watched[key]
	rs.watched[key] = struct{}{}
	rs.wmu.Unlock()
	if !already {
		h.sendWatch(pid)
	}
}

// terminated records that a subscriber stopped or that its node was lost.
// Goroutine: whichever protoactor delivers Terminated on.
func (h *Hub) terminated(pid *actor.PID) {
	h.drop(pid)
	if !h.isRemote(pid) {
		return
	}
	rs := &h.rs
	rs.wmu.Lock()
	delete(rs.watched, pidKey(pid))
	if !rs.hasDead(pid) {
		rs.remoteDropped.Add(1)
		rs.addDead(pid)
		rs.deadQ = append(rs.deadQ, pid)
		if len(rs.deadQ) > maxDead {
			rs.delDead(rs.deadQ[0])
			rs.deadQ[0] = nil
			rs.deadQ = rs.deadQ[1:]
		}
	}
	rs.wmu.Unlock()
}

// isDead reports whether pid is a remote subscriber reported gone: one
// atomic load while none is.
func (h *Hub) isDead(pid *actor.PID) bool {
	rs := &h.rs
	if rs.deadN.Load() == 0 || pid == nil {
		return false
	}
	rs.dmu.RLock()
	_, ok := rs.dead[pid.Address][pid.Id]
	rs.dmu.RUnlock()
	return ok
}

// addDead and delDead change the dead set. Called with wmu held.
func (rs *resync) addDead(pid *actor.PID) {
	rs.dmu.Lock()
	if rs.dead == nil {
		rs.dead = map[string]map[string]struct{}{}
	}
	if rs.dead[pid.Address] == nil {
		rs.dead[pid.Address] = map[string]struct{}{}
	}
	rs.dead[pid.Address][pid.Id] = struct{}{}
	rs.deadN.Add(1)
	rs.dmu.Unlock()
}

func (rs *resync) delDead(pid *actor.PID) {
	rs.dmu.Lock()
	if ids := rs.dead[pid.Address]; ids != nil {
		if _, ok := ids[pid.Id]; ok {
			delete(ids, pid.Id)
			rs.deadN.Add(-1)
			if len(ids) == 0 {
				delete(rs.dead, pid.Address)
			}
		}
	}
	rs.dmu.Unlock()
}

func (rs *resync) hasDead(pid *actor.PID) bool {
	rs.dmu.RLock()
	defer rs.dmu.RUnlock()
	_, ok := rs.dead[pid.Address][pid.Id]
	return ok
}
