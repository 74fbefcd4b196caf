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
// opening and closing sockets at once rarely meet.
const tableShards = 64

// maxDead bounds how many terminated remote subscribers the hub remembers
// for the per-socket lists that may still name them; past it the oldest is
// forgotten (a socket that still lists it then sends to it again, and the
// hub watches it again).
const maxDead = 1 << 16

// resync is the Hub's seq, socket table and remote-subscriber watch.
type resync struct {
	// gate orders publications against snapshots: a publication holds the
	// read side from taking its seq to loading the runtime-wide list; a
	// snapshot holds the write side while it reads the seq and the table,
	// subscribes its requester and sends the reply.
	gate   sync.RWMutex
	seq    atomic.Uint64
	track  atomic.Bool
	shards [tableShards]tableShard

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
	m  map[uint64]entry
}

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
// runtime-wide subscribers it goes to, all under the gate's read side.
// Goroutine: the publishing socket's.
func (h *Hub) stamp(ev *Event) Subs {
	rs := &h.rs
	rs.gate.RLock()
	ev.Seq = rs.seq.Add(1)
	if rs.track.Load() {
		rs.apply(ev)
	}
	global := *h.global.Load()
	rs.gate.RUnlock()
	return global
}

// apply records ev in the socket table: an FD_ACCEPT or successful
// FD_CONNECT adds its socket, an FD_CLOSE removes it.
func (rs *resync) apply(ev *Event) {
	k := ev.EventKind()
	open := k == FDAccept || (k == FDConnect && ev.Code == 0)
	if !open && k != FDClose {
		return
	}
	sh := &rs.shards[ev.SocketId%tableShards]
	sh.mu.Lock()
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
// connection). first must not block: event publication waits for it.
//
// It returns false, and does nothing, if the hub keeps no table (see
// EnableSnapshots), or if mask is not 0 and invalid or sub is nil.
// Safe for concurrent use.
func (h *Hub) Snapshot(sub *actor.PID, mask Mask, first func(*Snapshot)) (*Snapshot, bool) {
	rs := &h.rs
	if !rs.track.Load() || (mask != 0 && (sub == nil || sub.Id == "" || !mask.Valid())) {
		return nil, false
	}
	snap := &Snapshot{Address: h.system.Address()}
	rs.gate.Lock()
	snap.Seq = rs.seq.Load()
	for i := range rs.shards {
		sh := &rs.shards[i]
		sh.mu.Lock()
		for id, e := range sh.m {
			snap.Sockets = append(snap.Sockets, &SocketEntry{SocketId: id, PidAddress: e.pidAddr, PidId: e.pidID,
				State: "open", LocalAddr: e.local, RemoteAddr: e.rem, ListenerId: e.listener, Seq: e.seq})
		}
		sh.mu.Unlock()
	}
	slices.SortFunc(snap.Sockets, func(a, b *SocketEntry) int { return cmp.Compare(a.SocketId, b.SocketId) })
	if mask != 0 {
		h.addGlobal(sub, mask)
	}
	if first != nil {
		first(snap)
	}
	rs.gate.Unlock()
	if mask != 0 {
		h.watch(sub)
	}
	return snap, true
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
