package events

import (
	"sync"
	"sync/atomic"
	"testing"

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
