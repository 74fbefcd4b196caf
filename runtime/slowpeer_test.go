package runtime_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
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

// Hostile and slow peers on the write side (docs/SEMANTICS.md §4, the
// FD_WRITE rule, and §5, what a limit costs).

// slowPattern returns n bytes whose value at offset i is a function of i, so a
// reader can check every byte arrived once and in order.
func slowPattern(n int) []byte {
	p := make([]byte, n)
	for i := range p {
		p[i] = byte(i*7 + i>>11)
	}
	return p
}

// resumer is a handler that writes total bytes of pattern to its peer in
// writes of size, stops at each refusal and resumes on the next FD_WRITE:
// the way the contract says a writer uses back-pressure.
type resumer struct {
	data []byte
	size int

	mu        sync.Mutex
	off       int
	writing   bool // inside our own Write: an FD_WRITE now would be one run inside it
	refusals  int
	fdWrites  int // FD_WRITEs after the one at open
	nested    int // handler calls that arrived inside a Write
	opened    bool
	finished  chan struct{}
	finishErr error
}

func newResumer(total, size int) *resumer {
	return &resumer{data: slowPattern(total), size: size, finished: make(chan struct{})}
}

func (r *resumer) Receive(c *actors.Context) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.writing {
		r.nested++
		return
	}
	ev, ok := c.Message().(*events.Event)
	if !ok || ev.EventKind() != events.FDWrite {
		return
	}
	if r.opened {
		r.fdWrites++
	}
	r.opened = true
	r.pump(c)
}

// pump writes until done or refused. Called with mu held.
func (r *resumer) pump(c *actors.Context) {
	for r.off < len(r.data) {
		end := min(r.off+r.size, len(r.data))
		r.writing = true
		n, err := c.Write(r.data[r.off:end])
		r.writing = false
		if errors.Is(err, winsock.ErrWouldBlock) {
			r.refusals++
			return // the FD_WRITE owed resumes us
		}
		if err != nil {
			r.finishErr = err
			close(r.finished)
			return
		}
		r.off += n
	}
	c.SendDisconnect() // everything accepted: FIN after the queue
	close(r.finished)
}

// readSlowly reads everything from c in small bites with pauses, checking
// the bytes against want, and returns how many matched.
func readSlowly(t *testing.T, c net.Conn, want []byte, bite int, pause time.Duration) int {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(2 * time.Minute))
	buf := make([]byte, bite)
	got := 0
	for {
		n, err := c.Read(buf)
		if n > 0 {
			if got+n > len(want) || !bytes.Equal(buf[:n], want[got:got+n]) {
				t.Fatalf("byte %d..%d differs from what was written", got, got+n)
			}
			got += n
		}
		if err == io.EOF {
			return got
		}
		if err != nil {
			t.Fatalf("read after %d bytes: %v", got, err)
		}
		if pause > 0 {
			time.Sleep(pause)
		}
	}
}

// TestResumeOnFDWriteMovesEverything: a handler that resumes its writes on
// FD_WRITE moves 40 MiB to a slow reader whatever its write size, in both
// modes and over both stream transports: no handler call inside Write (the
// recursion that crashed Inline), at most one FD_WRITE per refusal, no
// refusal loop, every byte in order.
func TestResumeOnFDWriteMovesEverything(t *testing.T) {
	const high, low = 4 << 20, 1 << 20
	sizes := []int{3<<20 + 512<<10, 1 << 20, 64 << 10, 1500}
	eachTransportMode(t, func(t *testing.T, tr socktest.Transport, mode actors.Dispatch) {
		total := 40 << 20
		if tr.Name == socktest.TLS.Name {
			total = 6 << 20 // encryption under -race is slow; still several refusals
		}
		for _, size := range sizes {
			t.Run(fmt.Sprintf("write=%d", size), func(t *testing.T) {
				if testing.Short() && size < 64<<10 {
					t.Skip("short")
				}
				if tr.Name == socktest.TLS.Name && size < 64<<10 {
					t.Skip("TLS: the small-write case costs a record each; the larger ones cover the path")
				}
				r := newResumer(total, size)
				s := startRTOn(t, tr, sockrt.Options{SendHighWater: high, SendLowWater: low},
					actors.ListenOptions{Dispatch: mode}, r)
				c := s.dial(t)
				got := readSlowly(t, c, r.data, 256<<10, 200*time.Microsecond)
				<-r.finished
				r.mu.Lock()
				defer r.mu.Unlock()
				if r.finishErr != nil {
					t.Fatalf("write failed: %v", r.finishErr)
				}
				if got != total {
					t.Fatalf("reader got %d bytes, want %d", got, total)
				}
				if r.nested != 0 {
					t.Fatalf("%d handler calls ran inside a Write", r.nested)
				}
				if r.fdWrites > r.refusals {
					t.Fatalf("%d FD_WRITE for %d refusals: at most one each", r.fdWrites, r.refusals)
				}
				// A refusal needs more than the low mark queued and an
				// FD_WRITE needs it drained to the low mark, so each cycle
				// moves at least high-low-size bytes (the mark, not a spin).
				per := max(high-low-size, 256<<10)
				if limit := total/per + 4; r.refusals > limit {
					t.Fatalf("%d refusals for %d bytes in writes of %d, want at most %d (a refusal loop)", r.refusals, total, size, limit)
				}
				t.Logf("%d refusals, %d FD_WRITE", r.refusals, r.fdWrites)
			})
		}
	})
}

// TestRefusalOnlyAboveLowWater: a write is refused only while more than the
// low-water mark is queued; once the queue has drained to the mark (the
// FD_WRITE), a write of any size up to MaxSend is accepted, so an FD_WRITE is
// never followed by another refusal of the same write.
func TestRefusalOnlyAboveLowWater(t *testing.T) {
	socktest.EachMode(t, modes, func(t *testing.T, mode actors.Dispatch) {
		const high, low = 256 << 10, 64 << 10
		s := startRT(t, sockrt.Options{SendHighWater: high, SendLowWater: low}, actors.ListenOptions{Dispatch: mode}, nop)
		c := s.dial(t) // not reading yet
		id := s.rec.Accepted(t, 1)
		pid := s.rt.SocketPID(id)
		fillUntilBlocked(t, s, pid, bytes.Repeat([]byte("f"), 32<<10), 256<<20)
		info, err := s.rt.Info(ctx5(t), pid)
		if err != nil || info.QueuedOut <= low {
			t.Fatalf("refused with %d queued (%v): a refusal needs more than the low mark (%d)", info.QueuedOut, err, low)
		}
		go func() { _, _ = io.Copy(io.Discard, c) }()
		socktest.WaitFor(t, "FD_WRITE", func() bool { return s.rec.Count(id, events.FDWrite) == 2 })
		big := bytes.Repeat([]byte("b"), 4*high)
		if n, err := s.rt.Send(ctx5(t), pid, big); err != nil || n != len(big) {
			t.Fatalf("Send of %d bytes after FD_WRITE: %d, %v; want it taken whole", len(big), n, err)
		}
	})
}

// waitLong calls check until it returns "", failing t with check's last
// answer after d.
func waitLong(t *testing.T, d time.Duration, what string, check func() string) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		why := check()
		if why == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s: %s", what, why)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// rusageCPU returns this process's CPU time so far.
func rusageCPU(t *testing.T) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		t.Skipf("getrusage: %v", err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// raiseFDLimit lifts this process's descriptor limit to its hard limit and
// skips the test if that is below need.
func raiseFDLimit(t *testing.T, need uint64) {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		t.Skipf("getrlimit: %v", err)
	}
	if lim.Cur < lim.Max {
		lim.Cur = lim.Max
		_ = syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim)
	}
	if lim.Max < need {
		t.Skipf("descriptor limit %d, need %d", lim.Max, need)
	}
}

// pumper is a handler that writes chunk after chunk to every socket until a
// write is refused, and goes on at each FD_WRITE after the one at open; it
// counts both, per socket and in all.
type pumper struct {
	chunk             []byte
	refused, fdWrites atomic.Int64
	over              atomic.Int64 // sockets with more FD_WRITEs than refusals
	pids              sync.Map     // socket id -> PID
}

type pumpState struct {
	opened            bool // the FD_WRITE at open (always the event after FD_ACCEPT) was seen
	refused, fdWrites int
}

func (p *pumper) Receive(c *actors.Context) {
	ev, ok := c.Message().(*events.Event)
	if !ok {
		return
	}
	st, _ := c.State().(*pumpState)
	switch ev.EventKind() {
	case events.FDAccept:
		st = &pumpState{}
		c.SetState(st)
		p.pids.Store(c.ID(), c.Self())
	case events.FDWrite:
		if !st.opened {
			st.opened = true // the one at open is not owed to a refusal
			return
		}
		st.fdWrites++
		p.fdWrites.Add(1)
		if st.fdWrites > st.refused {
			p.over.Add(1)
		}
	default:
		return
	}
	for {
		_, err := c.Write(p.chunk)
		if errors.Is(err, winsock.ErrWouldBlock) {
			st.refused++
			p.refused.Add(1)
			return
		}
		if err != nil {
			return // shut down for sending: done
		}
	}
}

// TestPeersThatNeverReadCostNothing: thousands of peers stop reading while
// the server owes each an FD_WRITE (its writes were refused) and holds a FIN
// behind the unsent bytes. Nothing polls: over a quiet second no FD_WRITE is
// posted and the process uses a small fraction of a core (a 1 ms poll per
// connection used most of one). Then the peers read: every accepted byte
// arrives, then the FIN, with at most one FD_WRITE per refusal. Unix sockets
// carry the 5,000 (their kernel buffers are small and fixed); TCP a few
// hundred (each loopback TCP socket's send buffer starts at megabytes).
func TestPeersThatNeverReadCostNothing(t *testing.T) {
	cases := []struct {
		tr socktest.Transport
		n  int
	}{{socktest.Unix, 5000}, {socktest.TCP, 300}}
	for _, tc := range cases {
		n := tc.n
		if testing.Short() {
			n = min(n, 300)
		}
		raiseFDLimit(t, uint64(2*n+1000))
		t.Run(tc.tr.Name, func(t *testing.T) {
			socktest.EachMode(t, modes, func(t *testing.T, mode actors.Dispatch) {
				slowReaders(t, tc.tr, mode, n)
			})
		})
	}
}

func slowReaders(t *testing.T, tr socktest.Transport, mode actors.Dispatch, n int) {
	p := &pumper{chunk: slowPattern(32 << 10)}
	s := startRTOn(t, tr, sockrt.Options{SendHighWater: 64 << 10, SendLowWater: 16 << 10}, actors.ListenOptions{Dispatch: mode}, p)
	conns := make([]net.Conn, 0, n)
	t.Cleanup(func() {
		for _, c := range conns {
			_ = c.Close()
		}
	})
	d := net.Dialer{Control: func(_, _ string, rc syscall.RawConn) error {
		return rc.Control(func(fd uintptr) { // a small window from the start
			_ = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 64<<10)
		})
	}}
	network := "tcp"
	if tr.Name == socktest.Unix.Name {
		network = "unix"
	}
	for i := 0; i < n; i++ {
		c, err := d.Dial(network, s.addr)
		if err != nil {
			t.Fatalf("dial %d: %v", i, err)
		}
		conns = append(conns, c)
	}
	waitLong(t, time.Minute, "a refused write on every socket", func() string {
		k := 0
		p.pids.Range(func(any, any) bool { k++; return true })
		if k == n && p.refused.Load() >= int64(n) {
			return ""
		}
		return fmt.Sprintf("%d sockets, %d refusals", k, p.refused.Load())
	})
	// Once the setup's work is done (the kernel may also take a little more
	// just after the refusals), a second passes with no FD_WRITE and almost
	// no CPU. A runtime that polls never has such a second.
	quiet := func(budget time.Duration) {
		waitLong(t, budget, "a quiet second", func() string {
			writes, before := p.fdWrites.Load(), rusageCPU(t)
			time.Sleep(time.Second)
			used, k := rusageCPU(t)-before, p.fdWrites.Load()-writes
			t.Logf("%d peers that never read: %v CPU, %d FD_WRITE over 1 s", n, used, k)
			if used > 300*time.Millisecond || k != 0 {
				return fmt.Sprintf("%v CPU and %d FD_WRITE in the last second", used, k)
			}
			return ""
		})
	}
	quiet(30 * time.Second)
	// No handler is writing now: a FIN queued behind the unsent bytes of
	// every socket too, and quiet again. The quiet second must come well
	// within the FIN's deadline (5 s without progress, then the peer is
	// reset and its bytes counted as dropped): on a loaded machine a second
	// that fails only for CPU is tried again, at most three times.
	p.pids.Range(func(_, v any) bool {
		s.rt.System().Root.Send(v.(*actor.PID), &actors.SendDisconnect{})
		return true
	})
	quiet(3500 * time.Millisecond)
	// Now every peer reads to the FIN. First one read each, from here, at
	// once: the FIN's deadline resets a socket whose peer takes nothing for
	// 5 s, and on a loaded machine some of n reader goroutines may not run
	// for seconds. (Each has bytes waiting: the read does not block.)
	buf := make([]byte, 64<<10)
	for i, c := range conns {
		_ = c.SetReadDeadline(time.Now().Add(time.Minute))
		if _, err := c.Read(buf); err != nil {
			t.Fatalf("peer %d's first read: %v", i, err)
		}
	}
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for _, c := range conns {
		wg.Add(1)
		go func(c net.Conn) {
			defer wg.Done()
			_ = c.SetReadDeadline(time.Now().Add(time.Minute))
			if _, err := io.Copy(io.Discard, c); err != nil {
				errs <- err
			}
		}(c)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		reasons := map[string]int{}
		s.rec.Find(func(ev *events.Event) bool {
			if ev.EventKind() == events.FDClose {
				reasons[fmt.Sprint(ev.Code, " ", ev.Reason)]++
			}
			return false
		})
		t.Fatalf("reading a slow peer's bytes to its FIN: %v (FD_CLOSE reasons %v)", err, reasons)
	}
	if k := p.over.Load(); k != 0 {
		t.Fatalf("%d sockets got more FD_WRITEs than refusals", k)
	}
	if d := s.rt.Stats().Conns.SendDropped; d != 0 {
		t.Fatalf("%d bytes dropped, want every accepted byte delivered", d)
	}
}

// TestPendingFINHasADeadline: a SendDisconnect whose queue a peer never
// reads does not wait for ever: after HalfOpenFlushTimeout without progress
// the connection is reset (FD_CLOSE 10060 timeout) and the queued bytes are
// counted as dropped.
func TestPendingFINHasADeadline(t *testing.T) {
	if testing.Short() {
		t.Skip("waits for the flush timeout")
	}
	socktest.EachMode(t, modes, func(t *testing.T, mode actors.Dispatch) {
		s := startRT(t, sockrt.Options{SendHighWater: 64 << 10, SendLowWater: 16 << 10}, actors.ListenOptions{Dispatch: mode}, nop)
		c := s.dial(t)
		_ = c.(*net.TCPConn).SetReadBuffer(4096)
		id := s.rec.Accepted(t, 1)
		pid := s.rt.SocketPID(id)
		chunk := bytes.Repeat([]byte("f"), 16<<10)
		fillUntilBlocked(t, s, pid, chunk, 64<<20)
		dropped := s.rt.Stats().Conns.SendDropped
		if err := s.rt.SendDisconnect(ctx5(t), pid); err != nil {
			t.Fatal(err)
		}
		ev := s.rec.CloseEvent(t, id)
		if ev.Reason != "timeout" || ev.Code != uint32(winsock.WSAETIMEDOUT) || !ev.Local {
			t.Fatalf("FD_CLOSE %d %s local=%v, want 10060 timeout local", ev.Code, ev.Reason, ev.Local)
		}
		if s.rt.Stats().Conns.SendDropped <= dropped {
			t.Fatal("the bytes still queued at the deadline were not counted as dropped")
		}
	})
}

// TestPooledHalfOpenWriteRetries: on a half-open socket (the peer sent
// FIN) no FD_WRITE follows a refusal (FD_CLOSE is the last event), so a
// pooled handler retries; once the peer has read, the retry is taken
// (the refusal is judged on the half-open side's live queue).
func TestPooledHalfOpenWriteRetries(t *testing.T) {
	chunk, big := slowPattern(32<<10), slowPattern(256<<10)
	var refused, taken, filled atomic.Int64
	fill := func(c *actors.Context) {
		for {
			if _, err := c.Write(chunk); err != nil {
				if errors.Is(err, winsock.ErrWouldBlock) {
					refused.Add(1)
				}
				return
			}
		}
	}
	h := actors.HandlerFunc(func(c *actors.Context) {
		switch m := c.Message().(type) {
		case *events.Event:
			if m.EventKind() == events.FDClose && m.Reason == "peer-close" {
				fill(c)
			}
		case string:
			switch m {
			case "fill": // from the test, until the kernel's buffers are full
				fill(c)
				filled.Add(1)
			case "retry": // a write as large as the high mark
				if _, err := c.Write(big); err == nil {
					taken.Add(1)
				}
				c.Close()
			}
		}
	})
	s := startRT(t, sockrt.Options{SendHighWater: 256 << 10, SendLowWater: 64 << 10, Linger: time.Minute}, actors.ListenOptions{Dispatch: actors.Pooled}, h)
	c := s.dial(t)
	id := s.rec.Accepted(t, 1)
	_ = c.(*net.TCPConn).CloseWrite() // FIN: the server's socket is half-open
	socktest.WaitFor(t, "a refused write on the half-open socket", func() bool { return refused.Load() >= 1 })
	pid := s.rt.SocketPID(id)
	// Write until the half-open side itself holds bytes (the kernel's
	// buffers are full): the queue the refusals were judged on.
	// Each fill is waited for before the queue is read: Info is answered
	// by the loop and would overtake a fill still waiting for the pooled
	// handler, whose writes would then land after the drain below.
	waitLong(t, 30*time.Second, "the half-open queue to fill", func() string {
		before := filled.Load()
		s.rt.System().Root.Send(pid, "fill")
		socktest.WaitFor(t, "the pooled handler to run a fill", func() bool { return filled.Load() > before })
		info, err := s.rt.Info(ctx5(t), pid)
		if err == nil && info.QueuedOut >= 128<<10 {
			return ""
		}
		return fmt.Sprintf("queued out %d (%v)", info.GetQueuedOut(), err)
	})
	done := make(chan int64, 1)
	go func() {
		n, _ := io.Copy(io.Discard, c)
		done <- n
	}()
	socktest.WaitFor(t, "the half-open queue to drain", func() bool {
		info, err := s.rt.Info(ctx5(t), s.rt.SocketPID(id))
		return err == nil && info.QueuedOut == 0
	})
	s.rt.System().Root.Send(pid, "retry")
	<-done
	if taken.Load() != 1 {
		t.Fatal("the retry was refused although the peer had read everything")
	}
}
