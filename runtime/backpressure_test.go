package runtime_test

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	goruntime "runtime"
	"strings"
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

// Inbound back-pressure (docs/SEMANTICS.md §5): an application slower than
// its peer pauses the peer instead of losing the connection.

// slowDeadline bounds one slow-consumer case (it takes seconds; this is a guard)
var slowDeadline = 5 * time.Minute

// counterByte is the byte at offset i of every stream these tests send.
func counterByte(i int64) byte { return byte(i % 251) }

// produce writes total bytes of the counter stream to c as fast as the
// peer lets it, then half-closes, and reports the error that stopped it.
func produce(c net.Conn, total int64) error {
	buf := make([]byte, 256<<10)
	for sent := int64(0); sent < total; {
		n := min(int64(len(buf)), total-sent)
		for i := int64(0); i < n; i++ {
			buf[i] = counterByte(sent + i)
		}
		_ = c.SetWriteDeadline(time.Now().Add(time.Minute))
		m, err := c.Write(buf[:n])
		sent += int64(m)
		if err != nil {
			return fmt.Errorf("after %d bytes: %w", sent, err)
		}
	}
	if cw, ok := c.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}

// checker verifies a counter stream as it arrives, in order.
type checker struct {
	mu   sync.Mutex
	n    int64
	bad  int64 // offset of the first wrong byte, -1 if none
	done chan struct{}
}

func newChecker() *checker { return &checker{bad: -1, done: make(chan struct{})} }

func (k *checker) add(p []byte) {
	k.mu.Lock()
	defer k.mu.Unlock()
	for i, b := range p {
		if k.bad < 0 && b != counterByte(k.n+int64(i)) {
			k.bad = k.n + int64(i)
		}
	}
	k.n += int64(len(p))
}

func (k *checker) result() (int64, int64) {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.n, k.bad
}

// heapNow returns the live heap after a collection.
func heapNow() uint64 {
	goruntime.GC()
	var ms goruntime.MemStats
	goruntime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// slowConsumer is a handler (pooled push, or pull with a Recv loop driven
// by FD_READ) that takes its bytes at a bounded rate: delay per 64 KiB. It
// closes k.done at the stream's end: FD_CLOSE in push mode; in pull mode
// the Recv of 0 bytes, code 0, after it.
func slowConsumer(k *checker, pull bool, delay time.Duration, peak *atomic.Int64, rt func() *sockrt.Runtime) actors.Handler {
	var once sync.Once
	finish := func() { once.Do(func() { close(k.done) }) }
	return actors.HandlerFunc(func(c *actors.Context) {
		switch m := c.Message().(type) {
		case *actors.Received:
			k.add(m.Data)
			time.Sleep(delay * time.Duration(len(m.Data)) / (64 << 10))
		case *actors.RecvResult:
			switch {
			case len(m.Data) > 0:
				k.add(m.Data)
				time.Sleep(delay * time.Duration(len(m.Data)) / (64 << 10))
				c.Recv(64 << 10) // the next bite
			case m.Code == 0:
				finish() // 0 bytes, code 0: the peer's FIN, everything taken
			case winsock.Code(m.Code) != winsock.WSAEWOULDBLOCK:
				finish() // an error ends the stream: the byte count tells
			default:
				c.SetState(nil) // WSAEWOULDBLOCK: the next FD_READ starts again
			}
		case *events.Event:
			switch m.EventKind() {
			case events.FDRead:
				if c.State() == nil { // one Recv in flight at a time
					c.SetState(true)
					c.Recv(64 << 10)
				}
			case events.FDClose:
				if pull && m.Reason == "peer-close" {
					if c.State() == nil {
						c.SetState(true)
						c.Recv(64 << 10) // take what is left, then the 0
					}
				} else {
					finish()
				}
			}
		}
		if r := rt(); r == nil {
			return
		} else if b := r.Stats().Sockets.Buffered; b > peak.Load() {
			peak.Store(b)
		}
	})
}

// TestSlowApplicationPausesItsPeer: a peer sends a large stream to a pooled
// handler, or a pull-mode reader, slower than the peer: nothing is closed
// or dropped, every byte arrives in order, the peer is held by TCP's flow
// control, and the heap stays bounded by the limit, not by the stream.
func TestSlowApplicationPausesItsPeer(t *testing.T) {
	total := int64(256 << 20)
	if testing.Short() {
		total = 32 << 20
	}
	const maxIn = 1 << 20
	cases := []struct {
		name  string
		pull  bool
		delay time.Duration
	}{{"pooled", false, time.Millisecond}, {"pull", true, 2 * time.Millisecond}}
	socktest.EachTransport(t, transports, func(t *testing.T, tr socktest.Transport) {
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				size := total
				if tr.Name == socktest.Unix.Name {
					size = min(total, 32<<20) // the same path; less time
				}
				if tr.Name == socktest.TLS.Name {
					size = min(total, 8<<20) // eight times the limit; decryption under -race is slow
				}
				k := newChecker()
				var peak atomic.Int64
				var rt atomic.Pointer[sockrt.Runtime]
				h := slowConsumer(k, tc.pull, tc.delay, &peak, rt.Load)
				// The linger is not under test: a pull reader that the
				// machine's load stalls longer than startRTOn's 100 ms
				// between two bites after FD_CLOSE would lose the rest to it.
				s := startRTOn(t, tr, sockrt.Options{MaxInbound: maxIn, Linger: 30 * time.Second}, actors.ListenOptions{Dispatch: actors.Pooled, Pull: tc.pull}, h)
				rt.Store(s.rt)
				before := heapNow()
				c := s.dial(t)
				id := s.rec.Accepted(t, 1)
				errc := make(chan error, 1)
				go func() { errc <- produce(c, size) }()
				var heapPeak uint64
				deadline := time.Now().Add(slowDeadline)
				for done := false; !done; {
					select {
					case <-k.done:
						done = true
					case <-time.After(200 * time.Millisecond):
						heapPeak = max(heapPeak, heapNow()) // live heap: after a collection
						if time.Now().After(deadline) {
							n, _ := k.result()
							info, err := s.rt.Info(ctx5(t), s.rt.SocketPID(id))
							t.Fatalf("timed out with %d of %d bytes taken; socket: %v (%v)", n, size, info, err)
						}
					}
				}
				if err := <-errc; err != nil {
					t.Fatalf("producer: %v", err)
				}
				n, bad := k.result()
				if bad >= 0 || n != size {
					t.Fatalf("the application took %d of %d bytes, first wrong byte at %d", n, size, bad)
				}
				if ev := s.rec.CloseEvent(t, id); ev.Reason != "peer-close" {
					t.Fatalf("FD_CLOSE %d %s, want 0 peer-close (the stream's end)", ev.Code, ev.Reason)
				}
				st := s.rt.Stats()
				if st.LimitHits()[sockrt.LimitMaxInbound] == 0 {
					t.Fatal("the reads never paused: the consumer was not slower than its peer")
				}
				// The bound: what waits is the limit plus at most a read or
				// two while the pause takes effect.
				if p := peak.Load(); p > 2*maxIn+256<<10 {
					t.Fatalf("up to %d bytes waited for the application, limit %d", p, maxIn)
				}
				growth := int64(heapPeak) - int64(before)
				t.Logf("%d bytes in order; %d read pauses; peak waiting %d; heap growth %d KiB", n, st.LimitHits()[sockrt.LimitMaxInbound], peak.Load(), growth>>10)
				if growth > 4*maxIn+16<<20 {
					t.Fatalf("heap grew %d bytes moving %d: not bounded by the limit", growth, size)
				}
			})
		}
	})
}

// TestPausedSocketEvents: while a slow pooled handler holds a socket's
// reads paused, a peer reset is reported at once (10054), a ban under
// reset resets, a ban under discard drops and keeps the socket, and
// writes, Info and Close keep working.
func TestPausedSocketEvents(t *testing.T) {
	const maxIn = 64 << 10
	type paused struct {
		s       *server
		c       net.Conn
		id      uint64
		release func() // lets the stuck handler go on
	}
	start := func(t *testing.T, policy actors.BanPolicy) paused {
		h := &blockingHandler{entered: make(chan struct{}), release: make(chan struct{})}
		s := startRT(t, sockrt.Options{MaxInbound: maxIn, BanPolicy: policy}, actors.ListenOptions{Dispatch: actors.Pooled}, h)
		var once sync.Once
		release := func() { once.Do(func() { close(h.release) }) }
		t.Cleanup(release)
		c := dial(t, s.addr)
		id := s.rec.Accepted(t, 1)
		fillPeer(t, s, c, s.rt.SocketPID(id))
		return paused{s, c, id, release}
	}
	t.Run("reset", func(t *testing.T) {
		p := start(t, actors.BanReset)
		s, c, id := p.s, p.c, p.id
		_ = c.(*net.TCPConn).SetLinger(0)
		at := time.Now()
		_ = c.Close()
		ev := s.rec.CloseEvent(t, id)
		if ev.Reason != "peer-reset" || ev.Code != uint32(winsock.WSAECONNRESET) {
			t.Fatalf("FD_CLOSE %d %s, want 10054 peer-reset", ev.Code, ev.Reason)
		}
		d := time.Since(at)
		t.Logf("FD_CLOSE 10054 %v after the RST while paused", d)
		if d > time.Second {
			t.Fatalf("the reset took %v to be reported while paused", d)
		}
	})
	for _, policy := range []actors.BanPolicy{actors.BanReset, actors.BanDiscard} {
		t.Run("ban-"+policy.String(), func(t *testing.T) {
			p := start(t, policy)
			s, c, id := p.s, p.c, p.id
			pid := s.rt.SocketPID(id)
			// The ban takes effect on the loop at once; its reply waits for
			// the delivery in the stuck handler (§3), which goes on now.
			errc := make(chan error, 1)
			go func() { _, err := s.rt.RecvDisconnect(ctx5(t), pid); errc <- err }()
			p.release()
			if err := <-errc; err != nil {
				t.Fatalf("RecvDisconnect while paused: %v", err)
			}
			if policy == actors.BanReset {
				if ev := s.rec.CloseEvent(t, id); ev.Reason != "recv-ban" {
					t.Fatalf("FD_CLOSE %s, want recv-ban", ev.Reason)
				}
				return
			}
			// discard: the socket stays, sending works, the peer is read
			// and dropped from now on (it is no longer held).
			if _, err := s.rt.Send(ctx5(t), pid, []byte("still here")); err != nil {
				t.Fatalf("Send after the ban: %v", err)
			}
			buf := make([]byte, 10)
			_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
			if _, err := io.ReadFull(c, buf); err != nil || string(buf) != "still here" {
				t.Fatalf("client read %q, %v", buf, err)
			}
			if n := s.rec.Count(id, events.FDClose); n != 0 {
				t.Fatal("the socket closed after a discard ban")
			}
		})
	}
	t.Run("write-info-close", func(t *testing.T) {
		p := start(t, actors.BanReset)
		s, c, id := p.s, p.c, p.id
		pid := s.rt.SocketPID(id)
		if _, err := s.rt.Send(ctx5(t), pid, []byte("pong")); err != nil {
			t.Fatalf("Send while paused: %v", err)
		}
		buf := make([]byte, 4)
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err := io.ReadFull(c, buf); err != nil || string(buf) != "pong" {
			t.Fatalf("client read %q, %v", buf, err)
		}
		info, err := s.rt.Info(ctx5(t), pid)
		// Paused at the limit; the stuck handler may have taken its first
		// bytes since, but reading resumes only at a quarter of it.
		if err != nil || !info.ReadPaused || info.QueuedIn <= maxIn/4 {
			t.Fatalf("Info while paused: read_paused %v by %q, queued_in %d (%v); want paused with more than a quarter of %d waiting", info.GetReadPaused(), info.GetReadPausedBy(), info.GetQueuedIn(), err, maxIn)
		}
		if err := s.rt.Close(ctx5(t), pid); err != nil {
			t.Fatalf("Close while paused: %v", err)
		}
		if ev := s.rec.CloseEvent(t, id); ev.Reason != "local-close" {
			t.Fatalf("FD_CLOSE %s, want local-close", ev.Reason)
		}
	})
}

// fillPeer writes from c until the server's socket pid reads as paused
// by its inbound limit (Info.read_paused_by) and a write of c blocks (the
// kernel's buffers are full behind the pause), and returns the bytes
// written. A write that blocks before the pause (a busy machine) is just
// retried.
func fillPeer(t *testing.T, s *server, c net.Conn, pid *actor.PID) int64 {
	t.Helper()
	buf := make([]byte, 64<<10)
	var sent int64
	deadline := time.Now().Add(time.Minute)
	for time.Now().Before(deadline) {
		_ = c.SetWriteDeadline(time.Now().Add(300 * time.Millisecond))
		n, err := c.Write(buf)
		sent += int64(n)
		if errors.Is(err, os.ErrDeadlineExceeded) {
			info, ierr := s.rt.Info(ctx5(t), pid)
			if ierr == nil && strings.Contains(info.GetReadPausedBy(), "inbound") {
				_ = c.SetWriteDeadline(time.Time{})
				return sent
			}
			continue
		}
		if err != nil {
			t.Fatalf("client write: %v", err)
		}
	}
	t.Fatalf("%d bytes written and the socket was never paused", sent)
	return 0
}

// TestRuntimeBudgetAcrossSockets: 200 sockets whose pooled handlers are
// stuck: the sum of waiting bytes stays near MaxBuffered (each socket's own
// limit would allow far more), no socket is closed, and once the handlers
// go on, every byte arrives.
func TestRuntimeBudgetAcrossSockets(t *testing.T) {
	const n, budget, maxIn = 200, 4 << 20, 1 << 20
	release := make(chan struct{})
	var once sync.Once
	closeOnce := func(ch chan struct{}) { once.Do(func() { close(ch) }) }
	var got atomic.Int64
	h := actors.HandlerFunc(func(c *actors.Context) {
		if m, ok := c.Message().(*actors.Received); ok {
			got.Add(int64(len(m.Data)))
			<-release
		}
	})
	s := startRT(t, sockrt.Options{MaxInbound: maxIn, MaxBuffered: budget}, actors.ListenOptions{Dispatch: actors.Pooled}, h)
	var wg sync.WaitGroup
	var sent atomic.Int64
	conns := make([]net.Conn, n)
	for i := range conns {
		conns[i] = dial(t, s.addr)
	}
	for _, c := range conns {
		wg.Add(1)
		go func(c net.Conn) {
			defer wg.Done()
			buf := make([]byte, 64<<10)
			for i := 0; i < 32; i++ { // 2 MiB each, 400 MiB in all
				_ = c.SetWriteDeadline(time.Now().Add(2 * time.Second))
				m, err := c.Write(buf)
				sent.Add(int64(m))
				if err != nil {
					return // held: its writes block
				}
			}
		}(c)
	}
	wg.Wait()
	t.Cleanup(func() { closeOnce(release) })
	socktest.WaitFor(t, "a pause for the budget", func() bool { return s.rt.Stats().LimitHits()[sockrt.LimitMaxBuffered] > 0 })
	time.Sleep(200 * time.Millisecond) // what the loops had read meanwhile
	st := s.rt.Stats()
	t.Logf("waiting %d bytes over %d sockets (budget %d, %d sent, %d taken); %d budget pauses, %d inbound pauses", st.Sockets.Buffered, n, budget, sent.Load(), got.Load(), st.LimitHits()[sockrt.LimitMaxBuffered], st.LimitHits()[sockrt.LimitMaxInbound])
	if st.Sockets.Buffered > budget+n*(128<<10) {
		t.Fatalf("%d bytes wait across the sockets, budget %d", st.Sockets.Buffered, budget)
	}
	if k := len(st.Sockets.Closed); k != 0 {
		t.Fatalf("sockets closed: %v", st.Sockets.Closed)
	}
	closeOnce(release)
	for _, c := range conns {
		_ = c.Close()
	}
	socktest.WaitFor(t, "every sent byte taken", func() bool { return got.Load() == sent.Load() })
}

// TestDatagramsOverTheInboundLimitAreDropped: UDP has no flow control, so a
// peer socket whose application is behind drops the datagrams over its
// limit (counted), and is never closed for it; pooled and pull mode.
func TestDatagramsOverTheInboundLimitAreDropped(t *testing.T) {
	for _, pull := range []bool{false, true} {
		t.Run(fmt.Sprintf("pull=%v", pull), func(t *testing.T) {
			const maxIn, size, count = 64 << 10, 1000, 400
			release := make(chan struct{})
			var once sync.Once
			var got atomic.Int64
			h := actors.HandlerFunc(func(c *actors.Context) {
				if m, ok := c.Message().(*actors.Received); ok {
					got.Add(1)
					if len(m.Data) == size {
						<-release // stuck: the datagrams pile up
					}
				}
			})
			fds := fdCount(t)
			rt, err := sockrt.New(sockrt.Options{EventLoops: 2, Linger: -1, MaxInbound: maxIn})
			if err != nil {
				t.Fatal(err)
			}
			ln, err := rt.Listen("udp://127.0.0.1:0", h, actors.ListenOptions{Dispatch: actors.Pooled, Pull: pull})
			if err != nil {
				t.Fatal(err)
			}
			if err := rt.Start(ctx5(t)); err != nil {
				t.Fatal(err)
			}
			shutdownAtEnd(t, rt, fds, 5*time.Second)
			t.Cleanup(func() { once.Do(func() { close(release) }) }) // before the shutdown: cleanups run last first
			rec := newRecorder(t, rt.System())
			if err := rt.Subscribe(rec.PID, events.MaskAll); err != nil {
				t.Fatal(err)
			}
			c := udpClient(t, ln.Addr().(*net.UDPAddr))
			// The kernel's buffer is not what is tested: the datagrams are
			// paced on the server's account of them (delivered, waiting,
			// or dropped over the limit); a sleep between batches was not
			// enough on a loaded machine.
			accounted := func() int64 {
				st := rt.Stats().Sockets
				return got.Load() + st.Buffered/size + int64(st.InboundDropped)/size
			}
			floodPaced(t, c, count, size, 20, accounted)
			if n := accounted(); n != count {
				t.Fatalf("the server accounts for %d datagrams, %d were sent", n, count)
			}
			if st := rt.Stats().Sockets; st.InboundDropped < uint64((count-maxIn/size-1)*size) {
				t.Fatalf("%d bytes dropped over the limit, want at least %d", st.InboundDropped, (count-maxIn/size-1)*size)
			}
			st := rt.Stats()
			if st.Sockets.Buffered > maxIn {
				t.Fatalf("%d bytes wait, limit %d", st.Sockets.Buffered, maxIn)
			}
			if st.LimitHits()[sockrt.LimitMaxInbound] == 0 {
				t.Fatal("the drops were not counted as max_inbound hits")
			}
			if n := rec.Count(rec.Accepted(t, 1), events.FDClose); n != 0 {
				t.Fatal("the peer socket was closed by the limit")
			}
		})
	}
}

// TestTricklingPeersCostLittle: peers that send one byte at a time, slowly
// (a slow-loris pattern), hold a socket each and nothing more: the
// server keeps answering a normal client, every trickled byte arrives, and
// the process stays nearly idle while they trickle.
func TestTricklingPeersCostLittle(t *testing.T) {
	n := 1000
	if testing.Short() {
		n = 200
	}
	raiseFDLimit(t, uint64(2*n+1000))
	socktest.EachMode(t, modes, func(t *testing.T, mode actors.Dispatch) {
		var got atomic.Int64
		h := actors.HandlerFunc(func(c *actors.Context) {
			if m, ok := c.Message().(*actors.Received); ok {
				if m.Data[0] == 't' {
					got.Add(int64(len(m.Data)))
					return
				}
				_, _ = c.Write(m.Data) // the normal client: echo
			}
		})
		s := startRT(t, sockrt.Options{IdleTimeout: 5 * time.Second}, actors.ListenOptions{Dispatch: mode}, h)
		conns := make([]net.Conn, n)
		for i := range conns {
			conns[i] = dial(t, s.addr)
		}
		const rounds = 3
		before := rusageCPU(t)
		start := time.Now()
		for r := 0; r < rounds; r++ { // one byte per peer per 500 ms
			for _, c := range conns {
				if _, err := c.Write([]byte("t")); err != nil {
					t.Fatalf("trickle: %v", err)
				}
			}
			normal := dial(t, s.addr)
			roundTrip(t, normal, fmt.Sprintf("round %d", r))
			time.Sleep(500 * time.Millisecond)
		}
		used, wall := rusageCPU(t)-before, time.Since(start)
		socktest.WaitFor(t, "every trickled byte", func() bool { return got.Load() == int64(rounds*n) })
		t.Logf("%d trickling peers: %v CPU over %v", n, used, wall)
		if used > wall/2 {
			t.Fatalf("%v CPU over %v with %d peers sending a byte each per 500 ms", used, wall, n)
		}
		if k := len(s.rt.Stats().Sockets.Closed); k != 0 {
			t.Fatalf("sockets closed while trickling (not idle): %v", s.rt.Stats().Sockets.Closed)
		}
	})
}
