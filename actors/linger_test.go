package actors

import (
	"context"
	"testing"
	"time"
)

func TestLingerSlack(t *testing.T) {
	for _, tc := range []struct {
		linger, want time.Duration
	}{
		{DefaultLinger, 10 * time.Millisecond},
		{160 * time.Millisecond, 10 * time.Millisecond},
		{100 * time.Millisecond, 6250 * time.Microsecond},
		{16 * time.Millisecond, time.Millisecond},
		{time.Microsecond, 62 * time.Nanosecond},
	} {
		if got := lingerSlack(tc.linger); got != tc.want {
			t.Errorf("lingerSlack(%v) = %v, want %v", tc.linger, got, tc.want)
		}
	}
}

// TestLingersEndingTogetherShareATimer: sockets whose lingers end within
// the slack of one another are released by one timer wake-up, so a churn
// of closes costs wake-ups per slack, not per socket; every socket still
// leaves the queue.
func TestLingersEndingTogetherShareATimer(t *testing.T) {
	const (
		linger = 160 * time.Millisecond // slack 10 ms
		n      = 200
		spread = 20 * time.Millisecond // the closes' spread: two slacks
	)
	h := newHost(nil, nil, HostOptions{Linger: linger})
	t.Cleanup(func() { h.door.Close(); _ = h.door.Wait(context.Background()) })
	start := time.Now()
	for i := range n {
		// Released already (a Close during the linger): its turn in the
		// queue releases nothing more.
		s := &socket{host: h, released: true}
		if !h.lingerAdd(s) {
			t.Fatal("lingerAdd refused on an open door")
		}
		time.Sleep(time.Until(start.Add(spread * time.Duration(i+1) / n)))
	}
	span := time.Since(start) // at least spread; more on a loaded machine
	deadline := time.Now().Add(10 * time.Second)
	for len(h.lingering()) > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%d sockets still lingering 10 s on", len(h.lingering()))
		}
		time.Sleep(5 * time.Millisecond)
	}
	h.lingerQ.mu.Lock()
	fires := h.lingerQ.fires
	h.lingerQ.mu.Unlock()
	// Each wake-up releases every linger ended by then, and fires a slack
	// past the end of the first one left: the heads of two wake-ups are
	// more than a slack apart. Late timers (a loaded machine) only make
	// fewer wake-ups.
	limit := int(span/lingerSlack(linger)) + 1
	if fires > limit || fires < 1 {
		t.Fatalf("%d sockets over %v released by %d timer wake-ups, want 1..%d (one per %v slack)", n, span, fires, limit, lingerSlack(linger))
	}
	t.Logf("%d sockets, lingers ending over %v: %d timer wake-ups", n, span, fires)
}
