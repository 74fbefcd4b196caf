package runtime_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/sockactor/sockactor/actors"
	"github.com/sockactor/sockactor/events"
	"github.com/sockactor/sockactor/internal/socktest"
	sockrt "github.com/sockactor/sockactor/runtime"
	"github.com/sockactor/sockactor/winsock"
)

// Half-close (docs/SEMANTICS.md §5): after the peer's FIN the socket posts
// FD_CLOSE 0 peer-close and stays writable until it is closed or its linger
// expires. Every test runs under both dispatch modes.

// readAll reads c to EOF (or an error) within 10 s.
func readAll(t *testing.T, c net.Conn) ([]byte, error) {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	return io.ReadAll(c)
}

func TestHalfClosedClientGetsItsAnswer(t *testing.T) {
	eachTransportMode(t, func(t *testing.T, tr socktest.Transport, mode actors.Dispatch) {
		s := startServer(t, serverOpts{tr: tr, dispatch: mode})
		c := s.dial(t)
		if _, err := c.Write([]byte("hello")); err != nil {
			t.Fatal(err)
		}
		if err := c.CloseWrite(); err != nil { // like nc -N
			t.Fatal(err)
		}
		got, err := readAll(t, c)
		if err != nil || string(got) != "hello" {
			t.Fatalf("half-closed client read %q, %v; want the echo, then EOF", got, err)
		}
		ev := s.rec.CloseEvent(t, s.rec.AcceptedFor(t, c).SocketId)
		if ev.Reason != "peer-close" || ev.Code != 0 || ev.Local {
			t.Fatalf("FD_CLOSE = %v, want 0 peer-close, not local", ev)
		}
	})
}

// bigAnswer writes size bytes of a pattern when it receives "go", then
// closes wrote (if set).
type bigAnswer struct {
	size  int
	wrote chan struct{}
}

func (b bigAnswer) Receive(c *actors.Context) {
	if m, ok := c.Message().(*actors.Received); ok && bytes.Contains(m.Data, []byte("go")) {
		if _, err := c.Write(pattern(b.size)); err != nil {
			panic(err)
		}
		if b.wrote != nil {
			close(b.wrote)
		}
	}
}

func pattern(n int) []byte {
	p := make([]byte, n)
	for i := range p {
		p[i] = byte(i % 251)
	}
	return p
}

// TestHalfCloseKeepsBytesGnetHadNotWritten: the answer is far larger than
// the socket buffers, and the client reads only after its FIN was
// processed, so gnet holds most of it when it closes its descriptor at end
// of stream. Every byte must still arrive, then a graceful EOF.
func TestHalfCloseKeepsBytesGnetHadNotWritten(t *testing.T) {
	const size = 3 << 20
	eachTransportMode(t, func(t *testing.T, tr socktest.Transport, mode actors.Dispatch) {
		wrote := make(chan struct{})
		s := startRTOn(t, tr, sockrt.Options{Linger: time.Minute}, actors.ListenOptions{Dispatch: mode}, bigAnswer{size, wrote})
		c := s.dial(t)
		if _, err := c.Write([]byte("go")); err != nil {
			t.Fatal(err)
		}
		if err := c.CloseWrite(); err != nil {
			t.Fatal(err)
		}
		id := s.rec.AcceptedFor(t, c).SocketId
		s.rec.CloseEvent(t, id) // the FIN is processed: gnet let its descriptor go
		<-wrote                 // (pooled: the handler runs apart from the loop)
		pid := s.rt.SocketPID(id)
		if err := s.rt.Close(ctx5(t), pid); err != nil { // graceful: flush, then FIN
			t.Fatal(err)
		}
		got, err := readAll(t, c)
		if err != nil || !bytes.Equal(got, pattern(size)) {
			t.Fatalf("read %d bytes (%v), want all %d in order", len(got), err, size)
		}
		if st := s.rt.Stats(); st.Conns.SendDropped != 0 {
			t.Fatalf("SendDropped = %d, want 0", st.Conns.SendDropped)
		}
	})
}

// halfOpenSocket connects a client to s and half-closes it (CloseWrite),
// returning once the server side has posted its FD_CLOSE peer-close.
func halfOpenSocket(t *testing.T, s *server) (socktest.Conn, uint64, *actor.PID) {
	t.Helper()
	c := s.dial(t)
	id := s.rec.AcceptedFor(t, c).SocketId
	if err := c.CloseWrite(); err != nil {
		t.Fatal(err)
	}
	s.rec.CloseEvent(t, id)
	return c, id, s.rt.SocketPID(id)
}

func TestHalfOpenSocketStaysWritable(t *testing.T) {
	eachTransportMode(t, func(t *testing.T, tr socktest.Transport, mode actors.Dispatch) {
		s := startRTOn(t, tr, sockrt.Options{Linger: time.Minute}, actors.ListenOptions{Dispatch: mode}, nop)
		c, id, pid := halfOpenSocket(t, s)
		info, err := s.rt.Info(ctx5(t), pid)
		if err != nil || info.State != "closed" || info.SendShut || info.CloseReason != "peer-close" {
			t.Fatalf("Info of a half-open socket = %v, %v", info, err)
		}
		if n, err := s.rt.Send(ctx5(t), pid, []byte("still here")); err != nil || n != 10 {
			t.Fatalf("Send after the peer's FIN = %d, %v", n, err)
		}
		if err := s.rt.SendDisconnect(ctx5(t), pid); err != nil {
			t.Fatalf("SendDisconnect after the peer's FIN: %v", err)
		}
		got, err := readAll(t, c)
		if err != nil || string(got) != "still here" {
			t.Fatalf("client read %q, %v; want the Send, then EOF from SendDisconnect", got, err)
		}
		if _, err := s.rt.Send(ctx5(t), pid, []byte("x")); !errors.Is(err, winsock.ErrShutdown) {
			t.Fatalf("Send after SendDisconnect: %v, want WSAESHUTDOWN", err)
		}
		info, err = s.rt.Info(ctx5(t), pid)
		if err != nil || !info.SendShut {
			t.Fatalf("Info after SendDisconnect = %v, %v; want send_shut", info, err)
		}
		if err := s.rt.Close(ctx5(t), pid); err != nil {
			t.Fatal(err)
		}
		if _, err := s.rt.Info(ctx5(t), pid); !errors.Is(err, winsock.ErrNotSock) {
			t.Fatalf("Info after Close: %v, want WSAENOTSOCK", err)
		}
		if n := s.rec.Count(id, events.FDClose); n != 1 {
			t.Fatalf("%d FD_CLOSE, want exactly one", n)
		}
	})
}

func TestHalfOpenAbortResetsAndLingerClosesGracefully(t *testing.T) {
	eachTransportMode(t, func(t *testing.T, tr socktest.Transport, mode actors.Dispatch) {
		s := startRTOn(t, tr, sockrt.Options{Linger: 200 * time.Millisecond}, actors.ListenOptions{Dispatch: mode}, nop)

		aborted := s.dial(t)
		abortedID := s.rec.AcceptedFor(t, aborted).SocketId
		lingering := s.dial(t)
		lingeringID := s.rec.AcceptedFor(t, lingering).SocketId
		for _, c := range []socktest.Conn{aborted, lingering} {
			if err := c.CloseWrite(); err != nil {
				t.Fatal(err)
			}
		}
		s.rec.CloseEvent(t, abortedID)
		s.rec.CloseEvent(t, lingeringID)
		if _, err := s.rt.Send(ctx5(t), s.rt.SocketPID(lingeringID), []byte("bye")); err != nil {
			t.Fatal(err)
		}
		if err := s.rt.Abort(ctx5(t), s.rt.SocketPID(abortedID)); err != nil {
			t.Fatal(err)
		}
		if err := readUntilErr(aborted); !tr.Aborted(err) {
			t.Fatalf("Abort of a half-open socket over %s: client got %v, want ECONNRESET (unix: EOF)", tr, err)
		}
		// Nobody closes the other one: the linger expires and closes it
		// gracefully, after its bytes.
		got, err := readAll(t, lingering)
		if err != nil || string(got) != "bye" {
			t.Fatalf("lingering half-open socket: client read %q, %v; want \"bye\" then EOF", got, err)
		}
		socktest.WaitFor(t, "the lingering socket to release itself", func() bool {
			_, err := s.rt.Info(ctx5(t), s.rt.SocketPID(lingeringID))
			return errors.Is(err, winsock.ErrNotSock)
		})
		socktest.WaitFor(t, "no half-open connection left", func() bool { return s.rt.Stats().Conns.HalfOpen == 0 })
	})
}

func TestHalfOpenPeerResetFailsSendsWithConnReset(t *testing.T) {
	eachTransportMode(t, func(t *testing.T, tr socktest.Transport, mode actors.Dispatch) {
		s := startRTOn(t, tr, sockrt.Options{Linger: time.Minute}, actors.ListenOptions{Dispatch: mode}, nop)
		c, id, pid := halfOpenSocket(t, s)
		peerReset(t, s, c, pid) // RST (unix: a close with bytes unread)
		var err error
		socktest.WaitFor(t, "a Send to fail after the peer's reset", func() bool {
			_, err = s.rt.Send(ctx5(t), pid, []byte("x"))
			return err != nil
		})
		if !errors.Is(err, winsock.ErrConnReset) {
			t.Fatalf("Send after the peer reset its half: %v, want WSAECONNRESET", err)
		}
		if n := s.rec.Count(id, events.FDClose); n != 1 {
			t.Fatalf("%d FD_CLOSE, want exactly one", n)
		}
	})
}

func TestShutdownClosesHalfOpenSockets(t *testing.T) {
	eachTransportMode(t, func(t *testing.T, tr socktest.Transport, mode actors.Dispatch) {
		rt, err := sockrt.New(sockrt.Options{EventLoops: 2, Linger: time.Minute})
		if err != nil {
			t.Fatal(err)
		}
		wrote := make(chan struct{})
		ln, err := rt.Listen(tr.Listen(t), bigAnswer{1 << 20, wrote}, onTransport(tr, actors.ListenOptions{Dispatch: mode}))
		if err != nil {
			t.Fatal(err)
		}
		if err := rt.Start(ctx5(t)); err != nil {
			t.Fatal(err)
		}
		rec := newRecorder(t, rt.System())
		_ = rt.Subscribe(rec.PID, events.MaskAll)
		c := tr.Dial(t, ln.Addr().String())
		_, _ = c.Write([]byte("go"))
		_ = c.CloseWrite()
		rec.CloseEvent(t, rec.AcceptedFor(t, c).SocketId)
		<-wrote
		if _, err := rt.Info(ctx5(t), rt.SocketPID(rec.AcceptedFor(t, c).SocketId)); err != nil {
			t.Fatal(err) // a round trip: a pooled Write has reached the loop
		}
		if rt.Stats().Conns.HalfOpen != 1 {
			t.Fatalf("HalfOpen = %d, want 1", rt.Stats().Conns.HalfOpen)
		}
		done := make(chan error, 1)
		go func() { done <- rt.Shutdown(ctx5(t)) }()
		got, err := readAll(t, c) // the queued answer is flushed before the close
		if err != nil || len(got) != 1<<20 {
			t.Fatalf("read %d bytes, %v; want the whole answer then EOF", len(got), err)
		}
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	})
}

// TestRecvDisconnectAfterFDCloseBans: §3.9, in pull mode (buffered bytes)
// and pooled push mode (Received waiting in the handler's queue).
func TestRecvDisconnectAfterFDCloseBans(t *testing.T) {
	t.Run("pull", func(t *testing.T) {
		eachTransportMode(t, func(t *testing.T, tr socktest.Transport, mode actors.Dispatch) {
			s := startRTOn(t, tr, sockrt.Options{Linger: time.Minute}, actors.ListenOptions{Dispatch: mode, Pull: true}, nop)
			c := s.dial(t)
			id := s.rec.AcceptedFor(t, c).SocketId
			pid := s.rt.SocketPID(id)
			_, _ = c.Write([]byte("unread"))
			_ = c.CloseWrite()
			s.rec.CloseEvent(t, id)
			if data, err := s.rt.RecvDisconnect(ctx5(t), pid); err != nil || len(data) != 0 {
				t.Fatalf("RecvDisconnect after FD_CLOSE = %q, %v", data, err)
			}
			if data, err := s.rt.Recv(ctx5(t), pid, 100); !errors.Is(err, winsock.ErrShutdown) || len(data) != 0 {
				t.Fatalf("Recv after the ban = %q, %v; want WSAESHUTDOWN", data, err)
			}
			info, err := s.rt.Info(ctx5(t), pid)
			if err != nil || !info.RecvShut || info.BannedBytes != uint64(len("unread")) || info.QueuedIn != 0 {
				t.Fatalf("Info after the ban = %v, %v", info, err)
			}
		})
	})
	t.Run("pooled", func(t *testing.T) {
		socktest.EachTransport(t, transports, func(t *testing.T, tr socktest.Transport) {
			h := &blockingHandler{entered: make(chan struct{}), release: make(chan struct{})}
			s := startRTOn(t, tr, sockrt.Options{Linger: time.Minute}, actors.ListenOptions{Dispatch: actors.Pooled}, h)
			c := s.dial(t)
			id := s.rec.AcceptedFor(t, c).SocketId
			pid := s.rt.SocketPID(id)
			_, _ = c.Write([]byte("first"))
			<-h.entered
			queued := 0
			for i := 0; i < 5; i++ {
				msg := fmt.Sprintf("queued-%d", i)
				queued += len(msg)
				_, _ = c.Write([]byte(msg))
				time.Sleep(2 * time.Millisecond) // separate reads, not a correctness wait
			}
			_ = c.CloseWrite()
			s.rec.CloseEvent(t, id) // published at once; the handler sees it after its queue
			replied := make(chan error, 1)
			go func() {
				_, err := s.rt.RecvDisconnect(ctx5(t), pid)
				replied <- err
			}()
			socktest.WaitFor(t, "queued bytes counted as banned", func() bool {
				info, err := s.rt.Info(ctx5(t), pid)
				return err == nil && info.BannedBytes == uint64(queued)
			})
			close(h.release)
			if err := <-replied; err != nil {
				t.Fatalf("RecvDisconnect after FD_CLOSE: %v", err)
			}
			if got := h.received.Load(); got != int64(len("first")) {
				t.Fatalf("handler received %d bytes, want only the %d before the ban", got, len("first"))
			}
		})
	})
}

// eventLog records the kinds a handler sees, in order.
type eventLog struct {
	mu    sync.Mutex
	kinds map[uint64][]events.Kind
}

func (l *eventLog) Receive(c *actors.Context) {
	if ev, ok := c.Message().(*events.Event); ok {
		l.mu.Lock()
		if l.kinds == nil {
			l.kinds = map[uint64][]events.Kind{}
		}
		l.kinds[c.ID()] = append(l.kinds[c.ID()], ev.EventKind())
		l.mu.Unlock()
	}
}

func (l *eventLog) of(id uint64) []events.Kind {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]events.Kind(nil), l.kinds[id]...)
}

func kindsOf(evs []*events.Event) []events.Kind {
	out := make([]events.Kind, len(evs))
	for i, ev := range evs {
		out[i] = ev.EventKind()
	}
	return out
}

func TestFDWriteWhenASocketOpens(t *testing.T) {
	eachTransportMode(t, func(t *testing.T, tr socktest.Transport, mode actors.Dispatch) {
		log := &eventLog{}
		s := startRTOn(t, tr, sockrt.Options{}, actors.ListenOptions{Dispatch: mode}, log)
		writeOnly := newRecorder(t, s.rt.System())
		if err := s.rt.Subscribe(writeOnly.PID, events.MaskOf(events.FDWrite)); err != nil {
			t.Fatal(err)
		}
		c := s.dial(t)
		id := s.rec.AcceptedFor(t, c).SocketId
		want := []events.Kind{events.FDAccept, events.FDWrite}
		socktest.WaitFor(t, "FD_ACCEPT, FD_WRITE at the handler", func() bool { return len(log.of(id)) >= 2 })
		if got := log.of(id); fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("handler saw %v, want %v", got, want)
		}
		socktest.WaitFor(t, "FD_WRITE at the subscriber", func() bool { return writeOnly.Count(id, events.FDWrite) == 1 })

		// A dial: FD_CONNECT, then FD_WRITE.
		dlog := &eventLog{}
		pid, err := s.rt.Dial(ctx5(t), s.url, dlog, dialOn(tr, actors.DialOptions{SocketOptions: actors.SocketOptions{Dispatch: mode}}))
		if err != nil {
			t.Fatal(err)
		}
		did := actors.SocketIDOf(pid)
		want = []events.Kind{events.FDConnect, events.FDWrite}
		socktest.WaitFor(t, "FD_CONNECT, FD_WRITE", func() bool { return len(dlog.of(did)) >= 2 })
		if got := dlog.of(did); fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("dialling handler saw %v, want %v", got, want)
		}
		socktest.WaitFor(t, "the dial's events at the subscriber", func() bool { return len(s.rec.Of(did)) >= 2 })
		if got := kindsOf(s.rec.Of(did)); fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("subscriber saw %v for the dial, want %v", got, want)
		}
		// Let the server side of the dial open before closing: gnet drops
		// (and leaks) a connection accepted in the instant its engine
		// stops, which the cleanup's fd check would report.
		local := s.rec.Of(did)[0].LocalAddr
		socktest.WaitFor(t, "the server side of the dial", func() bool {
			return s.rec.Find(func(ev *events.Event) bool {
				return ev.EventKind() == events.FDAccept && ev.RemoteAddr == local
			}) != nil
		})
		_ = s.rt.Close(ctx5(t), pid)
	})
}

func TestSubscribeWithFDReadWhileDataWaits(t *testing.T) {
	eachTransportMode(t, func(t *testing.T, tr socktest.Transport, mode actors.Dispatch) {
		s := startRTOn(t, tr, sockrt.Options{}, actors.ListenOptions{Dispatch: mode, Pull: true}, nop)
		c := s.dial(t)
		id := s.rec.AcceptedFor(t, c).SocketId
		pid := s.rt.SocketPID(id)
		_, _ = c.Write([]byte("waiting"))
		s.rec.Wait(t, id, events.FDRead)
		late := newRecorder(t, s.rt.System())
		if err := s.rt.Caller.Subscribe(ctx5(t), pid, late.PID, events.MaskOf(events.FDRead, events.FDClose)); err != nil {
			t.Fatal(err)
		}
		socktest.WaitFor(t, "the late subscriber's FD_READ", func() bool { return late.Count(id, events.FDRead) == 1 })
		// It was one notification for that subscriber, not a re-post.
		if n := s.rec.Count(id, events.FDRead); n != 1 {
			t.Fatalf("the first subscriber got %d FD_READ, want 1", n)
		}
	})
}

func TestNoFDReadAfterFDClose(t *testing.T) {
	eachTransportMode(t, func(t *testing.T, tr socktest.Transport, mode actors.Dispatch) {
		s := startRTOn(t, tr, sockrt.Options{Linger: time.Minute}, actors.ListenOptions{Dispatch: mode, Pull: true}, nop)
		c := s.dial(t)
		id := s.rec.AcceptedFor(t, c).SocketId
		pid := s.rt.SocketPID(id)
		_, _ = c.Write([]byte("0123456789"))
		socktest.WaitFor(t, "bytes buffered", func() bool {
			info, err := s.rt.Info(ctx5(t), pid)
			return err == nil && info.QueuedIn == 10
		})
		_ = c.CloseWrite()
		s.rec.CloseEvent(t, id)
		// Recv leaves data: before FD_CLOSE this posts the next FD_READ.
		for i := 0; i < 5; i++ {
			if data, err := s.rt.Recv(ctx5(t), pid, 2); err != nil || len(data) != 2 {
				t.Fatalf("Recv %d = %q, %v", i, data, err)
			}
		}
		if data, err := s.rt.Recv(ctx5(t), pid, 2); err != nil || len(data) != 0 {
			t.Fatalf("Recv past the end = %q, %v; want 0 bytes, 0", data, err)
		}
		if _, err := s.rt.Info(ctx5(t), pid); err != nil { // a round trip through the mailbox
			t.Fatal(err)
		}
		evs := s.rec.Of(id)
		if last := evs[len(evs)-1]; last.EventKind() != events.FDClose {
			t.Fatalf("events %v: FD_CLOSE is not the last", kindsOf(evs))
		}
	})
}

// TestPeerResetsAreNeverGracefulCloses: many clients reset their
// connections, some with data in flight; each must be FD_CLOSE 10054. TCP
// only: a unix peer has no RST (TestUnixPeerResetWithUnreadData).
func TestPeerResetsAreNeverGracefulCloses(t *testing.T) {
	const conns = 300
	socktest.EachMode(t, modes, func(t *testing.T, mode actors.Dispatch) {
		s := startServer(t, serverOpts{dispatch: mode, handler: nop})
		var ids []uint64
		for i := 0; i < conns; i++ {
			c := dial(t, s.addr)
			ids = append(ids, s.rec.AcceptedFor(t, c).SocketId)
			if i%2 == 0 {
				_, _ = c.Write([]byte("in flight"))
			}
			_ = c.SetLinger(0)
			c.Close()
		}
		var graceful atomic.Int64
		for _, id := range ids {
			if ev := s.rec.CloseEvent(t, id); ev.Reason != "peer-reset" || ev.Code != uint32(winsock.WSAECONNRESET) {
				graceful.Add(1)
				t.Errorf("socket %d: FD_CLOSE %d %s, want 10054 peer-reset", id, ev.Code, ev.Reason)
			}
		}
		if st := s.rt.Stats(); st.Sockets.Closed["peer-close"] != 0 {
			t.Fatalf("Stats counts %d peer-close among resets", st.Sockets.Closed["peer-close"])
		}
	})
}

// TestHalfOpenCloseServesASlowReader: closing a half-open socket flushes
// its queue for as long as the peer keeps reading; the flush deadline
// (HalfOpenFlushTimeout) counts only time in which no byte moves.
func TestHalfOpenCloseServesASlowReader(t *testing.T) {
	if testing.Short() {
		t.Skip("reads for longer than the flush deadline")
	}
	const size = 8 << 20
	payload := slowPattern(size)
	h := actors.HandlerFunc(func(c *actors.Context) {
		if ev, ok := c.Message().(*events.Event); ok && ev.EventKind() == events.FDClose && ev.Reason == "peer-close" {
			if _, err := c.Write(payload); err != nil {
				t.Errorf("Write on the half-open socket: %v", err)
			}
			c.Close() // graceful: the rest is flushed to the slow reader
		}
	})
	s := startRT(t, sockrt.Options{MaxSend: 16 << 20}, actors.ListenOptions{}, h)
	c := s.dial(t).(*net.TCPConn)
	_ = c.CloseWrite()
	got := readSlowly(t, c, payload, 64<<10, 100*time.Millisecond) // about 640 KB/s
	if got != size {
		t.Fatalf("the slow reader got %d of %d bytes", got, size)
	}
	if d := s.rt.Stats().Conns.SendDropped; d != 0 {
		t.Fatalf("%d bytes dropped", d)
	}
}

// TestPullReaderOutlastsTheLinger: a pull-mode application that keeps
// reading after the peer's FIN gets every byte, then 0 bytes, code 0,
// however many lingers its reading takes (the linger starts again while
// Recv takes bytes, docs/SEMANTICS.md §5); once it stops taking bytes the
// socket is released after about one more linger.
func TestPullReaderOutlastsTheLinger(t *testing.T) {
	const linger = 400 * time.Millisecond
	const bites, bite = 20, 2
	eachTransportMode(t, func(t *testing.T, tr socktest.Transport, mode actors.Dispatch) {
		s := startRTOn(t, tr, sockrt.Options{Linger: linger}, actors.ListenOptions{Dispatch: mode, Pull: true}, nop)
		c := s.dial(t)
		id := s.rec.AcceptedFor(t, c).SocketId
		pid := s.rt.SocketPID(id)
		want := pattern(bites * bite)
		if _, err := c.Write(want); err != nil {
			t.Fatal(err)
		}
		socktest.WaitFor(t, "bytes buffered", func() bool {
			info, err := s.rt.Info(ctx5(t), pid)
			return err == nil && info.QueuedIn == int64(len(want))
		})
		_ = c.CloseWrite()
		s.rec.CloseEvent(t, id)
		// A bite every linger/8: the reading lasts 2.5 lingers.
		var got []byte
		for i := 0; i < bites; i++ {
			time.Sleep(linger / 8)
			data, err := s.rt.Recv(ctx5(t), pid, bite)
			if err != nil {
				t.Fatalf("Recv %d, %v after FD_CLOSE: %v (released while the application was reading)", i, time.Duration(i+1)*linger/8, err)
			}
			got = append(got, data...)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("read %q, want %q", got, want)
		}
		if data, err := s.rt.Recv(ctx5(t), pid, bite); err != nil || len(data) != 0 {
			t.Fatalf("Recv past the end = %q, %v; want 0 bytes, 0", data, err)
		}
		// Now idle: released within two lingers (the one running, which
		// saw the last bites, and one more).
		start := time.Now()
		socktest.WaitFor(t, "the socket released", func() bool {
			_, err := s.rt.Info(ctx5(t), pid)
			return errors.Is(err, winsock.ErrNotSock)
		})
		if d := time.Since(start); d < linger/2 {
			t.Fatalf("released %v after the last Recv: the linger did not start again", d)
		}
	})
}

// TestPooledHandlerGetsItsAnswerAfterRelease: a pooled handler still at
// work when its socket is released (its drain outlives the release) and
// that asks its own socket something then gets WSAENOTSOCK, not silence.
// The handler takes a few bytes after FD_CLOSE, then stops (blocked) for
// longer than the linger, which then ends.
func TestPooledHandlerGetsItsAnswerAfterRelease(t *testing.T) {
	socktest.EachTransport(t, transports, func(t *testing.T, tr socktest.Transport) {
		gate := make(chan struct{})
		answers := make(chan *actors.RecvResult, 1)
		h := actors.HandlerFunc(func(c *actors.Context) {
			switch m := c.Message().(type) {
			case *events.Event:
				if m.EventKind() == events.FDClose {
					c.Recv(3)
				}
			case *actors.RecvResult:
				if len(m.Data) > 0 {
					<-gate // the test waits for the release meanwhile
					c.Recv(64)
					return
				}
				answers <- m
			}
		})
		s := startRTOn(t, tr, sockrt.Options{Linger: 50 * time.Millisecond}, actors.ListenOptions{Dispatch: actors.Pooled, Pull: true}, h)
		c := s.dial(t)
		id := s.rec.AcceptedFor(t, c).SocketId
		pid := s.rt.SocketPID(id)
		if _, err := c.Write([]byte("unread")); err != nil {
			t.Fatal(err)
		}
		_ = c.CloseWrite()
		s.rec.CloseEvent(t, id)
		socktest.WaitFor(t, "the socket released", func() bool {
			_, err := s.rt.Info(ctx5(t), pid)
			return errors.Is(err, winsock.ErrNotSock)
		})
		close(gate)
		select {
		case r := <-answers:
			if winsock.Code(r.Code) != winsock.WSAENOTSOCK || len(r.Data) != 0 {
				t.Fatalf("RecvResult %d %q, want WSAENOTSOCK", r.Code, r.Data)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("the handler's Recv on its released socket was never answered")
		}
	})
}

// TestSlowPooledHandlerAnswersAHalfClosedClient: a pooled handler that
// takes several lingers to answer a request whose client half-closed
// right after it still gets its answer out (docs/SEMANTICS.md §5: a
// socket whose pooled handler has not yet taken everything queued for it,
// FD_CLOSE last, lingers again).
func TestSlowPooledHandlerAnswersAHalfClosedClient(t *testing.T) {
	const linger = 100 * time.Millisecond
	socktest.EachTransport(t, transports, func(t *testing.T, tr socktest.Transport) {
		h := actors.HandlerFunc(func(c *actors.Context) {
			if m, ok := c.Message().(*actors.Received); ok {
				time.Sleep(5 * linger) // a slow application
				_, _ = c.Write(bytes.ToUpper(m.Data))
			}
		})
		s := startRTOn(t, tr, sockrt.Options{Linger: linger}, actors.ListenOptions{Dispatch: actors.Pooled}, h)
		c := s.dial(t)
		if _, err := c.Write([]byte("hello")); err != nil {
			t.Fatal(err)
		}
		if err := c.CloseWrite(); err != nil {
			t.Fatal(err)
		}
		if got, err := readAll(t, c); err != nil || string(got) != "HELLO" {
			t.Fatalf("half-closed client read %q, %v; want the answer, then EOF", got, err)
		}
	})
}

// streamAfterFIN writes size bytes of pattern to a peer once it has
// half-closed, a chunk at a time, coming back every 5 ms while the send
// queue refuses more (after FD_CLOSE no FD_WRITE comes, §4).
type streamAfterFIN struct{ size int }

type writeMore struct{}

func (w streamAfterFIN) Receive(c *actors.Context) {
	switch m := c.Message().(type) {
	case *events.Event:
		if m.EventKind() == events.FDClose && actors.ReasonOf(m) == actors.ReasonPeerClose {
			c.SetState(0)
			w.more(c)
		}
	case writeMore:
		w.more(c)
	}
}

func (w streamAfterFIN) more(c *actors.Context) {
	const chunk = 256 << 10
	sent := c.State().(int)
	data := pattern(w.size)
	for sent < w.size {
		n, err := c.Write(data[sent:min(w.size, sent+chunk)])
		sent += n
		if errors.Is(err, winsock.ErrWouldBlock) {
			c.After(5*time.Millisecond, writeMore{})
			break
		}
		if err != nil {
			return
		}
	}
	c.SetState(sent)
}

// TestAnswerWrittenAfterFINOutlastsTheLinger: a handler that writes a long
// answer after its client half-closed, as fast as a slow client takes it,
// gets all of it out, over many lingers: a linger in which the
// application wrote is followed by another (docs/SEMANTICS.md §5).
//
// The promise holds while something moves in every linger: a client that
// takes nothing for a whole linger while the handler waits for room ends
// the answer there, by design. So the linger is 30 times the client's
// pace, and a reader goroutine descheduled for a while on a loaded machine
// (100 ms did it, with two suites and a busy loop on two cores) does not
// count as a stopped client; the answer still spans several lingers.
func TestAnswerWrittenAfterFINOutlastsTheLinger(t *testing.T) {
	const size = 12 << 20
	eachTransportMode(t, func(t *testing.T, tr socktest.Transport, mode actors.Dispatch) {
		s := startRTOn(t, tr, sockrt.Options{Linger: 300 * time.Millisecond}, actors.ListenOptions{Dispatch: mode}, streamAfterFIN{size})
		c := s.dial(t)
		if err := c.CloseWrite(); err != nil {
			t.Fatal(err)
		}
		// 64 KiB every 10 ms: about 6 MiB/s, two seconds, six lingers or more.
		got := make([]byte, 0, size)
		buf := make([]byte, 64<<10)
		for len(got) < size {
			time.Sleep(10 * time.Millisecond)
			_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
			n, err := io.ReadFull(c, buf[:min(len(buf), size-len(got))])
			got = append(got, buf[:n]...)
			if err != nil {
				t.Fatalf("read %d of %d bytes: %v", len(got), size, err)
			}
		}
		if !bytes.Equal(got, pattern(size)) {
			t.Fatal("the answer differs from what was written")
		}
		if rest, err := readAll(t, c); err != nil || len(rest) != 0 {
			t.Fatalf("after the answer: %d bytes, %v (want EOF)", len(rest), err)
		}
	})
}
