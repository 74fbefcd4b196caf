package runtime_test

import (
	"bytes"
	"errors"
	"io"
	"net"
	goruntime "runtime"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/sockactor/sockactor/actors"
	"github.com/sockactor/sockactor/events"
	"github.com/sockactor/sockactor/internal/socktest"
	sockrt "github.com/sockactor/sockactor/runtime"
	"github.com/sockactor/sockactor/winsock"
)

// startRT starts a runtime with opts and one TCP listener with lopts; the
// recorder is subscribed to everything.
func startRT(t *testing.T, opts sockrt.Options, lopts actors.ListenOptions, h actors.Handler) *server {
	t.Helper()
	return startRTOn(t, socktest.TCP, opts, lopts, h)
}

// startRTOn is startRT with a listener on transport tr.
func startRTOn(t *testing.T, tr socktest.Transport, opts sockrt.Options, lopts actors.ListenOptions, h actors.Handler) *server {
	t.Helper()
	fds := fdCount(t)
	if opts.EventLoops == 0 {
		opts.EventLoops = 2
	}
	if opts.Linger == 0 {
		opts.Linger = 100 * time.Millisecond
	}
	if h == nil {
		h = echo
	}
	rt, err := sockrt.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := rt.Listen(tr.Listen(t), h, onTransport(tr, lopts))
	if err != nil {
		t.Fatal(err)
	}
	if err := rt.Start(ctx5(t)); err != nil {
		t.Fatal(err)
	}
	s := &server{rt: rt, ln: ln, addr: ln.Addr().String(), tr: tr, rec: newRecorder(t, rt.System())}
	s.url = tr.URL(s.addr)
	if err := rt.Subscribe(s.rec.PID, events.MaskAll); err != nil {
		t.Fatal(err)
	}
	shutdownAtEnd(t, rt, fds, 5*time.Second)
	return s
}

var nop = actors.HandlerFunc(func(*actors.Context) {})

func TestPullModeRecvAndFDReadReenabling(t *testing.T) {
	eachTransportMode(t, func(t *testing.T, tr socktest.Transport, mode actors.Dispatch) {
		s := startRTOn(t, tr, sockrt.Options{}, actors.ListenOptions{Dispatch: mode, Pull: true}, nop)
		c := s.dial(t)
		id := s.rec.Accepted(t, 1)
		pid := s.rt.SocketPID(id)
		if _, err := s.rt.Recv(ctx5(t), pid, 100); !errors.Is(err, winsock.ErrWouldBlock) {
			t.Fatalf("Recv on empty: %v, want WSAEWOULDBLOCK", err)
		}
		if _, err := c.Write([]byte("hello")); err != nil {
			t.Fatal(err)
		}
		socktest.WaitFor(t, "FD_READ", func() bool { return s.rec.Count(id, events.FDRead) == 1 })
		if _, err := c.Write([]byte(" world")); err != nil {
			t.Fatal(err)
		}
		socktest.WaitFor(t, "bytes buffered", func() bool {
			info, err := s.rt.Info(ctx5(t), pid)
			return err == nil && info.QueuedIn == 11
		})
		if n := s.rec.Count(id, events.FDRead); n != 1 {
			t.Fatalf("%d FD_READ before any Recv, want 1 (re-enabling rule)", n)
		}
		got, err := s.rt.Recv(ctx5(t), pid, 5)
		if err != nil || string(got) != "hello" {
			t.Fatalf("Recv(5) = %q, %v", got, err)
		}
		// Data remains: the Recv re-enabled FD_READ and posts it again.
		socktest.WaitFor(t, "second FD_READ", func() bool { return s.rec.Count(id, events.FDRead) == 2 })
		got, err = s.rt.Recv(ctx5(t), pid, 100)
		if err != nil || string(got) != " world" {
			t.Fatalf("Recv(100) = %q, %v", got, err)
		}
		if _, err := s.rt.Recv(ctx5(t), pid, 100); !errors.Is(err, winsock.ErrWouldBlock) {
			t.Fatalf("drained Recv: %v, want WSAEWOULDBLOCK", err)
		}
		// Peer FIN with unread data: the data first, then 0 bytes, code 0.
		if _, err := c.Write([]byte("tail")); err != nil {
			t.Fatal(err)
		}
		socktest.WaitFor(t, "third FD_READ", func() bool { return s.rec.Count(id, events.FDRead) == 3 })
		c.Close()
		s.rec.CloseEvent(t, id)
		got, err = s.rt.Recv(ctx5(t), pid, 100)
		if err != nil || string(got) != "tail" {
			t.Fatalf("Recv after FIN = %q, %v; want the unread tail", got, err)
		}
		got, err = s.rt.Recv(ctx5(t), pid, 100)
		if err != nil || len(got) != 0 {
			t.Fatalf("Recv after drain = %q, %v; want 0 bytes, code 0", got, err)
		}
	})
}

func TestPullModeAfterResetAndAfterBan(t *testing.T) {
	eachTransportMode(t, func(t *testing.T, tr socktest.Transport, mode actors.Dispatch) {
		s := startRTOn(t, tr, sockrt.Options{Linger: time.Second}, actors.ListenOptions{Dispatch: mode, Pull: true}, nop)
		// Reset by the peer: WSAECONNRESET.
		c := s.dial(t)
		id := s.rec.Accepted(t, 1)
		peerReset(t, s, c, s.rt.SocketPID(id))
		s.rec.CloseEvent(t, id)
		if _, err := s.rt.Recv(ctx5(t), s.rt.SocketPID(id), 10); !errors.Is(err, winsock.ErrConnReset) {
			t.Fatalf("Recv after RST: %v, want WSAECONNRESET", err)
		}
		// After RecvDisconnect: WSAESHUTDOWN.
		s.dial(t)
		pid := s.rt.SocketPID(s.rec.Accepted(t, 2))
		if _, err := s.rt.RecvDisconnect(ctx5(t), pid); err != nil {
			t.Fatal(err)
		}
		if _, err := s.rt.Recv(ctx5(t), pid, 10); !errors.Is(err, winsock.ErrShutdown) {
			t.Fatalf("Recv after ban: %v, want WSAESHUTDOWN", err)
		}
	})
}

func TestPullBufferIsCoveredByTheBan(t *testing.T) {
	for _, policy := range []actors.BanPolicy{actors.BanReset, actors.BanDiscard} {
		t.Run(policy.String(), func(t *testing.T) {
			eachTransportMode(t, func(t *testing.T, tr socktest.Transport, mode actors.Dispatch) {
				s := startRTOn(t, tr, sockrt.Options{BanPolicy: policy}, actors.ListenOptions{Dispatch: mode, Pull: true}, nop)
				c := s.dial(t)
				id := s.rec.Accepted(t, 1)
				pid := s.rt.SocketPID(id)
				if _, err := c.Write([]byte("unread")); err != nil {
					t.Fatal(err)
				}
				socktest.WaitFor(t, "FD_READ", func() bool { return s.rec.Count(id, events.FDRead) == 1 })
				if _, err := s.rt.RecvDisconnect(ctx5(t), pid); err != nil {
					t.Fatalf("RecvDisconnect: %v", err)
				}
				if policy == actors.BanReset {
					if ev := s.rec.CloseEvent(t, id); ev.Reason != "recv-ban" {
						t.Fatalf("FD_CLOSE = %v, want recv-ban (unread bytes at ban time)", ev)
					}
					if err := readUntilErr(c); !tr.Aborted(err) {
						t.Fatalf("client over %s: %v, want ECONNRESET (unix: EOF)", tr, err)
					}
					return
				}
				info, err := s.rt.Info(ctx5(t), pid)
				if err != nil || info.BannedBytes != 6 || info.QueuedIn != 0 {
					t.Fatalf("info %+v, %v; want the 6 unread bytes banned", info, err)
				}
			})
		})
	}
}

// fillUntilBlocked sends chunks until Send is refused, returning the bytes
// accepted. Bounded by max bytes.
func fillUntilBlocked(t *testing.T, s *server, pid *actor.PID, chunk []byte, max int) int {
	t.Helper()
	sent := 0
	for sent < max {
		n, err := s.rt.Send(ctx5(t), pid, chunk)
		if errors.Is(err, winsock.ErrWouldBlock) {
			if n != 0 {
				t.Fatalf("refused Send queued %d bytes", n)
			}
			return sent
		}
		if err != nil {
			t.Fatal(err)
		}
		sent += n
	}
	t.Fatalf("no back-pressure after %d bytes", sent)
	return 0
}

func TestSendBackPressureAndFDWrite(t *testing.T) {
	eachTransportMode(t, func(t *testing.T, tr socktest.Transport, mode actors.Dispatch) {
		const hwm = 256 << 10
		s := startRTOn(t, tr, sockrt.Options{SendHighWater: hwm}, actors.ListenOptions{Dispatch: mode}, nop)
		c := s.dial(t) // not reading yet: the kernel buffers fill, then the runtime's
		id := s.rec.Accepted(t, 1)
		pid := s.rt.SocketPID(id)
		chunk := bytes.Repeat([]byte("x"), 32<<10)
		sent := fillUntilBlocked(t, s, pid, chunk, 256<<20)
		info, err := s.rt.Info(ctx5(t), pid)
		if err != nil || info.QueuedOut > hwm+int64(len(chunk)) {
			t.Fatalf("queued out %d over the mark %d (%v)", info.QueuedOut, hwm, err)
		}
		// One FD_WRITE at open (the socket is writable from the start),
		// none since the refusal.
		if n := s.rec.Count(id, events.FDWrite); n != 1 {
			t.Fatalf("%d FD_WRITE before draining, want only the one at open", n)
		}
		// Drain: FD_WRITE, then SendDisconnect flushes what is queued.
		done := make(chan int64, 1)
		go func() {
			n, _ := io.Copy(io.Discard, c)
			done <- n
		}()
		socktest.WaitFor(t, "FD_WRITE", func() bool { return s.rec.Count(id, events.FDWrite) == 2 })
		if err := s.rt.SendDisconnect(ctx5(t), pid); err != nil {
			t.Fatal(err)
		}
		if n := <-done; n != int64(sent) {
			t.Fatalf("client read %d bytes, want every accepted byte (%d)", n, sent)
		}
		if _, err := s.rt.Send(ctx5(t), pid, chunk); !errors.Is(err, winsock.ErrShutdown) {
			t.Fatalf("Send after SendDisconnect: %v, want WSAESHUTDOWN", err)
		}
	})
}

func TestDialConnectsAndPublishesFDConnect(t *testing.T) {
	eachTransportMode(t, func(t *testing.T, tr socktest.Transport, mode actors.Dispatch) {
		s := startRTOn(t, tr, sockrt.Options{}, actors.ListenOptions{}, echo)
		got := make(chan string, 4)
		h := actors.HandlerFunc(func(c *actors.Context) {
			switch m := c.Message().(type) {
			case *events.Event:
				if m.EventKind() == events.FDConnect && m.Code == 0 {
					_, _ = c.WriteString("ping")
				}
			case *actors.Received:
				got <- string(m.Data)
			}
		})
		pid, err := s.rt.Dial(ctx5(t), s.url, h, dialOn(tr, actors.DialOptions{SocketOptions: actors.SocketOptions{Dispatch: mode}}))
		if err != nil {
			t.Fatal(err)
		}
		id := actors.SocketIDOf(pid)
		select {
		case m := <-got:
			if m != "ping" {
				t.Fatalf("echo through the dialled socket: %q", m)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("no echo")
		}
		s.rec.Wait(t, id, events.FDConnect)
		evs := s.rec.Of(id)
		if len(evs) == 0 || evs[0].EventKind() != events.FDConnect || evs[0].Code != 0 || evs[0].Reason != "connect" {
			t.Fatalf("first event of the dialled socket: %v", evs)
		}
		info, err := s.rt.Info(ctx5(t), pid)
		if err != nil || info.State != "open" || info.ListenerId != 0 {
			t.Fatalf("info %+v %v", info, err)
		}
		if _, err := s.rt.RecvDisconnect(ctx5(t), pid); err != nil {
			t.Fatal(err)
		}
		r, err := s.rt.System().Root.RequestFuture(pid, &actors.Connect{}, 5*time.Second).Result()
		if err != nil || r.(*actors.ConnectResult).Code != uint32(winsock.WSAEISCONN) {
			t.Fatalf("Connect after RecvDisconnect: %v %v, want WSAEISCONN (circuit up)", r, err)
		}
		if err := s.rt.Close(ctx5(t), pid); err != nil {
			t.Fatal(err)
		}
	})
}

func TestDialFailures(t *testing.T) {
	s := startRT(t, sockrt.Options{}, actors.ListenOptions{}, echo)
	// A port with nothing listening: refused.
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	closed := l.Addr().String()
	l.Close()
	pid, err := s.rt.Dial(ctx5(t), "tcp://"+closed, nop, actors.DialOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ev := s.rec.Wait(t, actors.SocketIDOf(pid), events.FDConnect)
	if ev.Code != uint32(winsock.WSAECONNREFUSED) {
		t.Fatalf("FD_CONNECT = %v, want WSAECONNREFUSED", ev)
	}
	if n := s.rec.Count(actors.SocketIDOf(pid), events.FDClose); n != 0 {
		t.Fatalf("a dial that never connected emitted FD_CLOSE")
	}
	if _, err := s.rt.RecvDisconnect(ctx5(t), pid); !errors.Is(err, winsock.ErrNotConn) {
		t.Fatalf("RecvDisconnect on a failed dial: %v, want WSAENOTCONN", err)
	}

	// A listener whose accept queue is full: the dial stays connecting.
	full := fullBacklogListener(t)
	pid, err = s.rt.Dial(ctx5(t), "tcp://"+full, nop, actors.DialOptions{Timeout: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.rt.Info(ctx5(t), pid)
	if err == nil && info.State == "connecting" {
		if _, err := s.rt.RecvDisconnect(ctx5(t), pid); !errors.Is(err, winsock.ErrNotConn) {
			t.Fatalf("RecvDisconnect while connecting: %v, want WSAENOTCONN", err)
		}
	}
	ev = s.rec.Wait(t, actors.SocketIDOf(pid), events.FDConnect)
	if ev.Code != uint32(winsock.WSAETIMEDOUT) {
		t.Fatalf("FD_CONNECT = %v, want WSAETIMEDOUT", ev)
	}
	if _, err := s.rt.Dial(ctx5(t), "sctp://127.0.0.1:1", nop, actors.DialOptions{}); !errors.Is(err, winsock.ErrInvalid) {
		t.Fatalf("Dial sctp: %v, want WSAEINVAL", err)
	}
}

// fullBacklogListener returns the address of a listening socket with a
// backlog of 0 whose queue is already filled, so further connects hang.
func fullBacklogListener(t *testing.T) string {
	t.Helper()
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Close(fd) })
	if err := syscall.Bind(fd, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Listen(fd, 0); err != nil {
		t.Fatal(err)
	}
	sa, _ := syscall.Getsockname(fd)
	addr := net.JoinHostPort("127.0.0.1", itoa(sa.(*syscall.SockaddrInet4).Port))
	// Fill the queue (backlog 0 admits one, sometimes two, on Linux).
	for i := 0; i < 3; i++ {
		d := net.Dialer{Timeout: 200 * time.Millisecond}
		if c, err := d.Dial("tcp", addr); err == nil {
			t.Cleanup(func() { c.Close() })
		}
	}
	return addr
}

func itoa(n int) string { return strconv.Itoa(n) }

func TestConnectionLimit(t *testing.T) {
	s := startRT(t, sockrt.Options{MaxConns: 2}, actors.ListenOptions{}, echo)
	a, b := dial(t, s.addr), dial(t, s.addr)
	roundTrip(t, a, "a")
	roundTrip(t, b, "b")
	// The over-limit connection is accepted and reset at once: the RST
	// may even beat connect() on loopback.
	if c, err := net.DialTimeout("tcp", s.addr, 5*time.Second); err == nil {
		defer c.Close()
		if err := readUntilErr(c); !isReset(err) && err != io.EOF {
			t.Fatalf("over-limit client: %v", err)
		}
	} else if !isReset(err) {
		t.Fatalf("over-limit dial: %v", err)
	}
	id := s.rec.Accepted(t, 3)
	if ev := s.rec.CloseEvent(t, id); ev.Code != uint32(winsock.WSAENOBUFS) || ev.Reason != "limit" {
		t.Fatalf("third connection FD_CLOSE = %v, want 10055 limit", ev)
	}
	if st := s.rt.Stats(); st.Conns.LimitHits != 1 || st.Sockets.Closed["limit"] != 1 {
		t.Fatalf("stats %+v", st)
	}
	roundTrip(t, a, "still fine")
}

func TestIdleTimeout(t *testing.T) {
	socktest.EachMode(t, modes, func(t *testing.T, mode actors.Dispatch) {
		// Long enough that a loaded machine never stalls the round trip
		// past it: the test is about the close's code and reason.
		s := startRT(t, sockrt.Options{IdleTimeout: time.Second}, actors.ListenOptions{Dispatch: mode}, echo)
		c := dial(t, s.addr)
		roundTrip(t, c, "alive")
		id := s.rec.Accepted(t, 1)
		ev := s.rec.CloseEvent(t, id)
		if ev.Code != uint32(winsock.WSAETIMEDOUT) || ev.Reason != "timeout" || !ev.Local {
			t.Fatalf("FD_CLOSE = %v, want 10060 timeout", ev)
		}
	})
}

func TestFloodAfterBanUnderDiscardKeepsMemoryFlat(t *testing.T) {
	s := startRT(t, sockrt.Options{BanPolicy: actors.BanDiscard}, actors.ListenOptions{}, echo)
	c := dial(t, s.addr)
	pid := s.rt.SocketPID(s.rec.Accepted(t, 1))
	if _, err := s.rt.RecvDisconnect(ctx5(t), pid); err != nil {
		t.Fatal(err)
	}
	var before, after goruntime.MemStats
	goruntime.GC()
	goruntime.ReadMemStats(&before)
	const flood = 64 << 20
	chunk := make([]byte, 64<<10)
	for sent := 0; sent < flood; sent += len(chunk) {
		_ = c.SetWriteDeadline(time.Now().Add(5 * time.Second))
		if _, err := c.Write(chunk); err != nil {
			t.Fatal(err)
		}
	}
	socktest.WaitFor(t, "flood counted", func() bool {
		info, err := s.rt.Info(ctx5(t), pid)
		return err == nil && info.BannedBytes == flood
	})
	goruntime.ReadMemStats(&after)
	if grew := int64(after.HeapAlloc) - int64(before.HeapAlloc); grew > 16<<20 {
		t.Fatalf("heap grew %d bytes under a %d-byte flood after the ban", grew, flood)
	}
	t.Logf("64 MiB flood after RecvDisconnect(discard): heap %d -> %d bytes (Sys %d -> %d)",
		before.HeapAlloc, after.HeapAlloc, before.Sys, after.Sys)
}

func TestRepliesNameTheSocketAsSender(t *testing.T) {
	s := startRT(t, sockrt.Options{}, actors.ListenOptions{}, echo)
	dial(t, s.addr)
	dial(t, s.addr)
	pids := []*actor.PID{s.rt.SocketPID(s.rec.Accepted(t, 1)), s.rt.SocketPID(s.rec.Accepted(t, 2))}
	got := make(chan [2]uint64, 2)
	asker := s.rt.System().Root.Spawn(actor.PropsFromFunc(func(c actor.Context) {
		switch m := c.Message().(type) {
		case []*actor.PID:
			for _, p := range m {
				c.Request(p, &actors.Info{})
			}
		case *actors.SocketInfo:
			got <- [2]uint64{actors.SocketIDOf(c.Sender()), m.Socket}
		}
	}))
	s.rt.System().Root.Send(asker, pids)
	for i := 0; i < 2; i++ {
		select {
		case g := <-got:
			if g[0] == 0 || g[0] != g[1] {
				t.Fatalf("reply from socket %d names sender %d", g[1], g[0])
			}
		case <-time.After(5 * time.Second):
			t.Fatal("no reply")
		}
	}
}
