package runtime_test

import (
	"errors"
	"fmt"
	"io"
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

type unknownMsg struct{}

// request sends msg to pid as a raw protoactor request.
func request(t *testing.T, s *server, pid *actor.PID, msg any) any {
	t.Helper()
	r, err := s.rt.System().Root.RequestFuture(pid, msg, 5*time.Second).Result()
	if err != nil {
		t.Fatalf("request %T: %v", msg, err)
	}
	return r
}

func TestBadInputGetsErrorCodesAndDisturbsNothing(t *testing.T) {
	socktest.EachMode(t, modes, func(t *testing.T, mode actors.Dispatch) {
		s := startServer(t, serverOpts{dispatch: mode})
		c := dial(t, s.addr)
		roundTrip(t, c, "warm-up")
		pid := s.rt.SocketPID(s.rec.Accepted(t, 1))
		inval := uint32(winsock.WSAEINVAL)
		cases := []struct {
			name string
			to   *actor.PID
			msg  any
			code func(any) uint32
		}{
			{"negative Recv max", pid, &actors.Recv{Max: -1}, func(r any) uint32 { return r.(*actors.RecvResult).Code }},
			{"negative RecvDisconnect buffer", pid, &actors.RecvDisconnect{BufferLen: -1}, func(r any) uint32 { return r.(*actors.RecvDisconnectResult).Code }},
			{"nil Send", pid, (*actors.Send)(nil), func(r any) uint32 { return r.(*actors.SendResult).Code }},
			{"nil Recv", pid, (*actors.Recv)(nil), func(r any) uint32 { return r.(*actors.RecvResult).Code }},
			{"nil RecvDisconnect", pid, (*actors.RecvDisconnect)(nil), func(r any) uint32 { return r.(*actors.RecvDisconnectResult).Code }},
			{"subscribe without PID", pid, &actors.Subscribe{Mask: uint32(events.MaskAll)}, func(r any) uint32 { return r.(*actors.SubscribeResult).Code }},
			{"subscribe empty mask", pid, actors.NewSubscribe(s.rec.PID, 0), func(r any) uint32 { return r.(*actors.SubscribeResult).Code }},
			{"subscribe unknown bits", pid, actors.NewSubscribe(s.rec.PID, 0x40), func(r any) uint32 { return r.(*actors.SubscribeResult).Code }},
			{"unknown type to socket", pid, &unknownMsg{}, func(r any) uint32 { return r.(*actors.Error).Code }},
			{"unknown type to listener", s.ln.PID(), &unknownMsg{}, func(r any) uint32 { return r.(*actors.Error).Code }},
			{"negative buffer to listener", s.ln.PID(), &actors.RecvDisconnect{BufferLen: -5}, func(r any) uint32 { return r.(*actors.RecvDisconnectResult).Code }},
		}
		for _, tc := range cases {
			if got := tc.code(request(t, s, tc.to, tc.msg)); got != inval {
				t.Errorf("%s: code %d, want %d", tc.name, got, inval)
			}
		}
		// Push-mode Recv on an open socket: nothing buffered.
		if _, err := s.rt.Recv(ctx5(t), pid, 10); !errors.Is(err, winsock.ErrWouldBlock) {
			t.Errorf("Recv: %v, want WSAEWOULDBLOCK", err)
		}
		// The socket and its neighbours are undisturbed.
		if got := roundTrip(t, c, "still echoing"); got != "still echoing" {
			t.Fatalf("echo after bad input: %q", got)
		}
		if got := roundTrip(t, dial(t, s.addr), "new conn"); got != "new conn" {
			t.Fatalf("new connection: %q", got)
		}
		if n := s.rec.Count(s.rec.Accepted(t, 1), events.FDClose); n != 0 {
			t.Fatalf("bad input closed the socket")
		}
	})
}

func TestOversizedSendIsRefused(t *testing.T) {
	rt, err := sockrt.New(sockrt.Options{EventLoops: 1, MaxSend: 1024})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := rt.Listen("tcp://127.0.0.1:0", echo, actors.ListenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := rt.Start(ctx5(t)); err != nil {
		t.Fatal(err)
	}
	defer rt.Shutdown(ctx5(t))
	rec := newRecorder(t, rt.System())
	_ = rt.Subscribe(rec.PID, events.MaskAll)
	c := dial(t, ln.Addr().String())
	pid := rt.SocketPID(rec.Accepted(t, 1))
	if _, err := rt.Send(ctx5(t), pid, make([]byte, 2048)); !errors.Is(err, winsock.ErrMsgSize) {
		t.Fatalf("oversized Send: %v, want WSAEMSGSIZE", err)
	}
	if n, err := rt.Send(ctx5(t), pid, []byte("fits")); err != nil || n != 4 {
		t.Fatalf("Send = %d, %v", n, err)
	}
	buf := make([]byte, 4)
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.ReadFull(c, buf); err != nil || string(buf) != "fits" {
		t.Fatalf("read %q %v", buf, err)
	}
}

// counter counts received bytes and never writes.
type counter struct{ n atomic.Int64 }

func (h *counter) Receive(c *actors.Context) {
	if m, ok := c.Message().(*actors.Received); ok {
		h.n.Add(int64(len(m.Data)))
	}
}

func TestSendDisconnectSendsFINAndKeepsReceiving(t *testing.T) {
	socktest.EachMode(t, modes, func(t *testing.T, mode actors.Dispatch) {
		h := &counter{}
		s := startServer(t, serverOpts{dispatch: mode, handler: h})
		c := dial(t, s.addr)
		pid := s.rt.SocketPID(s.rec.Accepted(t, 1))
		if _, err := s.rt.Send(ctx5(t), pid, []byte("bye")); err != nil {
			t.Fatal(err)
		}
		for i := 0; i < 2; i++ { // idempotent
			if err := s.rt.SendDisconnect(ctx5(t), pid); err != nil {
				t.Fatal(err)
			}
		}
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		got, err := io.ReadAll(c)
		if err != nil || string(got) != "bye" {
			t.Fatalf("client read %q, %v; want bye then EOF", got, err)
		}
		if _, err := s.rt.Send(ctx5(t), pid, []byte("more")); !errors.Is(err, winsock.ErrShutdown) {
			t.Fatalf("Send after SendDisconnect: %v, want WSAESHUTDOWN", err)
		}
		if _, err := c.Write([]byte("12345")); err != nil {
			t.Fatal(err)
		}
		socktest.WaitFor(t, "receive after FIN", func() bool { return h.n.Load() == 5 })
		info, err := s.rt.Info(ctx5(t), pid)
		if err != nil || !info.SendShut || info.RecvShut {
			t.Fatalf("info %+v %v", info, err)
		}
	})
}

func TestHandlerPanicAbortsOnlyItsSocket(t *testing.T) {
	socktest.EachMode(t, modes, func(t *testing.T, mode actors.Dispatch) {
		h := actors.HandlerFunc(func(c *actors.Context) {
			if m, ok := c.Message().(*actors.Received); ok {
				if string(m.Data) == "boom" {
					panic("handler bug")
				}
				_, _ = c.Write(m.Data)
			}
		})
		s := startServer(t, serverOpts{dispatch: mode, handler: h})
		good := dial(t, s.addr)
		roundTrip(t, good, "ok")
		bad := dial(t, s.addr)
		badID := s.rec.Accepted(t, 2)
		_, _ = bad.Write([]byte("boom"))
		if ev := s.rec.CloseEvent(t, badID); ev.Reason != "local-abort" {
			t.Fatalf("FD_CLOSE = %v", ev)
		}
		if got := roundTrip(t, good, "alive"); got != "alive" {
			t.Fatalf("neighbour: %q", got)
		}
	})
}

func TestListenAndStartErrors(t *testing.T) {
	rt, err := sockrt.New(sockrt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Shutdown(ctx5(t))
	for _, addr := range []string{"sctp://127.0.0.1:0", "127.0.0.1", "tcp://"} {
		if _, err := rt.Listen(addr, echo, actors.ListenOptions{}); !errors.Is(err, winsock.ErrInvalid) {
			t.Errorf("Listen(%q) = %v, want WSAEINVAL", addr, err)
		}
	}
	if _, err := rt.Listen("tcp://127.0.0.1:0", nil, actors.ListenOptions{}); !errors.Is(err, winsock.ErrInvalid) {
		t.Errorf("nil handler: %v", err)
	}
	if _, err := rt.Dial(ctx5(t), "tcp://127.0.0.1:1", echo, actors.DialOptions{}); !errors.Is(err, winsock.ErrNotInitialised) {
		t.Errorf("Dial before Start: %v, want WSANOTINITIALISED", err)
	}
	// A runtime without listeners is a valid dial-only runtime.
	if err := rt.Start(ctx5(t)); err != nil {
		t.Errorf("Start without listener: %v", err)
	}
	if err := rt.Start(ctx5(t)); !errors.Is(err, winsock.ErrInvalid) {
		t.Errorf("second Start: %v, want WSAEINVAL", err)
	}
}

func TestPooledWriteAfterSendDisconnectIsOrderedAndRefused(t *testing.T) {
	var lateErr atomic.Value
	h := actors.HandlerFunc(func(c *actors.Context) {
		switch m := c.Message().(type) {
		case *actors.Received:
			if string(m.Data) == "shut" {
				_, _ = c.WriteString("before FIN")
				c.Send(c.Self(), &actors.SendDisconnect{})
				_, _ = c.WriteString("after FIN") // queued behind SendDisconnect
				return
			}
			_, err := c.Write(m.Data)
			lateErr.Store(fmt.Sprint(err))
		}
	})
	s := startServer(t, serverOpts{dispatch: actors.Pooled, handler: h})
	c := dial(t, s.addr)
	id := s.rec.Accepted(t, 1)
	if _, err := c.Write([]byte("shut")); err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	got, err := io.ReadAll(c)
	if err != nil || string(got) != "before FIN" {
		t.Fatalf("client read %q, %v; want only %q then EOF", got, err, "before FIN")
	}
	if _, err := c.Write([]byte("x")); err != nil {
		t.Fatal(err)
	}
	socktest.WaitFor(t, "handler write after FIN", func() bool { return lateErr.Load() != nil })
	if e := lateErr.Load().(string); e != winsock.ErrShutdown.Error() {
		t.Fatalf("Write after SendDisconnect: %s, want %v", e, winsock.ErrShutdown)
	}
	if n := s.rec.Count(id, events.FDClose); n != 0 {
		t.Fatalf("socket closed (%d FD_CLOSE); a refused write must not reset it", n)
	}
}
