package loadgen

import (
	"errors"
	"testing"

	"go.uber.org/goleak"
)

// TestMain checks for leaked goroutines, except for the worker pool that
// gnet's ants dependency starts at package initialisation and never stops.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		goleak.IgnoreTopFunction("github.com/panjf2000/ants/v2.(*poolCommon).purgeStaleWorkers"),
		goleak.IgnoreTopFunction("github.com/panjf2000/ants/v2.(*poolCommon).ticktock"),
	)
}

func TestResolveLoopback(t *testing.T) {
	tests := []struct {
		target  string
		wantErr error
		ok      bool
	}{
		{"127.0.0.1:80", nil, true},
		{"127.9.8.7:80", nil, true},
		{"[::1]:80", nil, true},
		{"10.0.0.1:80", ErrNotLoopback, false},
		{"192.168.1.1:80", ErrNotLoopback, false},
		{"8.8.8.8:53", ErrNotLoopback, false},
		{"127.0.0.1", nil, false}, // no port
	}
	for _, tt := range tests {
		t.Run(tt.target, func(t *testing.T) {
			_, err := ResolveLoopback(tt.target)
			if (err == nil) != tt.ok {
				t.Fatalf("ResolveLoopback(%q) err = %v, want ok=%v", tt.target, err, tt.ok)
			}
			if tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
				t.Fatalf("ResolveLoopback(%q) err = %v, want %v", tt.target, err, tt.wantErr)
			}
		})
	}
}

func TestParseClose(t *testing.T) {
	tests := []struct {
		line string
		want closeRecord
		ok   bool
	}{
		{"close 42 127.0.0.1:5555 1700000000000000000", closeRecord{42, "127.0.0.1:5555", 1700000000000000000, 0}, true},
		{"close 1 [::1]:80 5 3", closeRecord{1, "[::1]:80", 5, 3}, true},
		{"close 1 [::1]:80 5 z", closeRecord{}, false},
		{"close x 127.0.0.1:1 5", closeRecord{}, false},
		{"close 1 127.0.0.1:1", closeRecord{}, false},
		{"close 1 127.0.0.1:1 y", closeRecord{}, false},
	}
	for _, tt := range tests {
		got, ok := parseClose(tt.line)
		if ok != tt.ok || got != tt.want {
			t.Errorf("parseClose(%q) = %+v, %v; want %+v, %v", tt.line, got, ok, tt.want, tt.ok)
		}
	}
}

func TestCloseMatcher(t *testing.T) {
	m := newCloseMatcher()
	m.closing("127.0.0.1:1000", churnPaced)
	m.closing("127.0.0.1:1000", churnUnpaced) // the same address reused later
	m.closing("127.0.0.1:2000", churnWarm)
	if m.outstanding() != 3 {
		t.Fatalf("outstanding = %d", m.outstanding())
	}
	// Records are matched to the oldest close of their address.
	m.record(closeRecord{remote: "127.0.0.1:1000", unixNano: m.pending["127.0.0.1:1000"][0].unixNano + 5000})
	m.record(closeRecord{remote: "127.0.0.1:1000", unixNano: m.pending["127.0.0.1:1000"][0].unixNano + 7000})
	m.record(closeRecord{remote: "127.0.0.1:9999", unixNano: 1})
	if m.outstanding() != 1 || m.unmatched != 1 {
		t.Fatalf("outstanding %d unmatched %d", m.outstanding(), m.unmatched)
	}
	if len(m.lat[churnPaced]) != 1 || m.lat[churnPaced][0] != 5 || len(m.lat[churnUnpaced]) != 1 || m.lat[churnUnpaced][0] != 7 {
		t.Fatalf("latencies %v", m.lat)
	}
	m.record(closeRecord{remote: "127.0.0.1:2000", unixNano: m.pending["127.0.0.1:2000"][0].unixNano})
	select {
	case <-m.allDone:
	default:
		t.Fatal("allDone not signalled when the last close matched")
	}
}

func TestMessage(t *testing.T) {
	a, b := message(1, 64), message(2, 64)
	if len(a) != 64 || string(a) == string(b) {
		t.Fatal("messages of different connections must differ")
	}
	putSeq(a, 7)
	if a[0] != 7 {
		t.Fatal("putSeq did not write the sequence number")
	}
	short := message(0, 4)
	putSeq(short, 1) // too short for a sequence number: left alone
	if string(short) != string(message(0, 4)) {
		t.Fatal("putSeq wrote into a message shorter than 8 bytes")
	}
}
