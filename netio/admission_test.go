package netio

import (
	"context"
	"net"
	"net/netip"
	"testing"

	"github.com/sockactor/sockactor/internal/socktest"
)

// Admission over the limits (docs/SEMANTICS.md §5 "What a limit costs"): a
// datagram from a new address over a UDP listener's MaxPeers is dropped and
// counted with no Conn and no Handler call; a connection over MaxConns
// reaches OnOpen already closing with ReasonLimit.

func TestUDPOverMaxPeersIsDroppedWithoutConn(t *testing.T) {
	h := newTestHandler(t)
	e := NewEngine(h, Options{EventLoops: 2})
	l, err := e.Listen("udp://127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l.SetPeerLimits(1, -1)
	if err := e.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
		defer cancel()
		if err := e.Stop(ctx); err != nil {
			t.Errorf("Stop: %v", err)
		}
	})
	to, err := net.ResolveUDPAddr("udp", l.Addr())
	if err != nil {
		t.Fatal(err)
	}
	client := func() *net.UDPConn {
		c, err := net.DialUDP("udp", nil, to)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = c.Close() })
		return c
	}
	a, b := client(), client()
	write(t, a, "a")
	peer := h.waitOpen(t)
	h.waitData(t, peer, "a")

	const n = 3
	for i := 0; i < n; i++ {
		write(t, b, "bb")
	}
	socktest.WaitFor(t, "the datagrams over the limit to be counted", func() bool { return e.Stats().PeerLimitHits == n })
	if tr := e.Traffic(context.Background()); tr.LimitDroppedBytes != 2*n {
		t.Fatalf("LimitDroppedBytes = %d, want %d", tr.LimitDroppedBytes, 2*n)
	}
	st := e.Stats()
	if st.Peers != 1 || st.LimitHits != n || l.peerCount() != 1 {
		t.Fatalf("stats %+v, listener peers %d: want 1 peer and %d limit hits", st, l.peerCount(), n)
	}
	// The peer within the limit is still served, and nothing was opened
	// for the other address.
	write(t, a, "c")
	h.waitData(t, peer, "ac")
	h.mu.Lock()
	opened := len(h.opened)
	h.mu.Unlock()
	if opened != 1 {
		t.Fatalf("OnOpen ran %d times, want once", opened)
	}
}

// The drop path makes nothing: no Conn, no map entry, no address string.
func TestUDPDropOverMaxPeersAllocatesNothing(t *testing.T) {
	e := &Engine{}
	l := &Listener{maxPeers: 2}
	l.peers.Store(2)
	tbl := &peerTable{side: &udpSide{e: e}, ln: l, peers: map[netip.AddrPort]*Conn{}}
	ua := &net.UDPAddr{IP: net.IPv4(127, 1, 0, 1), Port: 4000}
	runs := 0
	allocs := testing.AllocsPerRun(1000, func() {
		runs++
		if tbl.newPeer(ua, 7) != nil {
			t.Fatal("a peer over MaxPeers")
		}
	})
	if allocs != 0 {
		t.Fatalf("%v allocations per dropped datagram, want 0", allocs)
	}
	if got := e.peerHits.Load(); got != uint64(runs) {
		t.Fatalf("peerHits = %d, want %d", got, runs)
	}
	if got := e.traffic.limitDropped.Load(); got != uint64(7*runs) {
		t.Fatalf("limitDropped = %d, want %d", got, 7*runs)
	}
	if len(tbl.peers) != 0 || l.peers.Load() != 2 {
		t.Fatalf("%d table entries, %d peers counted after the drops", len(tbl.peers), l.peers.Load())
	}
}

func TestMaxConnsOpenSeesReasonLimit(t *testing.T) {
	h := newTestHandler(t)
	var atOpen []Reason // guarded by h.mu
	h.onOpen = func(c *Conn) {
		h.mu.Lock()
		atOpen = append(atOpen, c.Reason())
		h.mu.Unlock()
	}
	e := NewEngine(h, Options{EventLoops: 2, MaxConns: 1})
	l, err := e.Listen("tcp://127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
		defer cancel()
		if err := e.Stop(ctx); err != nil {
			t.Errorf("Stop: %v", err)
		}
	})
	first := dial(t, l)
	in := h.waitOpen(t)
	write(t, first, "x")
	h.waitData(t, in, "x")
	// The RST may reach the client before its connect has returned.
	over, err := net.DialTimeout("tcp", l.Addr(), waitTimeout)
	if err == nil {
		defer over.Close()
	} else if !socktest.IsReset(err) {
		t.Fatalf("over-limit dial: %v", err)
	}
	refused := h.waitOpen(t)
	h.waitClose(t, refused, ReasonLimit)
	if over != nil {
		if _, err := readUntilErr(t, over); !socktest.IsReset(err) {
			t.Fatalf("over-limit client read: %v, want a reset", err)
		}
	}
	h.mu.Lock()
	got := append([]Reason(nil), atOpen...)
	h.mu.Unlock()
	if len(got) != 2 || got[0] != ReasonNone || got[1] != ReasonLimit {
		t.Fatalf("Reason at OnOpen = %v, want [none limit]", got)
	}
	if st := e.Stats(); st.ConnLimitHits != 1 || st.Open != 1 {
		t.Fatalf("stats %+v: want 1 conn limit hit, 1 open", st)
	}
}
