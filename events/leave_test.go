package events

import (
	"sync"
	"testing"

	"github.com/asynkron/protoactor-go/actor"
)

// msgLog is a process that keeps every user message, in order.
type msgLog struct {
	mu   sync.Mutex
	msgs []any
}

func (l *msgLog) SendUserMessage(_ *actor.PID, m any) {
	l.mu.Lock()
	l.msgs = append(l.msgs, m)
	l.mu.Unlock()
}
func (l *msgLog) SendSystemMessage(*actor.PID, any) {}
func (l *msgLog) Stop(*actor.PID)                   {}

func (l *msgLog) all() []any {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]any(nil), l.msgs...)
}

// TestLeaveTellsSnapshotSubscribersOnly: Leave sends Leaving (the last
// seq, the address) to each subscriber a snapshot subscribed, after the
// events published before it, takes them out of the runtime-wide list so
// that later events do not reach them, and leaves plain subscribers alone.
func TestLeaveTellsSnapshotSubscribersOnly(t *testing.T) {
	sys, h := newSystem(t)
	h.EnableSnapshots()
	snapLog, plainLog := &msgLog{}, &msgLog{}
	snapPID, _ := sys.ProcessRegistry.Add(snapLog, "snap-sub")
	plainPID, _ := sys.ProcessRegistry.Add(plainLog, "plain-sub")
	defer sys.ProcessRegistry.Remove(snapPID)
	defer sys.ProcessRegistry.Remove(plainPID)

	if _, ok := h.Snapshot(snapPID, MaskAll, nil); !ok {
		t.Fatal("snapshot refused")
	}
	h.Subscribe(plainPID, MaskAll)
	h.Publish(ev(FDAccept, 1), nil)
	if n := h.Leave("node-a"); n != 1 {
		t.Fatalf("Leave told %d subscribers, want 1", n)
	}
	if hasPID(h.Global(), snapPID) || !hasPID(h.Global(), plainPID) {
		t.Fatalf("runtime-wide list after Leave: %v", h.Global())
	}
	h.Publish(ev(FDClose, 1), nil)

	got := snapLog.all()
	if len(got) != 2 {
		t.Fatalf("snapshot subscriber got %d messages, want the FD_ACCEPT and Leaving: %v", len(got), got)
	}
	if e, ok := got[0].(*Event); !ok || e.EventKind() != FDAccept {
		t.Fatalf("first message %v, want the FD_ACCEPT", got[0])
	}
	if l, ok := got[1].(*Leaving); !ok || l.Seq != 1 || l.Address != "node-a" {
		t.Fatalf("second message %v, want Leaving{seq 1, node-a}", got[1])
	}
	for _, m := range plainLog.all() {
		if _, ok := m.(*Leaving); ok {
			t.Fatal("a plain subscriber was sent Leaving")
		}
	}
	if n := len(plainLog.all()); n != 2 {
		t.Fatalf("plain subscriber got %d events, want both", n)
	}
	if n := h.Leave("node-a"); n != 0 {
		t.Fatalf("a second Leave told %d", n)
	}
}

// TestUnsubscribedSnapshotSubscriberIsNotTold: a snapshot subscriber that
// unsubscribed is no longer one Leave tells.
func TestUnsubscribedSnapshotSubscriberIsNotTold(t *testing.T) {
	sys, h := newSystem(t)
	h.EnableSnapshots()
	log := &msgLog{}
	pid, _ := sys.ProcessRegistry.Add(log, "gone-sub")
	defer sys.ProcessRegistry.Remove(pid)
	if _, ok := h.Snapshot(pid, MaskAll, nil); !ok {
		t.Fatal("snapshot refused")
	}
	h.Unsubscribe(pid)
	if n := h.Leave("node-a"); n != 0 || len(log.all()) != 0 {
		t.Fatalf("Leave told %d, sent %v", n, log.all())
	}
}
