package runtime_test

import (
	"errors"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/sockactor/sockactor/actors"
	"github.com/sockactor/sockactor/internal/socktest"
	sockrt "github.com/sockactor/sockactor/runtime"
	"github.com/sockactor/sockactor/winsock"
)

// SuspendReading / ResumeReading (docs/SEMANTICS.md §2, §5 inbound
// back-pressure) against real loopback peers: a suspended socket is not
// read, so the peer's writes block once the kernel's buffers are full, and
// nothing it sent after the pause reaches the handler until ResumeReading,
// which delivers every byte, in order.

// pattern is the byte stream the clients send: byte o of the stream is
// o % 251, so a sink can check order and completeness on the fly.
const patternPeriod = 251

var patternBuf = func() []byte {
	b := make([]byte, patternPeriod+64<<10)
	for i := range b {
		b[i] = byte(i % patternPeriod)
	}
	return b
}()

// patternAt returns n bytes of the stream from offset off (n <= 64 KiB).
func patternAt(off int64, n int) []byte {
	start := int(off % patternPeriod)
	return patternBuf[start : start+n]
}

// sink is a handler that checks the pattern stream it receives and counts
// it. It may run on the loop (Inline) or a pooled goroutine.
type sink struct {
	mu       sync.Mutex
	got      int64 // bytes received
	bad      int64 // the first offset that broke the pattern, -1 if none
	replies  []error
	onData   func(c *actors.Context, first bool)
	onString func(c *actors.Context, m *wrapperspb.StringValue)
}

func newSink() *sink { return &sink{bad: -1} }

func (k *sink) Receive(c *actors.Context) {
	switch m := c.Message().(type) {
	case *actors.Received:
		k.mu.Lock()
		first := k.got == 0
		for i, b := range m.Data {
			if off := k.got + int64(i); k.bad < 0 && b != byte(off%patternPeriod) {
				k.bad = off
			}
		}
		k.got += int64(len(m.Data))
		k.mu.Unlock()
		if k.onData != nil {
			k.onData(c, first)
		}
	case *actors.SuspendReadingResult:
		k.note(m.Err())
	case *actors.ResumeReadingResult:
		k.note(m.Err())
	case *wrapperspb.StringValue:
		if k.onString != nil {
			k.onString(c, m)
		}
	}
}

func (k *sink) note(err error) {
	k.mu.Lock()
	k.replies = append(k.replies, err)
	k.mu.Unlock()
}

func (k *sink) received() (got, bad int64) {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.got, k.bad
}

func (k *sink) outcomes() []error {
	k.mu.Lock()
	defer k.mu.Unlock()
	return append([]error(nil), k.replies...)
}

// pauseOpts are the runtime options of these tests: a MaxInbound far above
// what they send, so the runtime's own inbound limit plays no part.
var pauseOpts = sockrt.Options{MaxInbound: 256 << 20}

// writeUntilHeld writes the pattern stream to c from offset off until a
// write times out (the peer holds it: the kernel's buffers are full) and
// returns the new offset. Each write has a deadline of a second from its
// start; a peer that takes 256 MiB without holding fails the test.
func writeUntilHeld(t *testing.T, c socktest.Conn, off int64) int64 {
	t.Helper()
	start, limit := off, off+256<<20
	for off < limit {
		_ = c.SetWriteDeadline(time.Now().Add(time.Second))
		n, err := c.Write(patternAt(off, 64<<10))
		off += int64(n)
		if errors.Is(err, os.ErrDeadlineExceeded) {
			_ = c.SetWriteDeadline(time.Time{})
			t.Logf("the peer was held after %d more bytes", off-start)
			return off
		}
		if err != nil {
			t.Fatalf("client write at %d: %v", off, err)
		}
	}
	t.Fatalf("the peer wrote %d bytes after the pause without being held", 256<<20)
	return off
}

// finish writes the pattern stream from off to end, half-closes c, and
// waits until k has every byte, in order.
func finish(t *testing.T, c socktest.Conn, k *sink, off, end int64) {
	t.Helper()
	for off < end {
		n, err := c.Write(patternAt(off, int(min(64<<10, end-off))))
		off += int64(n)
		if err != nil {
			t.Fatalf("client write at %d: %v", off, err)
		}
	}
	_ = c.CloseWrite()
	socktest.WaitFor(t, "every byte after ResumeReading", func() bool {
		got, _ := k.received()
		return got >= end
	})
	if got, bad := k.received(); got != end || bad >= 0 {
		t.Fatalf("the handler got %d bytes (pattern broken at %d), want %d in order", got, bad, end)
	}
}

// checkHeld checks that a paused socket delivered to k exactly what it had
// read (Info.bytes_in) and reads nothing more, and that Info says it is
// paused by the application since a time within [from, to].
func checkHeld(t *testing.T, s *server, pid *actor.PID, k *sink, from, to time.Time) *actors.SocketInfo {
	t.Helper()
	info, err := s.rt.Info(ctx5(t), pid)
	if err != nil {
		t.Fatal(err)
	}
	// A pooled handler still gets what was in its queue at the pause.
	socktest.WaitFor(t, "the bytes read before the pause", func() bool {
		got, _ := k.received()
		return got >= int64(info.BytesIn)
	})
	again, err := s.rt.Info(ctx5(t), pid)
	if err != nil {
		t.Fatal(err)
	}
	if got, bad := k.received(); got != int64(info.BytesIn) || again.BytesIn != info.BytesIn || bad >= 0 {
		t.Fatalf("paused: the handler got %d bytes (pattern broken at %d), bytes_in %d then %d; want all equal",
			got, bad, info.BytesIn, again.BytesIn)
	}
	since := time.Unix(0, info.ReadPausedSinceUnixNano)
	if !info.ReadPaused || info.ReadPausedBy != "app" || since.Before(from) || since.After(to) {
		t.Fatalf("paused Info: read_paused %v, read_paused_by %q, since %v; want true, \"app\", within [%v, %v]",
			info.ReadPaused, info.ReadPausedBy, since, from, to)
	}
	return info
}

// checkReading checks that Info says the socket is read.
func checkReading(t *testing.T, s *server, pid *actor.PID) {
	t.Helper()
	info, err := s.rt.Info(ctx5(t), pid)
	if err != nil {
		t.Fatal(err)
	}
	if info.ReadPaused || info.ReadPausedBy != "" || info.ReadPausedSinceUnixNano != 0 {
		t.Fatalf("Info of a socket being read: read_paused %v, read_paused_by %q, since %d",
			info.ReadPaused, info.ReadPausedBy, info.ReadPausedSinceUnixNano)
	}
}

// TestSuspendReadingHoldsThePeer: SuspendReading while the peer streams;
// its writes then block, the handler gets nothing read after the reply;
// Info says so; a second SuspendReading changes nothing; one ResumeReading
// delivers the rest in order.
func TestSuspendReadingHoldsThePeer(t *testing.T) {
	eachTransportMode(t, func(t *testing.T, tr socktest.Transport, mode actors.Dispatch) {
		// writeUntilHeld detects the hold by a write deadline, and a
		// crypto/tls client whose write timed out is broken for good (the
		// record is cut), so the stream cannot go on after the resume.
		skipTLS(t, tr, "a timed-out write breaks a crypto/tls client; TestTLSReadPause holds a TLS peer")
		k := newSink()
		s := startRTOn(t, tr, pauseOpts, actors.ListenOptions{Dispatch: mode}, k)
		c := s.dial(t)
		pid := s.rt.SocketPID(s.rec.Accepted(t, 1))
		checkReading(t, s, pid)

		// Stream 1 MiB from another goroutine and suspend in the middle of
		// it: bytes are in flight (in the kernel, gnet, a pooled queue).
		const first = 1 << 20
		type sent struct {
			off int64
			err error
		}
		streamed := make(chan sent, 1)
		go func() {
			var off int64
			for off < first {
				n, err := c.Write(patternAt(off, 64<<10))
				off += int64(n)
				if err != nil {
					streamed <- sent{off, err}
					return
				}
			}
			streamed <- sent{off, nil}
		}()
		socktest.WaitFor(t, "the stream to start", func() bool {
			got, _ := k.received()
			return got >= 64<<10
		})
		from := time.Now()
		if err := s.rt.SuspendReading(ctx5(t), pid); err != nil {
			t.Fatalf("SuspendReading: %v", err)
		}
		to := time.Now()
		// The writer's last writes may block now: a deadline ends them.
		_ = c.SetWriteDeadline(time.Now().Add(time.Second))
		r := <-streamed
		if r.err != nil && !errors.Is(r.err, os.ErrDeadlineExceeded) {
			t.Fatalf("client stream: %v", r.err)
		}
		held := writeUntilHeld(t, c, r.off)
		info := checkHeld(t, s, pid, k, from, to)

		// Idempotent: a second suspend succeeds and keeps the since-time.
		if err := s.rt.SuspendReading(ctx5(t), pid); err != nil {
			t.Fatalf("second SuspendReading: %v", err)
		}
		info2 := checkHeld(t, s, pid, k, from, to)
		if info2.ReadPausedSinceUnixNano != info.ReadPausedSinceUnixNano {
			t.Fatalf("a second SuspendReading moved the since-time from %d to %d",
				info.ReadPausedSinceUnixNano, info2.ReadPausedSinceUnixNano)
		}
		if err := s.rt.ResumeReading(ctx5(t), pid); err != nil {
			t.Fatalf("ResumeReading: %v", err)
		}
		checkReading(t, s, pid)
		finish(t, c, k, held, held+64<<10)
	})
}

// TestSuspendReadingFromTheHandler: a handler suspends its own reading with
// Context.SuspendReading on its first bytes and resumes on a message; a
// ResumeReading followed by a SuspendReading in one Receive leaves it
// paused. Under Inline dispatch the helpers return the outcome, under
// Pooled it arrives as the reply message.
func TestSuspendReadingFromTheHandler(t *testing.T) {
	eachTransportMode(t, func(t *testing.T, tr socktest.Transport, mode actors.Dispatch) {
		// writeUntilHeld detects the hold by a write deadline, and a
		// crypto/tls client whose write timed out is broken for good (the
		// record is cut), so the stream cannot go on after the resume.
		skipTLS(t, tr, "a timed-out write breaks a crypto/tls client; TestTLSReadPause holds a TLS peer")
		k := newSink()
		inline := mode == actors.Inline
		outcome := func(err error) {
			if inline {
				k.note(err) // pooled: nil here, the reply says
			} else if err != nil {
				t.Errorf("a pooled helper returned %v, want nil (the outcome is the reply)", err)
			}
		}
		k.onData = func(c *actors.Context, first bool) {
			if first {
				outcome(c.SuspendReading())
			}
		}
		k.onString = func(c *actors.Context, m *wrapperspb.StringValue) {
			switch m.Value {
			case "flip":
				outcome(c.ResumeReading())
				outcome(c.SuspendReading())
			case "resume":
				outcome(c.ResumeReading())
			}
			c.Respond(&wrapperspb.StringValue{Value: m.Value + " done"})
		}
		s := startRTOn(t, tr, pauseOpts, actors.ListenOptions{Dispatch: mode}, k)
		c := s.dial(t)
		pid := s.rt.SocketPID(s.rec.Accepted(t, 1))
		ask := func(what string, outcomes int) {
			t.Helper()
			r, err := s.rt.System().Root.RequestFuture(pid, &wrapperspb.StringValue{Value: what}, socktest.Timeout).Result()
			if sv, ok := r.(*wrapperspb.StringValue); err != nil || !ok || sv.Value != what+" done" {
				t.Fatalf("%s: %v, %v", what, r, err)
			}
			socktest.WaitFor(t, what+"'s outcomes", func() bool { return len(k.outcomes()) >= outcomes })
		}

		from := time.Now()
		if _, err := c.Write(patternAt(0, 1000)); err != nil {
			t.Fatal(err)
		}
		socktest.WaitFor(t, "the handler's SuspendReading", func() bool { return len(k.outcomes()) == 1 })
		to := time.Now()
		held := writeUntilHeld(t, c, 1000)
		checkHeld(t, s, pid, k, from, to)

		// Inline: the ResumeReading waits for the Receive to return and the
		// SuspendReading after it cancels it: the pause never ended. Pooled:
		// two requests, handled in order: reading resumed, then paused again.
		flipFrom := time.Now()
		ask("flip", 3)
		if inline {
			checkHeld(t, s, pid, k, from, to)
		} else {
			checkHeld(t, s, pid, k, flipFrom, time.Now())
		}

		ask("resume", 4)
		checkReading(t, s, pid)
		for i, err := range k.outcomes() {
			if err != nil {
				t.Fatalf("helper outcome %d: %v", i, err)
			}
		}
		finish(t, c, k, held, held+64<<10)
	})
}

// TestSuspendReadingErrors: the codes of SuspendReading and ResumeReading on
// what has no reads to pause.
func TestSuspendReadingErrors(t *testing.T) {
	socktest.EachMode(t, modes, func(t *testing.T, mode actors.Dispatch) {
		s := startRT(t, sockrt.Options{Linger: time.Minute}, actors.ListenOptions{Dispatch: mode}, nil)
		both := func(what string, pid *actor.PID, wantSuspend, wantResume error) {
			t.Helper()
			if err := s.rt.SuspendReading(ctx5(t), pid); !errors.Is(err, wantSuspend) {
				t.Errorf("SuspendReading on %s: %v, want %v", what, err, wantSuspend)
			}
			if err := s.rt.ResumeReading(ctx5(t), pid); !errors.Is(err, wantResume) {
				t.Errorf("ResumeReading on %s: %v, want %v", what, err, wantResume)
			}
		}
		both("a listener", s.ln.PID(), winsock.ErrNotConn, winsock.ErrNotConn)

		// The peer's FIN closed the circuit; the socket lingers (a minute).
		c1 := s.dial(t)
		id1 := s.rec.Accepted(t, 1)
		_ = c1.CloseWrite()
		if ev := s.rec.CloseEvent(t, id1); ev.Reason != "peer-close" {
			t.Fatalf("FD_CLOSE reason %q", ev.Reason)
		}
		both("a closed circuit", s.rt.SocketPID(id1), winsock.ErrNotConn, winsock.ErrNotConn)

		// After RecvDisconnect reception is over: nothing to suspend, and
		// resuming (what a paused socket would need for the ban to see the
		// peer's bytes) succeeds.
		s.dial(t)
		pid2 := s.rt.SocketPID(s.rec.Accepted(t, 2))
		if _, err := s.rt.RecvDisconnect(ctx5(t), pid2); err != nil {
			t.Fatal(err)
		}
		both("a receive-disconnected socket", pid2, winsock.ErrShutdown, nil)
		checkReading(t, s, pid2)

		// Released.
		s.dial(t)
		pid3 := s.rt.SocketPID(s.rec.Accepted(t, 3))
		if err := s.rt.Close(ctx5(t), pid3); err != nil {
			t.Fatal(err)
		}
		both("a released socket", pid3, winsock.ErrNotSock, winsock.ErrNotSock)
	})
}

// TestSuspendReadingUDPPeer: a datagram socket has no flow control:
// WSAENOPROTOOPT with a detail that says so, and the peer keeps working.
func TestSuspendReadingUDPPeer(t *testing.T) {
	socktest.EachMode(t, modes, func(t *testing.T, mode actors.Dispatch) {
		s := startUDP(t, nil, actors.ListenOptions{Dispatch: mode}, actors.BanDefault)
		c := udpClient(t, s.addr)
		if got := udpRoundTrip(t, c, []byte("one")); string(got) != "one" {
			t.Fatalf("echo %q", got)
		}
		pid := s.rt.SocketPID(s.peerOf(t, c))
		for op, call := range map[string]func() error{
			"SuspendReading": func() error { return s.rt.SuspendReading(ctx5(t), pid) },
			"ResumeReading":  func() error { return s.rt.ResumeReading(ctx5(t), pid) },
		} {
			err := call()
			var oe *winsock.OpError
			if !errors.Is(err, winsock.ErrNoProtoOpt) || !errors.As(err, &oe) || oe.Op != op || !strings.Contains(oe.Detail, "datagram") {
				t.Fatalf("%s on a UDP peer: %#v, want WSAENOPROTOOPT naming the datagram socket", op, err)
			}
		}
		if info, err := s.rt.Info(ctx5(t), pid); err != nil || info.ReadPaused || info.ReadPausedBy != "" {
			t.Fatalf("Info of the UDP peer = %v, %v; want reading", info, err)
		}
		if got := udpRoundTrip(t, c, []byte("two")); string(got) != "two" {
			t.Fatalf("echo after the refusals %q", got)
		}
		// The UDP listener is a listener.
		if err := s.rt.SuspendReading(ctx5(t), s.ln.PID()); !errors.Is(err, winsock.ErrNotConn) {
			t.Fatalf("SuspendReading on a UDP listener: %v, want WSAENOTCONN", err)
		}
	})
}

// TestRecvDisconnectWhileSuspended: the ban lifts the application's pause,
// so what the peer sent while the socket was suspended is the ban's: under
// reset it resets the connection (FD_CLOSE recv-ban), under discard it is
// read, dropped and counted, and the peer is no longer held.
func TestRecvDisconnectWhileSuspended(t *testing.T) {
	for _, policy := range []actors.BanPolicy{actors.BanReset, actors.BanDiscard} {
		t.Run(policy.String(), func(t *testing.T) {
			eachTransportMode(t, func(t *testing.T, tr socktest.Transport, mode actors.Dispatch) {
				if tr.Name == socktest.TLS.Name {
					// writeUntilHeld finds the hold with a write deadline, and
					// a timed-out write breaks a crypto/tls client for good;
					// netio's TestTLSBanWhilePaused covers the TLS case.
					t.Skip("a write deadline breaks a crypto/tls client")
				}
				k := newSink()
				opts := pauseOpts
				opts.BanPolicy = policy
				opts.Linger = time.Minute
				s := startRTOn(t, tr, opts, actors.ListenOptions{Dispatch: mode}, k)
				c := s.dial(t)
				id := s.rec.Accepted(t, 1)
				pid := s.rt.SocketPID(id)
				if _, err := c.Write(patternAt(0, 1000)); err != nil {
					t.Fatal(err)
				}
				socktest.WaitFor(t, "the first bytes", func() bool { got, _ := k.received(); return got == 1000 })
				from := time.Now()
				if err := s.rt.SuspendReading(ctx5(t), pid); err != nil {
					t.Fatal(err)
				}
				held := writeUntilHeld(t, c, 1000)
				checkHeld(t, s, pid, k, from, time.Now())
				if _, err := s.rt.RecvDisconnect(ctx5(t), pid); err != nil {
					t.Fatalf("RecvDisconnect while suspended: %v", err)
				}
				if policy == actors.BanReset {
					if ev := s.rec.CloseEvent(t, id); ev.Reason != "recv-ban" {
						t.Fatalf("FD_CLOSE %q, want recv-ban", ev.Reason)
					}
				} else {
					checkReading(t, s, pid)
					// The peer is read again: the rest of its stream goes in,
					// and every byte after the first 1000 is banned.
					end := held + 64<<10
					for off := held; off < end; {
						n, err := c.Write(patternAt(off, int(min(64<<10, end-off))))
						off += int64(n)
						if err != nil {
							t.Fatalf("client write after the ban: %v", err)
						}
					}
					socktest.WaitFor(t, "the banned bytes counted", func() bool {
						info, err := s.rt.Info(ctx5(t), pid)
						return err == nil && info.BannedBytes == uint64(end-1000)
					})
				}
				if got, bad := k.received(); got != 1000 || bad >= 0 {
					t.Fatalf("the handler got %d bytes (pattern broken at %d), want the 1000 before the pause", got, bad)
				}
			})
		})
	}
}
