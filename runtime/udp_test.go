package runtime_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sockactor/sockactor/actors"
	"github.com/sockactor/sockactor/events"
	"github.com/sockactor/sockactor/internal/socktest"
	sockrt "github.com/sockactor/sockactor/runtime"
	"github.com/sockactor/sockactor/winsock"
)

// UDP listeners, their peer sockets and dialled UDP sockets
// (docs/SEMANTICS.md §6), against real loopback sockets.

// udpServer is a running runtime with one UDP listener, shut down at
// cleanup with a descriptor check.
type udpServer struct {
	rt   *sockrt.Runtime
	ln   *sockrt.Listener
	addr *net.UDPAddr
	rec  *recorder
}

func startUDP(t *testing.T, h actors.Handler, o actors.ListenOptions, policy actors.BanPolicy) *udpServer {
	t.Helper()
	fds := fdCount(t)
	if h == nil {
		h = echo
	}
	rt, err := sockrt.New(sockrt.Options{EventLoops: 2, Linger: 50 * time.Millisecond, BanPolicy: policy})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := rt.Listen("udp://127.0.0.1:0", h, o)
	if err != nil {
		t.Fatal(err)
	}
	if err := rt.Start(ctx5(t)); err != nil {
		t.Fatal(err)
	}
	s := &udpServer{rt: rt, ln: ln, rec: newRecorder(t, rt.System())}
	s.addr, _ = ln.Addr().(*net.UDPAddr)
	if s.addr == nil || s.addr.Port == 0 {
		t.Fatalf("listener address = %v", ln.Addr())
	}
	if err := rt.Subscribe(s.rec.PID, events.MaskAll); err != nil {
		t.Fatal(err)
	}
	shutdownAtEnd(t, rt, fds, 0)
	return s
}

// udpClient is a connected client socket to the server.
func udpClient(t *testing.T, to *net.UDPAddr) *net.UDPConn {
	t.Helper()
	c, err := net.DialUDP("udp", nil, to)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// readDatagram reads one datagram within d; ok is false on a timeout.
func readDatagram(t *testing.T, c *net.UDPConn, d time.Duration) (data []byte, ok bool) {
	t.Helper()
	buf := make([]byte, 70000)
	_ = c.SetReadDeadline(time.Now().Add(d))
	n, err := c.Read(buf)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return nil, false
	}
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	return buf[:n], true
}

func udpRoundTrip(t *testing.T, c *net.UDPConn, p []byte) []byte {
	t.Helper()
	if _, err := c.Write(p); err != nil {
		t.Fatal(err)
	}
	got, ok := readDatagram(t, c, 5*time.Second)
	if !ok {
		t.Fatalf("no echo of a %d-byte datagram", len(p))
	}
	return got
}

// peerOf waits for the FD_ACCEPT of client c's peer socket.
func (s *udpServer) peerOf(t *testing.T, c *net.UDPConn) uint64 {
	t.Helper()
	return s.rec.AcceptedFor(t, c).SocketId
}

// sizes records the length of every Received, from any goroutine.
type sizes struct {
	mu sync.Mutex
	n  []int
}

func (z *sizes) add(n int) { z.mu.Lock(); z.n = append(z.n, n); z.mu.Unlock() }
func (z *sizes) get() []int {
	z.mu.Lock()
	defer z.mu.Unlock()
	return append([]int(nil), z.n...)
}

func TestUDPPeerSocketPerAddressOneReceivedPerDatagram(t *testing.T) {
	socktest.EachMode(t, modes, func(t *testing.T, mode actors.Dispatch) {
		var got sizes
		h := actors.HandlerFunc(func(c *actors.Context) {
			if m, ok := c.Message().(*actors.Received); ok {
				got.add(len(m.Data))
				_, _ = c.Write(m.Data)
			}
		})
		s := startUDP(t, h, actors.ListenOptions{Dispatch: mode}, actors.BanDefault)
		a, b := udpClient(t, s.addr), udpClient(t, s.addr)
		want := []int{1, 0, 1400, 65507}
		for _, n := range want {
			if echo := udpRoundTrip(t, a, make([]byte, n)); len(echo) != n {
				t.Fatalf("echo of %d bytes has %d", n, len(echo))
			}
		}
		if g := got.get(); len(g) != len(want) || g[0] != 1 || g[1] != 0 || g[2] != 1400 || g[3] != 65507 {
			t.Fatalf("Received sizes = %v, want %v (one per datagram)", g, want)
		}
		udpRoundTrip(t, b, []byte("b"))
		pa, pb := s.peerOf(t, a), s.peerOf(t, b)
		if pa == pb {
			t.Fatal("two source addresses share one peer socket")
		}
		if n := s.rec.Count(pa, events.FDAccept); n != 1 {
			t.Fatalf("FD_ACCEPT x%d for one peer", n)
		}
		if n := s.rec.Count(pa, events.FDWrite); n != 1 {
			t.Fatalf("FD_WRITE x%d at creation, want 1", n)
		}
		info, err := s.rt.Info(ctx5(t), s.rt.SocketPID(pa))
		if err != nil {
			t.Fatal(err)
		}
		if info.Kind != "udp" || info.State != "open" || info.RemoteAddr != a.LocalAddr().String() ||
			info.LocalAddr != s.addr.String() || info.ListenerId != s.ln.ID() || info.BytesIn != 66908 {
			t.Fatalf("peer info = %+v", info)
		}
	})
}

func TestUDPPullOneDatagramPerRecvTruncatesWithMsgSize(t *testing.T) {
	socktest.EachMode(t, modes, func(t *testing.T, mode actors.Dispatch) {
		s := startUDP(t, actors.HandlerFunc(func(*actors.Context) {}), actors.ListenOptions{Dispatch: mode, Pull: true}, actors.BanDefault)
		c := udpClient(t, s.addr)
		for _, p := range []string{"abc", "defgh", ""} {
			if _, err := c.Write([]byte(p)); err != nil {
				t.Fatal(err)
			}
		}
		peer := s.peerOf(t, c)
		pid := s.rt.SocketPID(peer)
		s.rec.Wait(t, peer, events.FDRead)
		socktest.WaitFor(t, "three datagrams queued", func() bool {
			info, err := s.rt.Info(ctx5(t), pid)
			return err == nil && info.QueuedIn == 8
		})
		if data, err := s.rt.Recv(ctx5(t), pid, 10); err != nil || string(data) != "abc" {
			t.Fatalf("Recv = %q, %v; want the first datagram whole", data, err)
		}
		data, err := s.rt.Recv(ctx5(t), pid, 2)
		if string(data) != "de" || !errors.Is(err, winsock.WSAEMSGSIZE) {
			t.Fatalf("Recv(2) = %q, %v; want \"de\" and WSAEMSGSIZE", data, err)
		}
		if data, err := s.rt.Recv(ctx5(t), pid, 10); err != nil || len(data) != 0 {
			t.Fatalf("Recv of the empty datagram = %q, %v", data, err)
		}
		if _, err := s.rt.Recv(ctx5(t), pid, 10); !errors.Is(err, winsock.WSAEWOULDBLOCK) {
			t.Fatalf("Recv with nothing queued: %v, want WSAEWOULDBLOCK", err)
		}
	})
}

func TestUDPSendIsOneDatagramAndRefusesOverMax(t *testing.T) {
	s := startUDP(t, nil, actors.ListenOptions{}, actors.BanDefault)
	c := udpClient(t, s.addr)
	udpRoundTrip(t, c, []byte("x"))
	pid := s.rt.SocketPID(s.peerOf(t, c))
	if _, err := s.rt.Send(ctx5(t), pid, make([]byte, 65508)); !errors.Is(err, winsock.WSAEMSGSIZE) {
		t.Fatalf("Send of 65508 bytes: %v, want WSAEMSGSIZE", err)
	}
	for _, p := range []string{"one", "two"} {
		if n, err := s.rt.Send(ctx5(t), pid, []byte(p)); err != nil || n != len(p) {
			t.Fatalf("Send = %d, %v", n, err)
		}
	}
	for _, want := range []string{"one", "two"} {
		if got, ok := readDatagram(t, c, 5*time.Second); !ok || string(got) != want {
			t.Fatalf("datagram = %q (%v), want %q", got, ok, want)
		}
	}
	if err := s.rt.SendDisconnect(ctx5(t), pid); err != nil {
		t.Fatal(err)
	}
	if _, err := s.rt.Send(ctx5(t), pid, []byte("late")); !errors.Is(err, winsock.WSAESHUTDOWN) {
		t.Fatalf("Send after SendDisconnect: %v, want WSAESHUTDOWN", err)
	}
}

// flood sends n datagrams of size bytes and returns the bytes sent.
func flood(t *testing.T, c *net.UDPConn, n, size int) uint64 {
	t.Helper()
	p := make([]byte, size)
	var sent uint64
	for i := 0; i < n; i++ {
		if _, err := c.Write(p); err != nil {
			t.Fatalf("flood write %d: %v (an ICMP error or reset reached the sender)", i, err)
		}
		sent += uint64(size)
		if i%64 == 63 {
			time.Sleep(100 * time.Microsecond) // stay under the receive buffer, mostly
		}
	}
	return sent
}

// floodPaced sends n datagrams of size bytes in bursts of burst, each
// burst once counted (the server's own account, in datagrams: delivered,
// waiting, dropped or banned) has reached every datagram sent before it.
// The kernel's receive buffer then never overflows, however slowly the
// loop runs on a loaded machine: every datagram reaches the server. It
// returns the bytes sent.
func floodPaced(t *testing.T, c *net.UDPConn, n, size, burst int, counted func() int64) uint64 {
	t.Helper()
	p := make([]byte, size)
	for sent := 0; sent < n; {
		for range min(burst, n-sent) {
			if _, err := c.Write(p); err != nil {
				t.Fatalf("flood write %d: %v (an ICMP error or reset reached the sender)", sent, err)
			}
			sent++
		}
		socktest.WaitFor(t, fmt.Sprintf("the server to account for %d datagrams", sent), func() bool {
			return counted() >= int64(sent)
		})
	}
	return uint64(n * size)
}

func TestUDPBanOnPeerDropsCountsAndNeverResets(t *testing.T) {
	for _, policy := range []actors.BanPolicy{actors.BanReset, actors.BanDiscard} {
		t.Run(policy.String(), func(t *testing.T) {
			socktest.EachMode(t, modes, func(t *testing.T, mode actors.Dispatch) {
				var after atomic.Int64
				var banned atomic.Bool
				h := actors.HandlerFunc(func(c *actors.Context) {
					if m, ok := c.Message().(*actors.Received); ok {
						if banned.Load() {
							after.Add(int64(len(m.Data)))
						}
						_, _ = c.Write(m.Data)
					}
				})
				s := startUDP(t, h, actors.ListenOptions{Dispatch: mode}, policy)
				c := udpClient(t, s.addr)
				udpRoundTrip(t, c, []byte("hello"))
				peer := s.peerOf(t, c)
				pid := s.rt.SocketPID(peer)
				if data, err := s.rt.RecvDisconnect(ctx5(t), pid); err != nil || len(data) != 0 {
					t.Fatalf("RecvDisconnect = %q, %v", data, err)
				}
				banned.Store(true)
				sent := flood(t, c, 3000, 200)
				socktest.WaitFor(t, "banned bytes to be counted", func() bool {
					info, err := s.rt.Info(ctx5(t), pid)
					return err == nil && info.BannedBytes > 0 && info.BytesIn >= 5+info.BannedBytes
				})
				if n := after.Load(); n != 0 {
					t.Fatalf("%d bytes reached the handler after the ban", n)
				}
				// No ICMP, no reset: the sender sees nothing but what the
				// socket still sends.
				if got, ok := readDatagram(t, c, 200*time.Millisecond); ok {
					t.Fatalf("the banned sender got %q", got)
				}
				if _, err := s.rt.Send(ctx5(t), pid, []byte("still")); err != nil {
					t.Fatalf("Send after the ban: %v", err)
				}
				if got, ok := readDatagram(t, c, 5*time.Second); !ok || string(got) != "still" {
					t.Fatalf("after the ban the peer got %q (%v)", got, ok)
				}
				info, err := s.rt.Info(ctx5(t), pid)
				if err != nil {
					t.Fatal(err)
				}
				if info.State != "open" || !info.RecvShut || info.BannedBytes > sent {
					t.Fatalf("banned peer info = %+v (sent %d)", info, sent)
				}
				if s.rec.Count(peer, events.FDClose) != 0 {
					t.Fatal("the ban closed a UDP peer")
				}
			})
		})
	}
}

func TestUDPBanOnListenerBansEveryPeerAndNewAddresses(t *testing.T) {
	socktest.EachMode(t, modes, func(t *testing.T, mode actors.Dispatch) {
		var after atomic.Int64
		var banned atomic.Bool
		h := actors.HandlerFunc(func(c *actors.Context) {
			if m, ok := c.Message().(*actors.Received); ok && banned.Load() {
				after.Add(int64(len(m.Data)))
			}
		})
		s := startUDP(t, h, actors.ListenOptions{Dispatch: mode, Pull: mode == actors.Pooled}, actors.BanDefault)
		a, b := udpClient(t, s.addr), udpClient(t, s.addr)
		for _, c := range []*net.UDPConn{a, b} {
			if _, err := c.Write([]byte("hi")); err != nil {
				t.Fatal(err)
			}
		}
		pa, pb := s.peerOf(t, a), s.peerOf(t, b)
		if _, err := s.rt.RecvDisconnect(ctx5(t), s.ln.PID()); err != nil {
			t.Fatalf("RecvDisconnect on the UDP listener: %v", err)
		}
		banned.Store(true)
		flood(t, a, 500, 100)
		flood(t, b, 500, 100)
		late := udpClient(t, s.addr)
		flood(t, late, 100, 100)
		for _, p := range []uint64{pa, pb} {
			pid := s.rt.SocketPID(p)
			socktest.WaitFor(t, "the peer's banned bytes", func() bool {
				info, err := s.rt.Info(ctx5(t), pid)
				return err == nil && info.RecvShut && info.BannedBytes > 0
			})
			if _, err := s.rt.Recv(ctx5(t), pid, 10); mode == actors.Pooled && !errors.Is(err, winsock.WSAESHUTDOWN) {
				t.Fatalf("Recv on a banned peer: %v, want WSAESHUTDOWN", err)
			}
		}
		socktest.WaitFor(t, "the listener to count the new address's bytes", func() bool {
			info, err := s.rt.Info(ctx5(t), s.ln.PID())
			return err == nil && info.RecvShut && info.BannedBytes > 0
		})
		if n := after.Load(); n != 0 {
			t.Fatalf("%d bytes reached a handler after the listener's ban", n)
		}
		if ev := s.rec.Find(func(ev *events.Event) bool {
			return ev.EventKind() == events.FDAccept && ev.RemoteAddr == late.LocalAddr().String()
		}); ev != nil {
			t.Fatal("a banned listener made a peer for a new address")
		}
	})
}

func TestUDPMaxPeersUnderSprayFromManySourcePorts(t *testing.T) {
	const limit, sources = 8, 300
	s := startUDP(t, nil, actors.ListenOptions{MaxPeers: limit, PeerIdleTimeout: -1}, actors.BanDefault)
	clients := make([]*net.UDPConn, sources)
	taken := func() uint64 { st := s.rt.Stats(); return st.Sockets.Accepted + st.Conns.PeerLimitHits }
	for i := range clients {
		clients[i] = udpClient(t, s.addr)
		if _, err := clients[i].Write([]byte(strconv.Itoa(i))); err != nil {
			t.Fatal(err)
		}
		if i%50 == 49 { // never more in flight than the receive buffer holds
			socktest.WaitFor(t, "the spray to be taken", func() bool { return taken() >= uint64(i+1-50) })
		}
	}
	// Every datagram is either a peer's first or a max_peers hit.
	socktest.WaitFor(t, "every datagram to be taken", func() bool { return taken() == sources })
	st := s.rt.Stats()
	if st.Sockets.Accepted != limit || st.Conns.Peers != limit || st.LimitHits()[sockrt.LimitMaxPeers] != sources-limit {
		t.Fatalf("%d peers made, %d live, %d max_peers hits: want %d, %d, %d", st.Sockets.Accepted, st.Conns.Peers, st.LimitHits()[sockrt.LimitMaxPeers], limit, limit, sources-limit)
	}
	// The sources over the limit got no socket and no event at all.
	accepts := 0
	for _, c := range clients {
		if ev := s.rec.Find(func(ev *events.Event) bool { return ev.RemoteAddr == c.LocalAddr().String() }); ev != nil {
			if ev.EventKind() != events.FDAccept {
				t.Fatalf("first event of a source: %v, want FD_ACCEPT", ev)
			}
			accepts++
		}
	}
	if accepts != limit {
		t.Fatalf("%d sources have events, want the %d under the limit", accepts, limit)
	}
	served := 0
	for _, c := range clients {
		if _, ok := readDatagram(t, c, 20*time.Millisecond); ok {
			served++
		}
	}
	if served != limit {
		t.Fatalf("%d sources were echoed, want the %d under the limit", served, limit)
	}
}

func TestUDPPeerIdleTimeoutEndsPeerWith10060(t *testing.T) {
	socktest.EachMode(t, modes, func(t *testing.T, mode actors.Dispatch) {
		s := startUDP(t, nil, actors.ListenOptions{Dispatch: mode, PeerIdleTimeout: 150 * time.Millisecond}, actors.BanDefault)
		c := udpClient(t, s.addr)
		udpRoundTrip(t, c, []byte("a"))
		first := s.peerOf(t, c)
		start := time.Now()
		ev := s.rec.CloseEvent(t, first)
		if ev.Code != uint32(winsock.WSAETIMEDOUT) || ev.Reason != "timeout" {
			t.Fatalf("FD_CLOSE %d %s, want 10060 timeout", ev.Code, ev.Reason)
		}
		if time.Since(start) < 100*time.Millisecond {
			t.Fatalf("peer ended %v after its last datagram, before the timeout", time.Since(start))
		}
		udpRoundTrip(t, c, []byte("b"))
		socktest.WaitFor(t, "a new peer for the returning address", func() bool {
			return s.rec.Find(func(ev *events.Event) bool {
				return ev.EventKind() == events.FDAccept && ev.SocketId != first && ev.RemoteAddr == c.LocalAddr().String()
			}) != nil
		})
	})
}

func TestUDPShutdownEndsPeersWithFDClose(t *testing.T) {
	fds := fdCount(t)
	rt, err := sockrt.New(sockrt.Options{EventLoops: 2})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := rt.Listen("udp://127.0.0.1:0", echo, actors.ListenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := rt.Start(ctx5(t)); err != nil {
		t.Fatal(err)
	}
	rec := newRecorder(t, rt.System())
	if err := rt.Subscribe(rec.PID, events.MaskAll); err != nil {
		t.Fatal(err)
	}
	c := udpClient(t, ln.Addr().(*net.UDPAddr))
	udpRoundTrip(t, c, []byte("x"))
	peer := rec.AcceptedFor(t, c).SocketId
	if err := rt.Shutdown(ctx5(t)); err != nil {
		t.Fatal(err)
	}
	if err := rt.Shutdown(ctx5(t)); err != nil {
		t.Fatalf("second Shutdown: %v", err)
	}
	ev := rec.CloseEvent(t, peer)
	if ev.Reason != "shutdown" {
		t.Fatalf("FD_CLOSE %s, want shutdown", ev.Reason)
	}
	_ = c.Close()
	socktest.WaitFor(t, "descriptors to be released", func() bool { return fdCount(t) <= fds })
}

func TestUDPListenAddressInUse(t *testing.T) {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	rt, err := sockrt.New(sockrt.Options{EventLoops: 2})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := rt.Listen("udp://"+pc.LocalAddr().String(), echo, actors.ListenOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := rt.Start(ctx5(t)); !errors.Is(err, winsock.WSAEADDRINUSE) {
		t.Fatalf("Start on a taken UDP port: %v, want WSAEADDRINUSE", err)
	}
	_ = rt.Shutdown(ctx5(t))

	rt2, err := sockrt.New(sockrt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer rt2.Shutdown(context.Background())
	if _, err := rt2.Listen("udp://127.0.0.1:7999", echo, actors.ListenOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := rt2.Listen("udp://127.0.0.1:7999", echo, actors.ListenOptions{}); !errors.Is(err, winsock.WSAEADDRINUSE) {
		t.Fatalf("a second UDP listener on one address: %v, want WSAEADDRINUSE", err)
	}
}

func TestUDPContextWriteOverMaxIsMsgSizeInEveryMode(t *testing.T) {
	socktest.EachMode(t, modes, func(t *testing.T, mode actors.Dispatch) {
		errs := make(chan error, 1)
		h := actors.HandlerFunc(func(c *actors.Context) {
			if _, ok := c.Message().(*actors.Received); ok {
				_, err := c.Write(make([]byte, 65508))
				errs <- err
				_, _ = c.Write([]byte("small"))
			}
		})
		s := startUDP(t, h, actors.ListenOptions{Dispatch: mode}, actors.BanDefault)
		c := udpClient(t, s.addr)
		if got := udpRoundTrip(t, c, []byte("go")); string(got) != "small" {
			t.Fatalf("datagram = %q, want only the small one", got)
		}
		if err := <-errs; !errors.Is(err, winsock.WSAEMSGSIZE) {
			t.Fatalf("Write of 65508 bytes: %v, want WSAEMSGSIZE", err)
		}
	})
}

func TestUDPOverIPv6AndANewPeerAfterClose(t *testing.T) {
	rt, err := sockrt.New(sockrt.Options{EventLoops: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Shutdown(context.Background())
	ln, err := rt.Listen("udp6://[::1]:0", echo, actors.ListenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := rt.Start(ctx5(t)); err != nil {
		t.Skipf("no IPv6 loopback: %v", err)
	}
	rec := newRecorder(t, rt.System())
	if err := rt.Subscribe(rec.PID, events.MaskAll); err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().(*net.UDPAddr)
	if addr.IP.To4() != nil || addr.Port == 0 {
		t.Fatalf("udp6 listener address %v", addr)
	}
	c := udpClient(t, addr)
	if got := udpRoundTrip(t, c, make([]byte, 65527)); len(got) != 65527 {
		t.Fatalf("echo of the largest IPv6 datagram: %d bytes", len(got))
	}
	first := rec.AcceptedFor(t, c).SocketId
	pid := rt.SocketPID(first)
	if _, err := rt.Send(ctx5(t), pid, make([]byte, 65528)); !errors.Is(err, winsock.WSAEMSGSIZE) {
		t.Fatalf("Send of 65528 bytes over IPv6: %v, want WSAEMSGSIZE", err)
	}
	if err := rt.Close(ctx5(t), pid); err != nil {
		t.Fatal(err)
	}
	if ev := rec.CloseEvent(t, first); ev.Reason != "local-close" || ev.Code != 0 {
		t.Fatalf("FD_CLOSE %d %s after Close", ev.Code, ev.Reason)
	}
	if _, err := rt.Info(ctx5(t), pid); !errors.Is(err, winsock.WSAENOTSOCK) {
		t.Fatalf("Info of a closed peer: %v, want WSAENOTSOCK", err)
	}
	udpRoundTrip(t, c, []byte("again"))
	socktest.WaitFor(t, "a new peer for the same address", func() bool {
		return rec.Find(func(ev *events.Event) bool {
			return ev.EventKind() == events.FDAccept && ev.SocketId != first && ev.RemoteAddr == c.LocalAddr().String()
		}) != nil
	})
}

func TestUDPListenerInfoAndClose(t *testing.T) {
	s := startUDP(t, nil, actors.ListenOptions{}, actors.BanDefault)
	c := udpClient(t, s.addr)
	udpRoundTrip(t, c, []byte("x"))
	peer := s.peerOf(t, c)
	info, err := s.rt.Info(ctx5(t), s.ln.PID())
	if err != nil {
		t.Fatal(err)
	}
	if info.Kind != "listener" || info.State != "listening" || info.LocalAddr != s.addr.String() || info.RecvShut {
		t.Fatalf("UDP listener info = %+v", info)
	}
	if err := s.rt.Close(ctx5(t), s.ln.PID()); err != nil {
		t.Fatal(err)
	}
	// As with TCP, closing the listener leaves its sockets: the peer still
	// echoes; a new address gets no socket.
	udpRoundTrip(t, c, []byte("still"))
	late := udpClient(t, s.addr)
	if _, err := late.Write([]byte("late")); err != nil {
		t.Fatal(err)
	}
	if got, ok := readDatagram(t, late, 200*time.Millisecond); ok {
		t.Fatalf("a closed UDP listener answered a new address: %q", got)
	}
	if s.rec.Count(peer, events.FDClose) != 0 {
		t.Fatal("closing the listener closed its peer")
	}
	if n := s.rt.Stats().Sockets.Refused; n == 0 {
		t.Fatal("the new address was not counted as refused")
	}
}
