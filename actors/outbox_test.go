package actors

import (
	"testing"
	"time"
)

// TestOutboxRetryDelay: the retry delay doubles from OutboxRetryMin to
// OutboxRetryMax, and starts over once a Flush has emptied the Outbox.
func TestOutboxRetryDelay(t *testing.T) {
	var o Outbox
	want := []time.Duration{5, 10, 20, 40, 80, 160, 250, 250}
	for i, w := range want {
		if d := o.RetryDelay(); d != w*time.Millisecond {
			t.Fatalf("retry %d: %v, want %v", i+1, d, w*time.Millisecond)
		}
	}
	// An empty Outbox that suspended nothing touches no socket: nil is fine.
	if empty, err := o.Flush(nil); !empty || err != nil {
		t.Fatalf("Flush of an empty Outbox: %v, %v", empty, err)
	}
	if d := o.RetryDelay(); d != OutboxRetryMin {
		t.Fatalf("after a Flush: %v, want %v", d, OutboxRetryMin)
	}
}
