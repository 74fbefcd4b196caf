package runtime_test

import (
	"context"
	"errors"
	"net"
	goruntime "runtime"
	"strings"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"golang.org/x/sys/unix"

	"github.com/sockactor/sockactor/internal/socktest"

	"github.com/sockactor/sockactor/actors"
	"github.com/sockactor/sockactor/events"
	sockrt "github.com/sockactor/sockactor/runtime"
	"github.com/sockactor/sockactor/winsock"
)

// What admission over a limit costs (docs/SEMANTICS.md §5, §6): a datagram
// from a new source address over MaxPeers is dropped and counted, with no
// socket and no event; a connection over MaxConns gets FD_ACCEPT and
// FD_CLOSE 10055 and its socket is released at once. Figures are logged
// (go test -v -run TestAdmission ./runtime).

// sendSpoofed sends p to `to` from source address 127.1.(i/250).(i%250+1)
// on a socket of its own, closed at once: the whole of 127/8 is loopback on
// Linux, so each i is a distinct source address and costs no descriptor
// beyond the send.
func sendSpoofed(t *testing.T, i int, to *unix.SockaddrInet4, p []byte) {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	if err := unix.Bind(fd, &unix.SockaddrInet4{Addr: [4]byte{127, 1, byte(i / 250), byte(i%250 + 1)}}); err != nil {
		t.Fatalf("bind to 127.1.%d.%d: %v", i/250, i%250+1, err)
	}
	if err := unix.Sendto(fd, p, 0, to); err != nil {
		t.Fatal(err)
	}
}

func TestAdmissionFloodOfSourceAddressesMakesNoSockets(t *testing.T) {
	const limit, sources = 64, 50000
	const inFlight = 50 // never more unread than the listener's receive buffer holds
	socktest.EachMode(t, modes, func(t *testing.T, mode actors.Dispatch) {
		s := startUDP(t, nil, actors.ListenOptions{Dispatch: mode, MaxPeers: limit, PeerIdleTimeout: -1}, actors.BanDefault)
		peers := make([]*net.UDPConn, limit)
		for i := range peers {
			peers[i] = udpClient(t, s.addr)
			udpRoundTrip(t, peers[i], []byte("first"))
		}
		socktest.WaitFor(t, "the first peers' FD_ACCEPT", func() bool { return s.rec.Total(events.FDAccept) == limit })
		to := &unix.SockaddrInet4{Port: s.addr.Port, Addr: [4]byte{127, 0, 0, 1}}
		st0 := s.rt.Stats()
		hits0 := st0.LimitHits()[sockrt.LimitMaxPeers]
		dropped := func(st sockrt.Stats) uint64 { return st.LimitHits()[sockrt.LimitMaxPeers] - hits0 }
		var maxOpen, maxPeers int64
		sample := func() sockrt.Stats {
			st := s.rt.Stats()
			maxOpen, maxPeers = max(maxOpen, st.Sockets.Open), max(maxPeers, st.Conns.Peers)
			return st
		}
		before := heapAfterGC()

		start := time.Now()
		payload := []byte("spoofed")
		sent := 0
		for ; sent < sources && time.Since(start) < time.Minute; sent++ {
			sendSpoofed(t, sent, to, payload)
			if sent%inFlight == inFlight-1 {
				socktest.WaitFor(t, "the flood to be taken", func() bool {
					return dropped(sample()) >= uint64(sent+1-inFlight)
				})
			}
			if sent%10000 == 9999 { // the peers are served during the flood
				if got := udpRoundTrip(t, peers[sent%limit], []byte("during")); string(got) != "during" {
					t.Fatalf("echo during the flood: %q", got)
				}
			}
		}
		socktest.WaitFor(t, "every datagram to be taken", func() bool { return dropped(sample()) == uint64(sent) })
		took := time.Since(start)
		after := heapAfterGC()
		st := sample()
		grown := int64(after) - int64(before)
		t.Logf("%s: %d datagrams from distinct addresses in %v: %d dropped as max_peers hits, open sockets at most %d, live peers at most %d (MaxPeers %d), heap %+d B",
			mode, sent, took.Round(time.Millisecond), dropped(st), maxOpen, maxPeers, limit, grown)
		if sent < sources {
			t.Logf("stopped after a minute, %d of %d sources sent", sent, sources)
		}

		if maxOpen > limit || maxPeers > limit {
			t.Fatalf("open sockets reached %d, live peers %d: over MaxPeers %d", maxOpen, maxPeers, limit)
		}
		if st.Sockets.Accepted != st0.Sockets.Accepted || s.rec.Total(events.FDAccept) != limit {
			t.Fatalf("accepted %d → %d, %d FD_ACCEPT: the flood made sockets", st0.Sockets.Accepted, st.Sockets.Accepted, s.rec.Total(events.FDAccept))
		}
		if ev := s.rec.Find(func(ev *events.Event) bool { return strings.HasPrefix(ev.RemoteAddr, "127.1.") }); ev != nil {
			t.Fatalf("an event for a flooding source: %v", ev)
		}
		if st.Conns.PeerLimitHits-st0.Conns.PeerLimitHits != uint64(sent) || st.Sockets.Closed["limit"] != 0 {
			t.Fatalf("PeerLimitHits +%d, %d closed by the limit: want +%d and none", st.Conns.PeerLimitHits-st0.Conns.PeerLimitHits, st.Sockets.Closed["limit"], sent)
		}
		if grown > 8<<20 {
			t.Fatalf("heap grew by %d B over %d dropped datagrams", grown, sent)
		}
		// The listener still serves its peers.
		for _, c := range []*net.UDPConn{peers[0], peers[limit-1]} {
			if got := udpRoundTrip(t, c, []byte("after")); string(got) != "after" {
				t.Fatalf("echo after the flood: %q", got)
			}
		}
		if st := s.rt.Stats(); st.Conns.Peers != limit || st.Sockets.Open != limit {
			t.Fatalf("%d live peers, %d open sockets after the flood, want %d", st.Conns.Peers, st.Sockets.Open, limit)
		}
	})
}

// eventFeed is a subscriber that hands every event to a channel, in the
// order it gets them.
func eventFeed(t *testing.T, sys *actor.ActorSystem, size int) (*actor.PID, <-chan *events.Event) {
	t.Helper()
	ch := make(chan *events.Event, size)
	pid := sys.Root.Spawn(actorFunc(func(ev *events.Event) {
		select {
		case ch <- ev:
		default:
			t.Errorf("event log full (%d): %v lost", size, ev)
		}
	}))
	return pid, ch
}

func TestAdmissionAcceptStormOverMaxConns(t *testing.T) {
	const limit, conns = 16, 2000
	socktest.EachMode(t, modes, func(t *testing.T, mode actors.Dispatch) {
		fds := fdCount(t)
		// A linger far longer than the test: a socket released before it
		// was released by the limit, not by the linger.
		rt, err := sockrt.New(sockrt.Options{EventLoops: 2, MaxConns: limit, Linger: time.Hour})
		if err != nil {
			t.Fatal(err)
		}
		ln, err := rt.Listen("tcp://127.0.0.1:0", echo, actors.ListenOptions{Dispatch: mode})
		if err != nil {
			t.Fatal(err)
		}
		if err := rt.Start(ctx5(t)); err != nil {
			t.Fatal(err)
		}
		shutdownAtEnd(t, rt, fds, 0)
		logPID, evs := eventFeed(t, rt.System(), 4*conns)
		if err := rt.Subscribe(logPID, events.MaskAll); err != nil {
			t.Fatal(err)
		}
		addr := ln.Addr().String()
		bySocket := map[uint64][]*events.Event{}
		// next reads the log until an event of kind k arrives, and returns it.
		next := func(k events.Kind) *events.Event {
			t.Helper()
			timeout := time.After(socktest.Timeout)
			for {
				select {
				case ev := <-evs:
					bySocket[ev.SocketId] = append(bySocket[ev.SocketId], ev)
					if ev.EventKind() == k {
						return ev
					}
				case <-timeout:
					t.Fatalf("timed out waiting for %v", k)
					return nil
				}
			}
		}

		kept := make([]net.Conn, limit)
		for i := range kept {
			kept[i] = dial(t, addr)
			roundTrip(t, kept[i], "kept")
			next(events.FDAccept)
		}
		fdsKept := fdCount(t)
		goroutines := goruntime.NumGoroutine()

		var refused []uint64
		start := time.Now()
		for i := 0; i < conns-limit && time.Since(start) < time.Minute; i++ {
			// The RST may reach the client before its connect returns.
			c, err := net.DialTimeout("tcp", addr, socktest.ConnTimeout)
			if err == nil {
				err = readUntilErr(c)
				_ = c.Close()
			}
			if !isReset(err) {
				t.Fatalf("connection %d over the limit: %v, want a reset", i, err)
			}
			ev := next(events.FDClose)
			if ev.Code != uint32(winsock.WSAENOBUFS) || ev.Reason != "limit" {
				t.Fatalf("connection %d over the limit: FD_CLOSE %d %s, want 10055 limit", i, ev.Code, ev.Reason)
			}
			// Released with its FD_CLOSE, not after the linger.
			ctx, cancel := context.WithTimeout(context.Background(), socktest.Timeout)
			_, err = rt.Info(ctx, rt.SocketPID(ev.SocketId))
			cancel()
			if !errors.Is(err, winsock.ErrNotSock) {
				t.Fatalf("Info right after FD_CLOSE of socket %d: %v, want WSAENOTSOCK", ev.SocketId, err)
			}
			refused = append(refused, ev.SocketId)
		}
		t.Logf("%s: %d connections over MaxConns %d refused in %v", mode, len(refused), limit, time.Since(start).Round(time.Millisecond))

		for _, id := range refused {
			got := bySocket[id]
			if len(got) != 2 || got[0].EventKind() != events.FDAccept || got[1].EventKind() != events.FDClose {
				t.Fatalf("socket %d over the limit had events %v, want FD_ACCEPT then FD_CLOSE", id, got)
			}
		}
		socktest.WaitFor(t, "the refused sockets to be gone", func() bool {
			st := rt.Stats()
			return st.Sockets.Open == limit && st.Conns.Open == limit && fdCount(t) <= fdsKept
		})
		st := rt.Stats()
		n := uint64(len(refused))
		if st.Conns.ConnLimitHits != n || st.LimitHits()[sockrt.LimitMaxConns] != n || st.Sockets.Closed["limit"] != n || st.Sockets.Accepted != n+limit {
			t.Fatalf("stats %v: want %d max_conns hits and limit closes, %d accepted", st, n, n+limit)
		}
		for _, id := range refused {
			if _, ok := rt.System().ProcessRegistry.GetLocal(rt.SocketPID(id).Id); ok {
				t.Fatalf("socket %d over the limit is still in the registry", id)
			}
		}
		// No goroutine per refused connection is left behind. A pooled
		// runtime keeps the workers its pool started parked for reuse
		// (actors/pool.go, a bounded few), so the bound is far below one
		// per connection rather than the count from before the storm.
		slack := 0
		if mode == actors.Pooled {
			slack = conns / 10
		}
		socktest.WaitFor(t, "the storm's goroutines to end", func() bool { return goruntime.NumGoroutine() <= goroutines+slack })
		for _, c := range []net.Conn{kept[0], kept[limit-1]} {
			if got := roundTrip(t, c, "still served"); got != "still served" {
				t.Fatalf("echo after the storm: %q", got)
			}
		}
	})
}
