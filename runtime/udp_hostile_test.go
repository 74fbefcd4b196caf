package runtime_test

import (
	"context"
	"net"
	goruntime "runtime"
	"testing"
	"time"

	"github.com/sockactor/sockactor/internal/socktest"

	"github.com/sockactor/sockactor/actors"
	sockrt "github.com/sockactor/sockactor/runtime"
)

// Hostile UDP senders (docs/SEMANTICS.md §6): a spray from many source
// ports stays within MaxPeers (the sources over it get no socket) and its
// memory is given back as the peers time out; a flood at a banned peer costs
// no memory and is counted. The figures are logged (go test -v -run
// TestUDPHostile ./runtime). A flood of 50,000 source addresses is in
// admission_test.go.

// heapAfterGC returns the live heap after two collections.
func heapAfterGC() uint64 {
	var ms goruntime.MemStats
	goruntime.GC()
	goruntime.GC()
	goruntime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

func startHostileUDP(t *testing.T, o actors.ListenOptions) (*sockrt.Runtime, *net.UDPAddr) {
	t.Helper()
	fds := fdCount(t)
	rt, err := sockrt.New(sockrt.Options{EventLoops: 2, Linger: -1})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := rt.Listen("udp://127.0.0.1:0", echo, o)
	if err != nil {
		t.Fatal(err)
	}
	if err := rt.Start(ctx5(t)); err != nil {
		t.Fatal(err)
	}
	shutdownAtEnd(t, rt, fds, 0)
	return rt, ln.Addr().(*net.UDPAddr)
}

func TestUDPHostileSprayStaysWithinMaxPeersAndGivesMemoryBack(t *testing.T) {
	const limit, sources = 64, 3000
	rt, addr := startHostileUDP(t, actors.ListenOptions{MaxPeers: limit, PeerIdleTimeout: 200 * time.Millisecond})
	// The second of two sprays is measured.
	spray(t, rt, addr, limit, sources)
	before := heapAfterGC()
	st0 := rt.Stats()
	peak, maxLive := spray(t, rt, addr, limit, sources)
	after := heapAfterGC()
	st := rt.Stats()
	made := st.Sockets.Accepted - st0.Sockets.Accepted
	dropped := st.LimitHits()[sockrt.LimitMaxPeers] - st0.LimitHits()[sockrt.LimitMaxPeers]
	byLimit := st.Sockets.Closed["limit"] - st0.Sockets.Closed["limit"]
	byTimeout := st.Sockets.Closed["timeout"] - st0.Sockets.Closed["timeout"]
	t.Logf("spray: %d sources, %d peer sockets made, %d datagrams dropped over the limit, live peers at most %d (limit %d), closed by timeout %d; heap %+d B at the end of the spray (the client sockets included), %+d B once the peers timed out and the clients closed",
		sources, made, dropped, maxLive, limit, byTimeout, int64(peak)-int64(before), int64(after)-int64(before))
	if maxLive > limit {
		t.Fatalf("%d live peers, over MaxPeers %d", maxLive, limit)
	}
	if dropped == 0 || made+dropped != sources || byLimit != 0 || byTimeout != made {
		t.Fatalf("%d peers made and %d datagrams dropped of %d; closed by limit %d and by timeout %d: want every peer to time out, none closed by the limit",
			made, dropped, sources, byLimit, byTimeout)
	}
	// Nothing of a peer outlives it (slack for the runtime's caches; the
	// process registry is compact, runtime/protoactorinternal.go, so a run of new ids
	// leaves no map buckets behind).
	if grown := int64(after) - int64(before); grown > 256<<10 {
		t.Fatalf("heap grew by %d B (%d B per source) after every peer ended", grown, grown/sources)
	}
}

// spray sends one datagram from each of sources new source ports, and waits
// until every peer it made has ended. It returns the heap at the end of the
// spray and the most live peers seen.
func spray(t *testing.T, rt *sockrt.Runtime, addr *net.UDPAddr, limit, sources int) (peak uint64, maxLive int64) {
	t.Helper()
	// taken counts the datagrams the listener took: a new peer's first, or
	// one dropped over MaxPeers.
	taken := func(st sockrt.Stats) uint64 { return st.Sockets.Accepted + st.Conns.PeerLimitHits }
	taken0 := taken(rt.Stats())
	clients := make([]*net.UDPConn, 0, sources) // open to the end: each keeps its source port
	defer func() {
		for _, c := range clients {
			_ = c.Close()
		}
	}()
	for i := 0; i < sources; i++ {
		c, err := net.DialUDP("udp", nil, addr)
		if err != nil {
			t.Fatal(err)
		}
		clients = append(clients, c)
		if _, err = c.Write([]byte("spray")); err != nil {
			t.Fatal(err)
		}
		if i%50 == 49 {
			// As fast as the server takes them, but never more than fit in
			// the socket's receive buffer: a datagram the kernel drops
			// would make no peer, and the count below would not add up.
			socktest.WaitFor(t, "the spray to be taken", func() bool {
				st := rt.Stats()
				maxLive = max(maxLive, st.Conns.Peers)
				return taken(st)-taken0 >= uint64(i+1-50)
			})
		}
	}
	socktest.WaitFor(t, "every datagram to be taken", func() bool {
		st := rt.Stats()
		maxLive = max(maxLive, st.Conns.Peers)
		return taken(st)-taken0 == uint64(sources)
	})
	peak = heapAfterGC()
	socktest.WaitFor(t, "every peer to end", func() bool {
		st := rt.Stats()
		return st.Conns.Peers == 0 && st.Sockets.Open == 0
	})
	for _, c := range clients {
		_ = c.Close() // the clients' own memory is this process's too
	}
	clients = nil
	return peak, maxLive
}

func TestUDPHostileFloodAtBannedPeerCostsNoMemory(t *testing.T) {
	socktest.EachMode(t, modes, func(t *testing.T, mode actors.Dispatch) {
		rt, addr := startHostileUDP(t, actors.ListenOptions{Dispatch: mode, PeerIdleTimeout: -1})
		c := udpClient(t, addr)
		udpRoundTrip(t, c, []byte("hello"))
		var pid = rt.SocketPID(1)
		socktest.WaitFor(t, "the peer", func() bool {
			for id := uint64(1); id < 10; id++ {
				if info, err := rt.Info(ctx5(t), rt.SocketPID(id)); err == nil && info.Kind == "udp" {
					pid = rt.SocketPID(id)
					return true
				}
			}
			return false
		})
		if _, err := rt.RecvDisconnect(ctx5(t), pid); err != nil {
			t.Fatal(err)
		}
		before := heapAfterGC()
		// Paced on what the server counted as banned, so that every
		// datagram reaches it. The polls share one context: ctx5's would
		// each live (with its timer) until the test ends and be counted
		// as heap growth.
		pollCtx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		const size = 512
		sent := floodPaced(t, c, 20000, size, 64, func() int64 {
			info, err := rt.Info(pollCtx, pid)
			if err != nil {
				return 0
			}
			return int64(info.BannedBytes / size)
		})
		after := heapAfterGC()
		info, err := rt.Info(ctx5(t), pid)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("flood at a banned peer (%s): %d B sent in %d datagrams, %d B banned, heap %+d B",
			mode, sent, sent/size, info.BannedBytes, int64(after)-int64(before))
		if info.BannedBytes != sent || info.BytesIn != info.BannedBytes+5 {
			t.Fatalf("banned %d of %d bytes in, %d sent", info.BannedBytes, info.BytesIn, sent)
		}
		if grown := int64(after) - int64(before); grown > 256<<10 {
			t.Fatalf("heap grew by %d B under a banned flood of %d B", grown, sent)
		}
	})
}
