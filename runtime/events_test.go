package runtime_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/sockactor/sockactor/actors"
	"github.com/sockactor/sockactor/events"
	"github.com/sockactor/sockactor/internal/socktest"
	"github.com/sockactor/sockactor/winsock"
)

func TestFDCloseExactlyOncePerSubscriberAndLast(t *testing.T) {
	cases := []struct {
		name   string
		policy actors.BanPolicy
		end    func(t *testing.T, s *server, c socktest.Conn, pid *actor.PID)
		code   winsock.Code
		reason string
		local  bool
	}{
		{"peer FIN", actors.BanReset, func(t *testing.T, s *server, c socktest.Conn, _ *actor.PID) {
			c.Close()
		}, 0, "peer-close", false},
		{"peer RST", actors.BanReset, func(t *testing.T, s *server, c socktest.Conn, pid *actor.PID) {
			peerReset(t, s, c, pid)
		}, winsock.WSAECONNRESET, "peer-reset", false},
		{"Close", actors.BanReset, func(t *testing.T, s *server, c socktest.Conn, pid *actor.PID) {
			if err := s.rt.Close(ctx5(t), pid); err != nil {
				t.Fatal(err)
			}
			if err := readUntilErr(c); err == nil || isReset(err) {
				t.Fatalf("client after Close: %v, want EOF", err)
			}
		}, 0, "local-close", true},
		{"Abort", actors.BanReset, func(t *testing.T, s *server, c socktest.Conn, pid *actor.PID) {
			if err := s.rt.Abort(ctx5(t), pid); err != nil {
				t.Fatal(err)
			}
			if err := readUntilErr(c); !s.tr.Aborted(err) {
				t.Fatalf("client after Abort over %s: %v, want ECONNRESET (unix: EOF)", s.tr, err)
			}
		}, winsock.WSAECONNABORTED, "local-abort", true},
		{"ban reset", actors.BanReset, func(t *testing.T, s *server, c socktest.Conn, pid *actor.PID) {
			if _, err := s.rt.RecvDisconnect(ctx5(t), pid); err != nil {
				t.Fatal(err)
			}
			_, _ = c.Write([]byte("after the ban"))
		}, winsock.WSAECONNABORTED, "recv-ban", true},
		{"engine shutdown", actors.BanReset, func(t *testing.T, s *server, c socktest.Conn, _ *actor.PID) {
			if err := s.rt.Shutdown(ctx5(t)); err != nil {
				t.Fatal(err)
			}
		}, winsock.WSAENETDOWN, "shutdown", true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			eachTransportMode(t, func(t *testing.T, tr socktest.Transport, mode actors.Dispatch) {
				s := startServer(t, serverOpts{tr: tr, dispatch: mode, policy: tc.policy, linger: 30 * time.Millisecond})
				c := s.dial(t)
				if got := roundTrip(t, c, "hi"); got != "hi" {
					t.Fatalf("echo %q", got)
				}
				id := s.rec.Accepted(t, 1)
				pid := s.rt.SocketPID(id)
				// A per-socket subscriber, and the runtime-wide recorder
				// subscribed per socket as well: each gets one FD_CLOSE.
				perSocket := newRecorder(t, s.rt.System())
				if err := s.rt.Caller.Subscribe(ctx5(t), pid, perSocket.PID, events.MaskAll); err != nil {
					t.Fatal(err)
				}
				if err := s.rt.Caller.Subscribe(ctx5(t), pid, s.rec.PID, events.MaskOf(events.FDClose)); err != nil {
					t.Fatal(err)
				}

				tc.end(t, s, c, pid)

				ev := s.rec.CloseEvent(t, id)
				if ev.Code != uint32(tc.code) || ev.Reason != tc.reason || ev.Local != tc.local {
					t.Fatalf("FD_CLOSE = code %d reason %q local %v; want %d %q %v", ev.Code, ev.Reason, ev.Local, tc.code, tc.reason, tc.local)
				}
				if ev.PID().Id != pid.Id || ev.RemoteAddr != c.LocalAddr().String() {
					t.Fatalf("FD_CLOSE names pid %v remote %s", ev.PID(), ev.RemoteAddr)
				}
				perSocket.CloseEvent(t, id)
				// Wait for release: nothing can be emitted after it.
				socktest.WaitFor(t, "release", func() bool {
					_, err := s.rt.Info(ctx5(t), pid)
					return errors.Is(err, winsock.ErrNotSock) || errors.Is(err, winsock.ErrNetDown)
				})
				for name, r := range map[string]*recorder{"runtime-wide": s.rec, "per-socket": perSocket} {
					evs := r.Of(id)
					if n := r.Count(id, events.FDClose); n != 1 {
						t.Errorf("%s subscriber got %d FD_CLOSE, want 1", name, n)
					}
					if last := evs[len(evs)-1]; last.EventKind() != events.FDClose {
						t.Errorf("%s subscriber: last event %v, want FD_CLOSE", name, events.Kind(last.Kind))
					}
				}
				if n := s.rec.Count(id, events.FDAccept); n != 1 {
					t.Errorf("FD_ACCEPT count %d, want 1", n)
				}
			})
		})
	}
}

func TestFDAcceptPerAcceptedConnection(t *testing.T) {
	eachTransportMode(t, func(t *testing.T, tr socktest.Transport, mode actors.Dispatch) {
		s := startServer(t, serverOpts{tr: tr, dispatch: mode})
		ids := map[uint64]bool{}
		for i := 1; i <= 3; i++ {
			s.dial(t)
			ids[s.rec.Accepted(t, i)] = true
		}
		if len(ids) != 3 {
			t.Fatalf("socket ids %v, want 3 distinct", ids)
		}
		for id := range ids {
			ev := s.rec.Of(id)[0]
			if ev.EventKind() != events.FDAccept || ev.Reason != "accept" || ev.Code != 0 || ev.ListenerId != s.ln.ID() {
				t.Fatalf("FD_ACCEPT = %v", ev)
			}
		}
	})
}

func TestListenerSubscribersGetAcceptAndInheritedClose(t *testing.T) {
	socktest.EachTransport(t, transports, func(t *testing.T, tr socktest.Transport) {
		s := startServer(t, serverOpts{tr: tr})
		lr := newRecorder(t, s.rt.System())
		if err := s.rt.Caller.Subscribe(ctx5(t), s.ln.PID(), lr.PID, events.MaskOf(events.FDAccept, events.FDClose)); err != nil {
			t.Fatal(err)
		}
		c := s.dial(t)
		id := lr.Accepted(t, 1)
		c.Close()
		if ev := lr.CloseEvent(t, id); ev.Reason != "peer-close" {
			t.Fatalf("inherited FD_CLOSE = %v", ev)
		}
	})
}

func TestDeadSubscribersAreDroppedOthersStillServed(t *testing.T) {
	eachTransportMode(t, func(t *testing.T, tr socktest.Transport, mode actors.Dispatch) {
		s := startServer(t, serverOpts{tr: tr, dispatch: mode})
		dead := newRecorder(t, s.rt.System())
		if err := s.rt.Subscribe(dead.PID, events.MaskAll); err != nil {
			t.Fatal(err)
		}
		if err := s.rt.System().Root.StopFuture(dead.PID).Wait(); err != nil {
			t.Fatal(err)
		}
		c := s.dial(t)
		id := s.rec.Accepted(t, 1)
		c.Close()
		s.rec.CloseEvent(t, id)
		socktest.WaitFor(t, "dead subscriber dropped", func() bool { return !s.rt.Unsubscribe(dead.PID) })
		if s.rt.Stats().Events.Dropped == 0 {
			t.Fatalf("no drop counted: %+v", s.rt.Stats().Events)
		}
	})
}

func TestLateSubscriberToClosedSocketGetsItsFDClose(t *testing.T) {
	socktest.EachTransport(t, transports, func(t *testing.T, tr socktest.Transport) {
		s := startServer(t, serverOpts{tr: tr, linger: 5 * time.Second})
		c := s.dial(t)
		id := s.rec.Accepted(t, 1)
		c.Close()
		s.rec.CloseEvent(t, id)
		late := newRecorder(t, s.rt.System())
		if err := s.rt.Caller.Subscribe(ctx5(t), s.rt.SocketPID(id), late.PID, events.MaskOf(events.FDClose)); err != nil {
			t.Fatal(err)
		}
		if ev := late.CloseEvent(t, id); ev.Reason != "peer-close" {
			t.Fatalf("late FD_CLOSE = %v", ev)
		}
	})
}

func TestShutdownClosesEverySocketAndIsIdempotent(t *testing.T) {
	eachTransportMode(t, func(t *testing.T, tr socktest.Transport, mode actors.Dispatch) {
		s := startServer(t, serverOpts{tr: tr, dispatch: mode})
		var ids []uint64
		for i := 1; i <= 3; i++ {
			c := s.dial(t)
			roundTrip(t, c, "x")
			ids = append(ids, s.rec.Accepted(t, i))
		}
		if err := s.rt.Shutdown(ctx5(t)); err != nil {
			t.Fatal(err)
		}
		if err := s.rt.Shutdown(ctx5(t)); err != nil {
			t.Fatalf("second Shutdown: %v", err)
		}
		for _, id := range ids {
			ev := s.rec.CloseEvent(t, id)
			if ev.Code != uint32(winsock.WSAENETDOWN) || ev.Reason != "shutdown" || !ev.Local {
				t.Fatalf("FD_CLOSE = %v", ev)
			}
		}
		if err := s.rt.Subscribe(s.rec.PID, events.MaskAll); !errors.Is(err, winsock.ErrNotInitialised) {
			t.Fatalf("Subscribe after Shutdown: %v, want WSANOTINITIALISED", err)
		}
		if st := s.rt.Stats().Sockets; st.Open != 0 || st.Closed["shutdown"] != 3 {
			t.Fatalf("stats after shutdown %+v", st)
		}
	})
}

func TestShutdownHonoursContext(t *testing.T) {
	s := startServer(t, serverOpts{})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := s.rt.Shutdown(ctx); err != nil && !errors.Is(err, context.Canceled) {
		t.Fatalf("Shutdown(cancelled) = %v", err)
	}
	// The shutdown still completes; the cleanup waits for it.
}

// TestLingerReleasesEachSocketInTurn: closed sockets share one linger
// queue (actors/linger.go); each still answers Info for its own Linger
// after its FD_CLOSE and is released when that linger ends, not when an
// earlier socket's does.
func TestLingerReleasesEachSocketInTurn(t *testing.T) {
	// Margins of seconds: on a loaded machine the closes and their
	// FD_CLOSEs may take a good part of one.
	const linger, gap = 3 * time.Second, time.Second
	s := startServer(t, serverOpts{linger: linger})
	c1 := s.dial(t)
	id1 := s.rec.Accepted(t, 1)
	c2 := s.dial(t)
	id2 := s.rec.Accepted(t, 2)
	pid1, pid2 := s.rt.SocketPID(id1), s.rt.SocketPID(id2)
	released := func(pid *actor.PID) bool {
		_, err := s.rt.Info(ctx5(t), pid)
		return errors.Is(err, winsock.ErrNotSock)
	}
	closed1 := time.Now() // before the close: its linger starts later
	c1.Close()
	s.rec.CloseEvent(t, id1)
	time.Sleep(gap)
	c2.Close()
	s.rec.CloseEvent(t, id2)
	if info, err := s.rt.Info(ctx5(t), pid1); time.Since(closed1) < linger && (err != nil || info.State != actors.StateClosed.String()) {
		t.Fatalf("socket 1 during its linger: %+v, %v; want it answering, closed", info, err)
	}
	socktest.WaitFor(t, "socket 1's linger to end", func() bool { return released(pid1) })
	if d := time.Since(closed1); d < linger {
		t.Fatalf("socket 1 released %v after its FD_CLOSE, before its linger of %v", d, linger)
	}
	if released(pid2) {
		t.Fatal("socket 2 released with socket 1, before its own linger ended")
	}
	socktest.WaitFor(t, "socket 2's linger to end", func() bool { return released(pid2) })
}
