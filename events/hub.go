package events

import (
	"sync"
	"sync/atomic"

	"github.com/asynkron/protoactor-go/actor"
)

// Subscription is one subscriber and the kinds it wants.
// A Subscription value is immutable once published.
type Subscription struct {
	PID  *actor.PID
	Mask Mask
}

// Subs is a small list of subscriptions, as held per socket. The zero value
// is empty. It is not safe for concurrent use: its owner (the socket's event
// loop) serializes access.
type Subs []Subscription

// With returns the list with pid subscribed to mask (replacing an earlier
// mask for the same pid). It never modifies s in place, so a list shared
// between sockets stays intact.
func (s Subs) With(pid *actor.PID, mask Mask) Subs {
	if pid == nil {
		return s
	}
	out := make(Subs, 0, len(s)+1)
	for _, sub := range s {
		if !sub.PID.Equal(pid) {
			out = append(out, sub)
		}
	}
	return append(out, Subscription{PID: pid, Mask: mask})
}

// Without returns the list without pid, and whether it was there. It never
// modifies s in place.
func (s Subs) Without(pid *actor.PID) (Subs, bool) {
	for i, sub := range s {
		if sub.PID.Equal(pid) {
			out := make(Subs, 0, len(s)-1)
			out = append(out, s[:i]...)
			return append(out, s[i+1:]...), true
		}
	}
	return s, false
}

// Has reports whether pid is subscribed to k in s.
func (s Subs) Has(pid *actor.PID, k Kind) bool {
	for _, sub := range s {
		if sub.Mask.Has(k) && sub.PID.Equal(pid) {
			return true
		}
	}
	return false
}

// HubStats counts event deliveries.
type HubStats struct {
	Delivered uint64 `json:"delivered"` // events handed to a subscriber's mailbox
	Dropped   uint64 `json:"dropped"`   // subscribers dropped because they were dead
	// RemoteDropped counts remote subscribers dropped because they stopped
	// or their node was lost, once per subscriber (docs/SEMANTICS.md §7).
	RemoteDropped uint64 `json:"remote_dropped"`
	// Seq is the seq of the last event published.
	Seq uint64 `json:"seq"`
}

// Hub delivers events to subscribers: the runtime-wide ones it holds and a
// per-socket list the caller passes in. Delivery never blocks (a protoactor
// Send only enqueues), keeps per-socket order (each socket publishes from
// one goroutine) and gives each subscriber an event at most once even when
// it is subscribed both runtime-wide and per socket.
//
// A subscriber found dead at delivery (its PID no longer registered) is
// dropped from the runtime-wide list or from the returned per-socket list;
// the remaining subscribers still get the event. Runtime-wide subscribers
// are also watched, so they are dropped as soon as they stop.
//
// Goroutine-safety: all methods are safe for concurrent use. The runtime-wide
// list is copy-on-write: Publish reads it with one atomic load.
type Hub struct {
	system *actor.ActorSystem
	self   *actor.PID // the hub's watcher process

	mu     sync.Mutex // serializes writers of global
	global atomic.Pointer[Subs]
	// snapSubs are the runtime-wide subscribers a snapshot subscribed (by
	// pidKey), the ones Leave tells; guarded by mu.
	snapSubs map[string]struct{}

	delivered atomic.Uint64
	dropped   atomic.Uint64

	// held is the snapshot requester whose events are held until its
	// reply is sent (resync.go), nil when none.
	held atomic.Pointer[hold]

	rs resync // seq, socket table, remote watch (resync.go)
}

// NewHub returns a Hub that sends through system. id names the hub's
// watcher process in the system's registry.
func NewHub(system *actor.ActorSystem, id string) *Hub {
	h := &Hub{system: system}
	h.global.Store(&Subs{})
	h.self, _ = system.ProcessRegistry.Add(&hubWatcher{h: h}, id)
	return h
}

// Close removes the hub's watcher process from the registry. Idempotent.
func (h *Hub) Close() { h.system.ProcessRegistry.Remove(h.self) }

// Subscribe adds pid runtime-wide for the kinds in mask, replacing an
// earlier mask. It returns false if pid is nil or mask invalid.
func (h *Hub) Subscribe(pid *actor.PID, mask Mask) bool {
	if pid == nil || pid.Id == "" || !mask.Valid() {
		return false
	}
	h.addGlobal(pid, mask, false)
	h.watch(pid)
	return true
}

// addGlobal puts pid in the runtime-wide list with mask (replacing an
// earlier mask); a snapshot's requester (snapshot true) is also one that
// Leave tells. Copy-on-write under mu: Publish reads the list with one
// load.
func (h *Hub) addGlobal(pid *actor.PID, mask Mask, snapshot bool) {
	h.mu.Lock()
	next := h.global.Load().With(pid, mask)
	h.global.Store(&next)
	if snapshot {
		if h.snapSubs == nil {
			h.snapSubs = map[string]struct{}{}
		}
		h.snapSubs[pidKey(pid)] = struct{}{}
	}
	h.mu.Unlock()
}

// Unsubscribe removes pid runtime-wide; it reports whether it was there.
func (h *Hub) Unsubscribe(pid *actor.PID) bool {
	if pid == nil {
		return false
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	next, ok := h.global.Load().Without(pid)
	if ok {
		h.global.Store(&next)
		delete(h.snapSubs, pidKey(pid))
	}
	return ok
}

// Leave is a runtime's goodbye to its snapshot subscribers (the PIDs that
// Snapshot subscribed): each is taken out of the runtime-wide list and
// sent a Leaving naming address and the last seq published. An event
// published at the same instant may still reach one after its Leaving
// (publications load the list before they send); one published after
// Leave returned reaches none of them. It returns how many it told.
// Goroutine: any (Runtime.Shutdown's, before it closes any socket).
func (h *Hub) Leave(address string) int {
	h.mu.Lock()
	var told []*actor.PID
	next := Subs{}
	for _, sub := range *h.global.Load() {
		if _, ok := h.snapSubs[pidKey(sub.PID)]; ok {
			told = append(told, sub.PID)
			continue
		}
		next = append(next, sub)
	}
	h.global.Store(&next)
	h.snapSubs = nil
	h.mu.Unlock()
	seq := h.Seq()
	for _, pid := range told {
		if proc, ok := h.system.ProcessRegistry.Get(pid); ok {
			proc.SendUserMessage(pid, &Leaving{Seq: seq, Address: address})
		}
	}
	return len(told)
}

// Global returns the runtime-wide subscriptions (a snapshot; do not modify).
func (h *Hub) Global() Subs { return *h.global.Load() }

// Stats returns the delivery counters.
func (h *Hub) Stats() HubStats {
	return HubStats{Delivered: h.delivered.Load(), Dropped: h.dropped.Load(),
		RemoteDropped: h.rs.remoteDropped.Load(), Seq: h.rs.seq.Load()}
}

// Publish stamps ev with the next seq, then delivers it to every
// runtime-wide subscriber and every subscriber in local whose mask selects
// ev's kind, once each. It returns local without the subscribers found dead
// (local itself if none were).
//
// Goroutine: any, but one socket must publish from one goroutine (its loop)
// for its events to keep their order.
func (h *Hub) Publish(ev *Event, local Subs) Subs {
	k := ev.EventKind()
	global, held := h.stamp(ev)
	var dead []*actor.PID
	for _, sub := range global {
		if !sub.Mask.Has(k) || (held != nil && held.pid.Equal(sub.PID) && held.keep(ev)) {
			continue
		}
		if !h.send(sub.PID, ev) {
			h.drop(sub.PID)
			dead = append(dead, sub.PID)
		}
	}
	out := local
	for _, sub := range local {
		if !sub.Mask.Has(k) {
			continue
		}
		if global.Has(sub.PID, k) {
			// Served (or found dead) through the runtime-wide list.
			if isDead(dead, sub.PID) {
				out, _ = out.Without(sub.PID)
			}
			continue
		}
		if h.isDead(sub.PID) || !h.send(sub.PID, ev) {
			out, _ = out.Without(sub.PID)
			h.dropped.Add(1)
		}
	}
	return out
}

func isDead(dead []*actor.PID, pid *actor.PID) bool {
	for _, d := range dead {
		if d.Equal(pid) {
			return true
		}
	}
	return false
}

// drop removes a dead runtime-wide subscriber, counting it once.
func (h *Hub) drop(pid *actor.PID) {
	if h.Unsubscribe(pid) {
		h.dropped.Add(1)
	}
}

// SendTo delivers ev to one subscriber; false (and a drop counted) if it is
// dead. It is for re-posts to one subscriber, which take no new seq: an
// event never published (Seq 0) gets the seq of the last one published.
// Goroutine: any.
func (h *Hub) SendTo(pid *actor.PID, ev *Event) bool {
	if ev.Seq == 0 {
		ev.Seq = h.Seq()
	}
	if h.isDead(pid) || !h.send(pid, ev) {
		h.dropped.Add(1)
		return false
	}
	return true
}

// send hands ev to pid's mailbox; false if pid is not registered (dead).
func (h *Hub) send(pid *actor.PID, ev *Event) bool {
	proc, ok := h.system.ProcessRegistry.Get(pid)
	if !ok {
		return false
	}
	proc.SendUserMessage(pid, ev)
	h.delivered.Add(1)
	return true
}

func (h *Hub) watch(pid *actor.PID) {
	if h.isRemote(pid) {
		h.Watch(pid) // once per PID, and remembered when it is gone
		return
	}
	h.sendWatch(pid)
}

func (h *Hub) sendWatch(pid *actor.PID) {
	if proc, ok := h.system.ProcessRegistry.Get(pid); ok {
		proc.SendSystemMessage(pid, &actor.Watch{Watcher: h.self})
	}
}

// hubWatcher is the hub's process in the registry: it only hears
// Terminated for watched subscribers. Goroutine: whichever goroutine
// protoactor delivers from.
type hubWatcher struct{ h *Hub }

func (w *hubWatcher) SendUserMessage(*actor.PID, interface{}) {}
func (w *hubWatcher) Stop(*actor.PID)                         {}
func (w *hubWatcher) SendSystemMessage(_ *actor.PID, msg interface{}) {
	if t, ok := msg.(*actor.Terminated); ok && t.Who != nil {
		w.h.terminated(t.Who)
	}
}
