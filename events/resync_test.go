package events

import (
	"cmp"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
)

// collector is a process that keeps what it is sent: events and, first, a
// snapshot handed to it by Snapshot's callback, as one mailbox would.
type collector struct {
	mu   sync.Mutex
	snap *Snapshot
	evs  []*Event
	bad  atomic.Int32 // events that arrived before the snapshot
}

func (c *collector) SendUserMessage(_ *actor.PID, m any) {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch m := m.(type) {
	case *Snapshot:
		c.snap = m
	case *Event:
		if c.snap == nil {
			c.bad.Add(1)
		}
		c.evs = append(c.evs, m)
	}
}
func (c *collector) SendSystemMessage(*actor.PID, any) {}
func (c *collector) Stop(*actor.PID)                   {}

func TestSeqGrowsByOnePerPublishedEvent(t *testing.T) {
	sys, h := newSystem(t)
	sub := spawnSub(t, sys)
	h.Subscribe(sub.pid, MaskAll)
	for i := uint64(1); i <= 5; i++ {
		ev := &Event{Kind: uint32(FDWrite), SocketId: i}
		h.Publish(ev, nil)
		if ev.Seq != i {
			t.Fatalf("event %d has seq %d", i, ev.Seq)
		}
	}
	if got := h.Stats().Seq; got != 5 {
		t.Fatalf("Stats().Seq = %d, want 5", got)
	}
	// A re-post to one subscriber takes no seq of its own.
	re := &Event{Kind: uint32(FDRead), SocketId: 1}
	h.SendTo(sub.pid, re)
	if re.Seq != 5 || h.Seq() != 5 {
		t.Fatalf("re-post seq %d, hub seq %d; want 5, 5", re.Seq, h.Seq())
	}
}

func TestSnapshotOffWithoutTable(t *testing.T) {
	_, h := newSystem(t)
	if _, ok := h.Snapshot(nil, 0, nil); ok {
		t.Fatal("Snapshot succeeded without EnableSnapshots")
	}
	h.EnableSnapshots()
	if _, ok := h.Snapshot(nil, MaskAll, nil); ok {
		t.Fatal("Snapshot with a mask and no subscriber succeeded")
	}
	if s, ok := h.Snapshot(nil, 0, nil); !ok || s.Seq != 0 || len(s.Sockets) != 0 {
		t.Fatalf("empty snapshot = %v, %v", s, ok)
	}
}

// TestSnapshotUnderConcurrentPublishers: publishers open and close sockets
// while snapshots are taken; each snapshot plus the events its subscriber
// then receives equals the true set, and those events are exactly seq
// S+1..T, each once.
func TestSnapshotUnderConcurrentPublishers(t *testing.T) {
	sys, h := newSystem(t)
	h.EnableSnapshots()
	const publishers, perPublisher, rounds = 4, 1500, 100

	var wg sync.WaitGroup
	var nextID atomic.Uint64
	stop := make(chan struct{})
	for p := 0; p < publishers; p++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var open []uint64
			for i := 0; i < perPublisher; i++ {
				if len(open) > 0 && (i%3 == 0 || len(open) > 20) {
					id := open[0]
					open = open[1:]
					h.Publish(&Event{Kind: uint32(FDClose), SocketId: id}, nil)
					continue
				}
				id := nextID.Add(1)
				open = append(open, id)
				h.Publish(&Event{Kind: uint32(FDAccept), SocketId: id, PidId: "sock/x"}, nil)
				h.Publish(&Event{Kind: uint32(FDWrite), SocketId: id}, nil)
			}
			<-stop
			for _, id := range open {
				h.Publish(&Event{Kind: uint32(FDClose), SocketId: id}, nil)
			}
		}()
	}

	cols := make([]*collector, 0, rounds)
	for r := 0; r < rounds; r++ {
		c := &collector{}
		pid, _ := sys.ProcessRegistry.Add(c, "collector-"+sys.ProcessRegistry.NextId())
		if _, ok := h.Snapshot(pid, MaskAll, func(s *Snapshot) { c.SendUserMessage(pid, s) }); !ok {
			t.Fatal("Snapshot failed")
		}
		cols = append(cols, c)
	}
	close(stop)
	wg.Wait()
	final := h.Seq()

	for r, c := range cols {
		c.mu.Lock()
		if c.bad.Load() != 0 {
			t.Fatalf("round %d: %d events before the snapshot", r, c.bad.Load())
		}
		set := map[uint64]bool{}
		for _, e := range c.snap.Sockets {
			set[e.SocketId] = true
		}
		seen := map[uint64]bool{}
		for _, ev := range c.evs {
			if ev.Seq <= c.snap.Seq || ev.Seq > final || seen[ev.Seq] {
				t.Fatalf("round %d: seq %d after a snapshot at %d (final %d, duplicate %v)", r, ev.Seq, c.snap.Seq, final, seen[ev.Seq])
			}
			seen[ev.Seq] = true
			switch ev.EventKind() {
			case FDAccept:
				set[ev.SocketId] = true
			case FDClose:
				if !set[ev.SocketId] {
					t.Fatalf("round %d: FD_CLOSE of socket %d it never saw open", r, ev.SocketId)
				}
				delete(set, ev.SocketId)
			}
		}
		if got, want := uint64(len(seen)), final-c.snap.Seq; got != want {
			t.Fatalf("round %d: %d events after seq %d, want %d (a gap)", r, got, c.snap.Seq, want)
		}
		if len(set) != 0 {
			t.Fatalf("round %d: %d sockets still open at the end", r, len(set))
		}
		c.mu.Unlock()
	}
}

// countingRemote stands for another node's actors: it counts what it is sent.
type countingRemote struct{ got atomic.Int64 }

func (f *countingRemote) SendUserMessage(*actor.PID, any)   { f.got.Add(1) }
func (f *countingRemote) SendSystemMessage(*actor.PID, any) {}
func (f *countingRemote) Stop(*actor.PID)                   {}

// TestRemoteSubscriberDroppedWhenTerminated: a remote per-socket
// subscriber reported Terminated is no longer sent to, and is counted once.
func TestRemoteSubscriberDroppedWhenTerminated(t *testing.T) {
	sys, h := newSystem(t)
	far := &countingRemote{}
	sys.ProcessRegistry.RegisterAddressResolver(func(*actor.PID) (actor.Process, bool) { return far, true })
	remote := actor.NewPID("10.0.0.9:4000", "watcher")
	local := spawnSub(t, sys)
	subs := Subs{}.With(remote, MaskAll).With(local.pid, MaskAll)
	h.Watch(remote)

	subs = h.Publish(&Event{Kind: uint32(FDAccept), SocketId: 1}, subs)
	if far.got.Load() != 1 || len(subs) != 2 {
		t.Fatalf("remote got %d, %d subscribers left", far.got.Load(), len(subs))
	}
	// Its node is lost: protoactor tells the hub's watcher.
	for i := 0; i < 2; i++ {
		proc, _ := sys.ProcessRegistry.Get(h.self)
		proc.SendSystemMessage(h.self, &actor.Terminated{Who: remote, Why: actor.TerminatedReason_AddressTerminated})
	}
	subs = h.Publish(&Event{Kind: uint32(FDClose), SocketId: 1}, subs)
	if far.got.Load() != 1 || len(subs) != 1 {
		t.Fatalf("after Terminated: remote got %d, %d subscribers left", far.got.Load(), len(subs))
	}
	if st := h.Stats(); st.RemoteDropped != 1 {
		t.Fatalf("RemoteDropped = %d, want 1", st.RemoteDropped)
	}
	if ev := <-local.ch; ev.EventKind() != FDAccept {
		t.Fatalf("local got %v first", ev)
	}
	if ev := <-local.ch; ev.EventKind() != FDClose {
		t.Fatalf("local got %v second", ev)
	}
	// Subscribing again (a node back at that address) undoes the drop.
	h.Watch(remote)
	h.Publish(&Event{Kind: uint32(FDWrite), SocketId: 2}, Subs{}.With(remote, MaskAll))
	if far.got.Load() != 2 {
		t.Fatalf("re-watched remote got %d, want 2", far.got.Load())
	}
}

// truthLog is a runtime-wide subscriber that records every event: the
// truth a snapshot is checked against.
type truthLog struct {
	mu  sync.Mutex
	evs []*Event
}

func (l *truthLog) SendUserMessage(_ *actor.PID, m any) {
	if ev, ok := m.(*Event); ok {
		l.mu.Lock()
		l.evs = append(l.evs, ev)
		l.mu.Unlock()
	}
}
func (l *truthLog) SendSystemMessage(*actor.PID, any) {}
func (l *truthLog) Stop(*actor.PID)                   {}

// TestSnapshotExactUnderLoad: with tens of thousands of open sockets in the
// table, publishers open, close, reopen and re-announce sockets at full
// speed while snapshots are taken back to back. Each snapshot must be the
// table exactly as the events up to its seq left it (checked entry by entry
// against a replay of every event), and its subscriber must then get
// exactly the events with a higher seq, each once, after the snapshot, and
// each socket's in order.
func TestSnapshotExactUnderLoad(t *testing.T) {
	sys, h := newSystem(t)
	h.EnableSnapshots()
	truth := &truthLog{}
	tpid, _ := sys.ProcessRegistry.Add(truth, "truth")
	h.Subscribe(tpid, MaskAll)

	const (
		prefill    = 30_000
		publishers = 4
		maxOps     = 200_000 // per publisher: the bound if snapshots are slow
		rounds     = 12
		bound      = 2 * time.Minute
	)
	var nextID atomic.Uint64
	owned := make([][]uint64, publishers)
	for i := 0; i < prefill; i++ {
		id := nextID.Add(1)
		h.Publish(&Event{Kind: uint32(FDAccept), SocketId: id, ListenerId: 7, PidId: "sock/p", LocalAddr: "l", RemoteAddr: "r0"}, nil)
		owned[i%publishers] = append(owned[i%publishers], id)
	}

	deadline := time.Now().Add(bound)
	var snapsDone atomic.Bool
	var wg sync.WaitGroup
	for p := 0; p < publishers; p++ {
		wg.Add(1)
		go func(mine []uint64, seed uint64) {
			defer wg.Done()
			var closed []uint64 // ids of mine closed, to reopen some
			x := seed
			for i := 0; i < maxOps && !snapsDone.Load() && time.Now().Before(deadline); i++ {
				x ^= x << 13
				x ^= x >> 7
				x ^= x << 17
				j := int(x % uint64(len(mine)))
				switch x % 16 {
				case 0, 1: // close one and open a new one
					h.Publish(&Event{Kind: uint32(FDClose), SocketId: mine[j]}, nil)
					closed = append(closed, mine[j])
					mine[j] = nextID.Add(1)
					h.Publish(&Event{Kind: uint32(FDConnect), SocketId: mine[j], PidId: "sock/c", LocalAddr: "l", RemoteAddr: "c"}, nil)
				case 2: // close one and reopen an id closed before
					if len(closed) == 0 {
						continue
					}
					h.Publish(&Event{Kind: uint32(FDClose), SocketId: mine[j]}, nil)
					old := closed[0]
					closed = append(closed[1:], mine[j])
					mine[j] = old
					h.Publish(&Event{Kind: uint32(FDAccept), SocketId: old, ListenerId: 9, PidId: "sock/r", LocalAddr: "l", RemoteAddr: "re"}, nil)
				case 3: // the same socket announced again: its entry is replaced
					h.Publish(&Event{Kind: uint32(FDAccept), SocketId: mine[j], ListenerId: 8, PidId: "sock/a", LocalAddr: "l", RemoteAddr: "again"}, nil)
				case 4: // a failed connect opens nothing
					h.Publish(&Event{Kind: uint32(FDConnect), Code: 10061, SocketId: nextID.Add(1)}, nil)
				default:
					h.Publish(&Event{Kind: uint32(FDWrite), SocketId: mine[j]}, nil)
				}
			}
		}(owned[p], uint64(p)*0x9e3779b97f4a7c15+1)
	}

	cols := make([]*collector, 0, rounds)
	for r := 0; r < rounds && time.Now().Before(deadline); r++ {
		c := &collector{}
		pid, _ := sys.ProcessRegistry.Add(c, "collector-"+sys.ProcessRegistry.NextId())
		if _, ok := h.Snapshot(pid, MaskAll, func(s *Snapshot) { c.SendUserMessage(pid, s) }); !ok {
			t.Fatal("Snapshot failed")
		}
		cols = append(cols, c)
	}
	snapsDone.Store(true)
	wg.Wait()
	if len(cols) < rounds {
		t.Fatalf("only %d snapshots in %v", len(cols), bound)
	}
	final := h.Seq()

	// Replay the truth in seq order, checking each snapshot at its seq.
	truth.mu.Lock()
	evs := truth.evs
	truth.mu.Unlock()
	if uint64(len(evs)) != final {
		t.Fatalf("truth log has %d events, want %d", len(evs), final)
	}
	slices.SortFunc(evs, func(a, b *Event) int { return cmp.Compare(a.Seq, b.Seq) })
	slices.SortStableFunc(cols, func(a, b *collector) int { return cmp.Compare(a.snap.Seq, b.snap.Seq) })
	table := map[uint64]*Event{}
	next := 0
	during := 0
	for r, c := range cols {
		c.mu.Lock()
		s := c.snap
		for ; next < len(evs) && evs[next].Seq <= s.Seq; next++ {
			e := evs[next]
			switch k := e.EventKind(); {
			case k == FDAccept || (k == FDConnect && e.Code == 0):
				table[e.SocketId] = e
			case k == FDClose:
				delete(table, e.SocketId)
			}
		}
		if s.Seq > uint64(prefill) && s.Seq < final {
			during++
		}
		if len(s.Sockets) != len(table) {
			t.Fatalf("snapshot %d at seq %d lists %d sockets, the truth %d", r, s.Seq, len(s.Sockets), len(table))
		}
		for i, se := range s.Sockets {
			if i > 0 && s.Sockets[i-1].SocketId >= se.SocketId {
				t.Fatalf("snapshot %d not ordered by id at %d", r, i)
			}
			e := table[se.SocketId]
			if e == nil || se.Seq != e.Seq || se.ListenerId != e.ListenerId || se.PidId != e.PidId ||
				se.RemoteAddr != e.RemoteAddr || se.LocalAddr != e.LocalAddr || se.State != "open" {
				t.Fatalf("snapshot %d at seq %d: entry %v, the truth %v", r, s.Seq, se, e)
			}
		}
		// Its subscriber: after the snapshot, exactly S+1..final, each
		// socket's in order.
		if c.bad.Load() != 0 {
			t.Fatalf("snapshot %d: %d events before the snapshot", r, c.bad.Load())
		}
		if got, want := uint64(len(c.evs)), final-s.Seq; got != want {
			t.Fatalf("snapshot %d at seq %d: %d events after it, want %d", r, s.Seq, got, want)
		}
		seen := make(map[uint64]bool, len(c.evs))
		last := map[uint64]uint64{}
		for _, e := range c.evs {
			if e.Seq <= s.Seq || e.Seq > final || seen[e.Seq] {
				t.Fatalf("snapshot %d at seq %d: event seq %d (final %d, again %v)", r, s.Seq, e.Seq, final, seen[e.Seq])
			}
			seen[e.Seq] = true
			if e.Seq < last[e.SocketId] {
				t.Fatalf("snapshot %d: socket %d's events out of order (%d after %d)", r, e.SocketId, e.Seq, last[e.SocketId])
			}
			last[e.SocketId] = e.Seq
		}
		c.mu.Unlock()
	}
	if during == 0 {
		t.Fatal("no snapshot was taken while the publishers ran")
	}
	t.Logf("%d snapshots (%d while publishing), %d events, %d open at the last one", len(cols), during, final, len(table))
}
