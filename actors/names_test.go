package actors

import (
	"testing"

	"github.com/sockactor/sockactor/events"
)

func TestReasonOf(t *testing.T) {
	for r := ReasonPeerClose; r <= ReasonShutdown; r++ {
		ev := &events.Event{Kind: uint32(events.FDClose), Reason: r.String()}
		if got := ReasonOf(ev); got != r {
			t.Errorf("ReasonOf(%q) = %v, want %v", r.String(), got, r)
		}
	}
	if got := ReasonOf(&events.Event{Kind: uint32(events.FDAccept), Reason: "accept"}); got != ReasonNone {
		t.Errorf("ReasonOf(FD_ACCEPT) = %v, want none", got)
	}
	if got := ReasonOf(&events.Event{Kind: uint32(events.FDClose), Reason: "bogus"}); got != ReasonNone {
		t.Errorf("ReasonOf(unknown word) = %v, want none", got)
	}
	ev := &events.Event{Kind: uint32(events.FDClose), Reason: "peer-close"}
	if n := testing.AllocsPerRun(100, func() { _ = ReasonOf(ev) }); n != 0 {
		t.Errorf("ReasonOf allocates %v times", n)
	}
	if p, err := ParseBanPolicy("discard"); err != nil || p != BanDiscard {
		t.Errorf("ParseBanPolicy(discard) = %v, %v", p, err)
	}
	if n, a, err := ParseAddr("udp://127.0.0.1:9"); err != nil || n != "udp" || a != "127.0.0.1:9" {
		t.Errorf("ParseAddr = %q %q %v", n, a, err)
	}
}
