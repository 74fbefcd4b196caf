package events

import (
	"testing"

	"github.com/asynkron/protoactor-go/actor"
)

var allKinds = []struct {
	k    Kind
	bit  uint32
	name string
}{
	{FDRead, 0x01, "FD_READ"},
	{FDWrite, 0x02, "FD_WRITE"},
	{FDOOB, 0x04, "FD_OOB"},
	{FDAccept, 0x08, "FD_ACCEPT"},
	{FDConnect, 0x10, "FD_CONNECT"},
	{FDClose, 0x20, "FD_CLOSE"},
}

func TestKindBitsAndString(t *testing.T) {
	for _, tc := range allKinds {
		if uint32(tc.k) != tc.bit {
			t.Errorf("%s = %#x, want Winsock's %#x", tc.name, uint32(tc.k), tc.bit)
		}
		if got := tc.k.String(); got != tc.name {
			t.Errorf("Kind(%#x).String() = %q, want %q", tc.bit, got, tc.name)
		}
		if k, ok := ParseKind(tc.name); !ok || k != tc.k {
			t.Errorf("ParseKind(%q) = %v, %v", tc.name, k, ok)
		}
	}
	for _, k := range []Kind{0, 0x03, 0x40, 0x80000000, Kind(MaskAll)} {
		if got := k.String(); got != "FD_UNKNOWN" {
			t.Errorf("Kind(%#x).String() = %q, want FD_UNKNOWN", uint32(k), got)
		}
	}
}

func TestMask(t *testing.T) {
	if MaskAll != 0x3f {
		t.Errorf("MaskAll = %#x, want 0x3f", uint32(MaskAll))
	}
	if m := MaskOf(); m != 0 || m.Valid() || m.String() != "0" {
		t.Errorf("MaskOf() = %#x valid=%v %q", uint32(m), m.Valid(), m.String())
	}
	m := MaskOf(FDRead, FDClose, FDRead)
	if m != 0x21 {
		t.Errorf("MaskOf(FD_READ, FD_CLOSE) = %#x, want 0x21", uint32(m))
	}
	for _, tc := range allKinds {
		want := tc.k == FDRead || tc.k == FDClose
		if m.Has(tc.k) != want {
			t.Errorf("%v.Has(%v) = %v", m, tc.k, !want)
		}
		if !MaskAll.Has(tc.k) {
			t.Errorf("MaskAll lacks %v", tc.k)
		}
		if MaskOf(tc.k) != Mask(tc.bit) || MaskOf(tc.k).String() != tc.name {
			t.Errorf("MaskOf(%v) = %#x %q", tc.k, uint32(MaskOf(tc.k)), MaskOf(tc.k).String())
		}
	}
	if m.Has(0) {
		t.Error("Has(0) = true")
	}
	if got := m.String(); got != "FD_READ|FD_CLOSE" {
		t.Errorf("String() = %q", got)
	}
	if got := MaskAll.String(); got != "FD_READ|FD_WRITE|FD_OOB|FD_ACCEPT|FD_CONNECT|FD_CLOSE" {
		t.Errorf("MaskAll.String() = %q", got)
	}
	for _, tc := range []struct {
		m     Mask
		valid bool
	}{
		{0, false}, {1, true}, {0x21, true}, {MaskAll, true},
		{0x40, false}, {MaskAll | 0x40, false}, {0x80000001, false},
	} {
		if got := tc.m.Valid(); got != tc.valid {
			t.Errorf("Mask(%#x).Valid() = %v, want %v", uint32(tc.m), got, tc.valid)
		}
	}
}

func TestParseKind(t *testing.T) {
	tests := []struct {
		in   string
		want Kind
		ok   bool
	}{
		{"FD_CLOSE", FDClose, true},
		{"close", FDClose, true},
		{"fd_read", FDRead, true},
		{"Fd_Accept", FDAccept, true},
		{"CONNECT", FDConnect, true},
		{"oob", FDOOB, true},
		{"write", FDWrite, true},
		{"bogus", 0, false},
		{"FD_BOGUS", 0, false},
		{"", 0, false},
		{"FD_", 0, false},
		{"FD_FD_READ", 0, false},
		{" read", 0, false},
		{"FD_READ|FD_CLOSE", 0, false},
	}
	for _, tc := range tests {
		k, ok := ParseKind(tc.in)
		if k != tc.want || ok != tc.ok {
			t.Errorf("ParseKind(%q) = %v, %v; want %v, %v", tc.in, k, ok, tc.want, tc.ok)
		}
	}
}

func TestEventAccessors(t *testing.T) {
	ev := &Event{Kind: uint32(FDClose), SocketId: 9, PidAddress: "node-1:8090", PidId: "socket$9"}
	if ev.EventKind() != FDClose {
		t.Errorf("EventKind() = %v", ev.EventKind())
	}
	pid := ev.PID()
	want := actor.NewPID("node-1:8090", "socket$9")
	if pid == nil || !pid.Equal(want) {
		t.Fatalf("PID() = %v, want %v", pid, want)
	}
	// Round trip: a PID written into an event comes back equal.
	local := actor.NewPID("nonhost", "$42")
	back := (&Event{PidAddress: local.Address, PidId: local.Id}).PID()
	if !back.Equal(local) {
		t.Errorf("PID round trip = %v, want %v", back, local)
	}
	if (&Event{PidAddress: "node-1:8090"}).PID() != nil {
		t.Error("PID() of an event without pid_id is not nil")
	}
	var nilEv *Event
	if nilEv.PID() != nil || nilEv.EventKind() != 0 {
		t.Error("nil *Event: PID or EventKind not zero")
	}
}

func pids(n int) []*actor.PID {
	out := make([]*actor.PID, n)
	for i := range out {
		out[i] = actor.NewPID("nonhost", string(rune('a'+i)))
	}
	return out
}

func sameSubs(a, b Subs) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !a[i].PID.Equal(b[i].PID) || a[i].Mask != b[i].Mask {
			return false
		}
	}
	return true
}

func TestSubsWith(t *testing.T) {
	p := pids(4)
	var empty Subs
	s1 := empty.With(p[0], MaskOf(FDRead))
	if len(empty) != 0 || len(s1) != 1 {
		t.Fatalf("With on the zero Subs: %v, %v", empty, s1)
	}

	// Spare capacity in the input must not be written to either.
	orig := make(Subs, 2, 8)
	orig[0] = Subscription{PID: p[0], Mask: MaskOf(FDRead)}
	orig[1] = Subscription{PID: p[1], Mask: MaskOf(FDClose)}
	backup := append(Subs(nil), orig...)

	replaced := orig.With(p[0], MaskOf(FDWrite))
	added1 := orig.With(p[2], MaskAll)
	added2 := orig.With(p[3], MaskOf(FDAccept))

	if !sameSubs(orig, backup) || !sameSubs(orig[:cap(orig)][:2], backup) {
		t.Fatalf("With modified its input: %v, want %v", orig, backup)
	}
	if tail := orig[:3][2]; tail.PID != nil {
		t.Fatalf("With wrote into the input's spare capacity: %v", tail)
	}
	if want := (Subs{{p[1], MaskOf(FDClose)}, {p[0], MaskOf(FDWrite)}}); !sameSubs(replaced, want) {
		t.Errorf("replacing: %v, want %v", replaced, want)
	}
	if len(added1) != 3 || !added1[2].PID.Equal(p[2]) || len(added2) != 3 || !added2[2].PID.Equal(p[3]) {
		t.Errorf("two Withs on one list interfere: %v %v", added1, added2)
	}
	if !replaced.Has(p[0], FDWrite) || replaced.Has(p[0], FDRead) || !replaced.Has(p[1], FDClose) {
		t.Errorf("Has on %v is wrong", replaced)
	}
	// An equal PID (another pointer) replaces too.
	again := replaced.With(actor.NewPID(p[0].Address, p[0].Id), MaskOf(FDOOB))
	if len(again) != 2 || !again.Has(p[0], FDOOB) || again.Has(p[0], FDWrite) {
		t.Errorf("With an equal PID: %v", again)
	}
}

func TestSubsWithout(t *testing.T) {
	p := pids(3)
	orig := Subs{{p[0], MaskOf(FDRead)}, {p[1], MaskOf(FDClose)}, {p[2], MaskAll}}
	backup := append(Subs(nil), orig...)

	mid, ok := orig.Without(actor.NewPID(p[1].Address, p[1].Id))
	if !ok || !sameSubs(mid, Subs{orig[0], orig[2]}) {
		t.Errorf("Without(middle) = %v, %v", mid, ok)
	}
	first, ok := orig.Without(p[0])
	if !ok || !sameSubs(first, Subs{orig[1], orig[2]}) {
		t.Errorf("Without(first) = %v, %v", first, ok)
	}
	last, ok := orig.Without(p[2])
	if !ok || !sameSubs(last, Subs{orig[0], orig[1]}) {
		t.Errorf("Without(last) = %v, %v", last, ok)
	}
	if !sameSubs(orig, backup) {
		t.Fatalf("Without modified its input: %v, want %v", orig, backup)
	}
	same, ok := orig.Without(actor.NewPID("elsewhere:1", p[0].Id))
	if ok || !sameSubs(same, orig) {
		t.Errorf("Without(absent) = %v, %v", same, ok)
	}
	if only, ok := (Subs{{p[0], MaskAll}}).Without(p[0]); !ok || len(only) != 0 {
		t.Errorf("Without(only) = %v, %v", only, ok)
	}
	var empty Subs
	if out, ok := empty.Without(p[0]); ok || len(out) != 0 {
		t.Errorf("Without on the zero Subs = %v, %v", out, ok)
	}
}
