package actors_test

import (
	"bufio"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"go.uber.org/goleak"

	"github.com/sockactor/sockactor/internal/socktest"

	"github.com/sockactor/sockactor/actors"
	"github.com/sockactor/sockactor/events"
	"github.com/sockactor/sockactor/netio"
	sockrt "github.com/sockactor/sockactor/runtime"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, socktest.LeakOptions()...)
}

// ---- helpers ----

// modes is the dispatch matrix the handler tests run under, each mode a
// subtest (socktest.EachMode).
var modes = []actors.Dispatch{actors.Inline, actors.Pooled}

func ctx5(tb testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	tb.Cleanup(cancel)
	return ctx
}

// quiet is a logger for runtimes whose handlers panic on purpose.
var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// listenSpec is one listener of a test runtime.
type listenSpec struct {
	h    actors.Handler
	opts actors.ListenOptions
}

// testRT is a running runtime, shut down at cleanup, with a recorder
// subscribed to every event.
type testRT struct {
	rt  *sockrt.Runtime
	lns []*sockrt.Listener
	rec *recorder
}

func startRuntime(tb testing.TB, opts sockrt.Options, specs ...listenSpec) *testRT {
	tb.Helper()
	if opts.EventLoops == 0 {
		opts.EventLoops = 2
	}
	if opts.Linger == 0 {
		opts.Linger = 100 * time.Millisecond
	}
	rt, err := sockrt.New(opts)
	if err != nil {
		tb.Fatal(err)
	}
	s := &testRT{rt: rt}
	for _, sp := range specs {
		ln, err := rt.Listen("tcp://127.0.0.1:0", sp.h, sp.opts)
		if err != nil {
			tb.Fatal(err)
		}
		s.lns = append(s.lns, ln)
	}
	if err := rt.Start(ctx5(tb)); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := rt.Shutdown(ctx); err != nil {
			tb.Errorf("shutdown: %v", err)
		}
	})
	s.rec = newRecorder(rt.System())
	if err := rt.Subscribe(s.rec.PID, events.MaskAll); err != nil {
		tb.Fatal(err)
	}
	return s
}

// addr returns the address of listener i.
func (s *testRT) addr(i int) string { return s.lns[i].Addr().String() }

// dial connects a client to listener i and returns it with the PID of the
// socket actor the server made for it.
func (s *testRT) dial(tb testing.TB, i int) (*net.TCPConn, *actor.PID) {
	tb.Helper()
	c, err := net.DialTimeout("tcp", s.addr(i), 5*time.Second)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { c.Close() })
	ev := s.rec.AcceptedFor(tb, c)
	return c.(*net.TCPConn), s.rt.SocketPID(ev.SocketId)
}

// recorder records events (see socktest.Recorder).
type recorder = socktest.Recorder

func newRecorder(sys *actor.ActorSystem) *recorder { return socktest.NewRecorder(sys) }

// echo writes back what it receives.
var echo = actors.HandlerFunc(func(c *actors.Context) {
	if m, ok := c.Message().(*actors.Received); ok {
		_, _ = c.Write(m.Data)
	}
})

// roundTrip writes msg and reads the same number of bytes back.
func roundTrip(tb testing.TB, c net.Conn, msg string) string {
	tb.Helper()
	if _, err := c.Write([]byte(msg)); err != nil {
		tb.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, len(msg))
	if _, err := io.ReadFull(c, buf); err != nil {
		tb.Fatal(err)
	}
	return string(buf)
}

// request sends msg to pid as a raw protoactor request and returns the
// reply (the future's error fails the test).
func request(tb testing.TB, sys *actor.ActorSystem, pid *actor.PID, msg any) any {
	tb.Helper()
	res, err := sys.Root.RequestFuture(pid, msg, 5*time.Second).Result()
	if err != nil {
		tb.Fatalf("request %T to %v: %v", msg, pid, err)
	}
	return res
}

// ---- Caller: error mapping ----

// callerOps calls every Caller method; each returns the method's error.
var callerOps = []struct {
	op   string
	call func(c actors.Caller, ctx context.Context, pid *actor.PID) error
}{
	{"Send", func(c actors.Caller, ctx context.Context, pid *actor.PID) error {
		_, err := c.Send(ctx, pid, []byte("x"))
		return err
	}},
	{"Recv", func(c actors.Caller, ctx context.Context, pid *actor.PID) error {
		_, err := c.Recv(ctx, pid, 10)
		return err
	}},
	{"RecvDisconnect", func(c actors.Caller, ctx context.Context, pid *actor.PID) error {
		_, err := c.RecvDisconnect(ctx, pid)
		return err
	}},
	{"SendDisconnect", func(c actors.Caller, ctx context.Context, pid *actor.PID) error {
		return c.SendDisconnect(ctx, pid)
	}},
	{"Info", func(c actors.Caller, ctx context.Context, pid *actor.PID) error {
		_, err := c.Info(ctx, pid)
		return err
	}},
	{"Subscribe", func(c actors.Caller, ctx context.Context, pid *actor.PID) error {
		return c.Subscribe(ctx, pid, actor.NewPID("nonhost", "nobody"), events.MaskAll)
	}},
	{"Unsubscribe", func(c actors.Caller, ctx context.Context, pid *actor.PID) error {
		return c.Unsubscribe(ctx, pid, actor.NewPID("nonhost", "nobody"))
	}},
	{"Close", func(c actors.Caller, ctx context.Context, pid *actor.PID) error {
		return c.Close(ctx, pid)
	}},
	{"Abort", func(c actors.Caller, ctx context.Context, pid *actor.PID) error {
		return c.Abort(ctx, pid)
	}},
}

// wantOpError checks that err is a *netio.OpError for op and socket with
// the code want.
func wantOpError(tb testing.TB, err error, op string, socket uint64, want netio.Code) {
	tb.Helper()
	var oe *netio.OpError
	if !errors.As(err, &oe) {
		tb.Fatalf("%s: error %v (%T), want *netio.OpError", op, err, err)
	}
	if oe.Op != op || oe.Socket != socket || oe.Code != want {
		tb.Fatalf("%s: got OpError{Op: %q, Socket: %d, Code: %v}, want {%q, %d, %v}",
			op, oe.Op, oe.Socket, oe.Code, op, socket, want)
	}
	if !errors.Is(err, want) {
		tb.Fatalf("%s: errors.Is(%v, %v) = false", op, err, want)
	}
	if errno := want.Errno(); errno != 0 && !errors.Is(err, errno) {
		tb.Fatalf("%s: errors.Is(%v, %v) = false", op, err, errno)
	}
}

func TestCallerErrorMapping(t *testing.T) {
	s := startRuntime(t, sockrt.Options{Linger: time.Minute}, listenSpec{h: echo})
	sys := s.rt.System()
	client, pid := s.dial(t, 0)
	id := actors.SocketIDOf(pid)
	caller := actors.Caller{System: sys}

	// The live socket works through the Caller: the baseline.
	if n, err := caller.Send(ctx5(t), pid, []byte("ping")); err != nil || n != 4 {
		t.Fatalf("Send = %d, %v", n, err)
	}
	buf := make([]byte, 4)
	_ = client.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.ReadFull(client, buf); err != nil || string(buf) != "ping" {
		t.Fatalf("client read %q, %v", buf, err)
	}

	t.Run("nil system", func(t *testing.T) {
		for _, o := range callerOps {
			err := o.call(actors.Caller{}, ctx5(t), pid)
			wantOpError(t, err, o.op, id, netio.WSANOTINITIALISED)
			if !errors.Is(err, netio.ErrNotInitialised) {
				t.Fatalf("%s: %v is not ErrNotInitialised", o.op, err)
			}
		}
	})

	t.Run("nil PID", func(t *testing.T) {
		for _, o := range callerOps {
			wantOpError(t, o.call(caller, ctx5(t), nil), o.op, 0, netio.WSAENOTSOCK)
		}
	})

	t.Run("unknown PID", func(t *testing.T) {
		unknown := []*actor.PID{
			s.rt.SocketPID(1 << 40),
			actor.NewPID(sys.Address(), "no-such-actor"),
			actor.NewPID("10.255.255.1:1", "sock/3"), // remote, no remote configured
		}
		for _, u := range unknown {
			for _, o := range callerOps {
				err := o.call(caller, ctx5(t), u)
				wantOpError(t, err, o.op, actors.SocketIDOf(u), netio.WSAENOTSOCK)
				if !errors.Is(err, netio.ErrNotSock) || !errors.Is(err, syscall.ENOTSOCK) {
					t.Fatalf("%s to %v: %v", o.op, u, err)
				}
			}
		}
	})

	t.Run("cancelled context", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		for _, o := range callerOps {
			if err := o.call(caller, ctx, pid); !errors.Is(err, context.Canceled) {
				t.Fatalf("%s with a cancelled context: %v, want context.Canceled", o.op, err)
			}
		}
	})

	t.Run("expired deadline", func(t *testing.T) {
		for _, o := range callerOps {
			ctx, cancel := context.WithTimeout(context.Background(), time.Nanosecond)
			err := o.call(caller, ctx, pid)
			cancel()
			if !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, netio.ErrTimedOut) {
				t.Fatalf("%s with a 1ns deadline: %v, want DeadlineExceeded or WSAETIMEDOUT", o.op, err)
			}
		}
	})

	// The socket survived all of the above (none of it reached it, or it
	// was Close/Abort that never left the caller).
	if got := roundTrip(t, client, "still here"); got != "still here" {
		t.Fatalf("echo after the error cases: %q", got)
	}

	t.Run("no reply in time", func(t *testing.T) {
		silent := sys.Root.Spawn(actor.PropsFromFunc(func(actor.Context) {}))
		defer func() { _ = sys.Root.StopFuture(silent).Wait() }()
		short := actors.Caller{System: sys, Timeout: 20 * time.Millisecond}
		err := short.SendDisconnect(ctx5(t), silent)
		wantOpError(t, err, "SendDisconnect", 0, netio.WSAETIMEDOUT)
	})

	t.Run("reply mapping", func(t *testing.T) {
		// A PID that answers with an Error, or with a wrong type.
		replies := map[string]any{
			"error":  &actors.Error{Code: uint32(netio.WSAENOBUFS), Detail: "full"},
			"string": "hello",
		}
		answer := ""
		responder := sys.Root.Spawn(actor.PropsFromFunc(func(c actor.Context) {
			if _, ok := c.Message().(*actors.Info); ok {
				c.Respond(replies[answer])
			}
		}))
		defer func() { _ = sys.Root.StopFuture(responder).Wait() }()

		answer = "error"
		_, err := caller.Info(ctx5(t), responder)
		wantOpError(t, err, "Info", 0, netio.WSAENOBUFS)

		answer = "string"
		_, err = caller.Info(ctx5(t), responder)
		wantOpError(t, err, "Info", 0, netio.WSAEINVAL)
		if !strings.Contains(err.Error(), "unexpected reply string") {
			t.Fatalf("wrong-type reply: %v", err)
		}
	})

	t.Run("listener", func(t *testing.T) {
		lpid := s.lns[0].PID()
		lid := s.lns[0].ID()
		_, err := caller.Send(ctx5(t), lpid, []byte("x"))
		wantOpError(t, err, "Send", lid, netio.WSAENOTCONN)
		_, err = caller.RecvDisconnect(ctx5(t), lpid)
		wantOpError(t, err, "RecvDisconnect", lid, netio.WSAENOTCONN)
		info, err := caller.Info(ctx5(t), lpid)
		if err != nil || info.Kind != "listener" || info.State != "listening" || info.Socket != lid {
			t.Fatalf("listener Info = %v, %v", info, err)
		}
	})

	t.Run("listener Connect", func(t *testing.T) {
		// Every other socket answers Connect with a ConnectResult.
		res := request(t, sys, s.lns[0].PID(), &actors.Connect{Address: "tcp://" + s.addr(0)})
		if e, ok := res.(*actors.Error); ok {
			t.Fatalf("a listener answers Connect with *actors.Error %v (%q), not a ConnectResult", netio.Code(e.Code), e.Detail)
		}
		if r, ok := res.(*actors.ConnectResult); !ok || r.Code != uint32(netio.WSAEINVAL) {
			t.Fatalf("Connect to a listener: %#v, want ConnectResult{WSAEINVAL}", res)
		}
	})

	t.Run("peer-closed socket", func(t *testing.T) {
		c2, pid2 := s.dial(t, 0)
		id2 := actors.SocketIDOf(pid2)
		c2.CloseWrite() // a half-close: the peer still reads
		ev := s.rec.CloseEvent(t, id2)
		if ev.Reason != "peer-close" {
			t.Fatalf("FD_CLOSE reason %q", ev.Reason)
		}
		// Lingering (a minute): it still answers, with the right codes.
		// After the peer's FIN the send side is still ours (docs/SEMANTICS.md
		// §5): Send and SendDisconnect succeed, a second Send is refused.
		if n, err := caller.Send(ctx5(t), pid2, []byte("x")); err != nil || n != 1 {
			t.Fatalf("Send on a half-open socket = %d, %v", n, err)
		}
		if err := caller.SendDisconnect(ctx5(t), pid2); err != nil {
			t.Fatalf("SendDisconnect on a half-open socket: %v", err)
		}
		_, err := caller.Send(ctx5(t), pid2, []byte("x"))
		wantOpError(t, err, "Send", id2, netio.WSAESHUTDOWN)
		// docs/SEMANTICS.md §3.9: RecvDisconnect after FD_CLOSE still succeeds.
		if data, err := caller.RecvDisconnect(ctx5(t), pid2); err != nil || len(data) != 0 {
			t.Fatalf("RecvDisconnect after FD_CLOSE = %q, %v", data, err)
		}
		info, err := caller.Info(ctx5(t), pid2)
		if err != nil || info.State != "closed" || info.CloseReason != "peer-close" || info.Socket != id2 {
			t.Fatalf("Info after FD_CLOSE = %v, %v", info, err)
		}
	})

	t.Run("closed socket", func(t *testing.T) {
		_, pid3 := s.dial(t, 0)
		id3 := actors.SocketIDOf(pid3)
		if err := caller.Close(ctx5(t), pid3); err != nil {
			t.Fatalf("Close: %v", err)
		}
		// Released at once: every request is WSAENOTSOCK, with the op and
		// the socket id in the error.
		for _, o := range callerOps {
			wantOpError(t, o.call(caller, ctx5(t), pid3), o.op, id3, netio.WSAENOTSOCK)
		}
	})

	if got := roundTrip(t, client, "bye"); got != "bye" {
		t.Fatalf("echo at the end: %q", got)
	}
}

// ---- the Handler contract ----

// User message types: plain Go values, which a local PID carries as is.
type (
	// ping is answered with pong{N+1} (Respond).
	ping struct{ N int }
	pong struct{ N int }
	// ignored is never answered by the handler.
	ignored struct{}
	// deferred is answered later with pong{N*10} (Defer), from c.After or,
	// with timer, from a time.AfterFunc.
	deferred struct {
		N     int
		timer bool
	}
	// lateAnswer is the handler's own reminder for a deferred reply.
	lateAnswer struct {
		to *actor.PID
		n  int
	}
	// tick is sent with Context.After.
	tick struct{}
	// boom makes the handler panic.
	boom struct{}
	// askOther makes the handler Context.Request a ping of another socket.
	askOther struct {
		other *actor.PID
		n     int
	}
)

// selfReport is what the handler saw of its Context on FD_ACCEPT.
type selfReport struct {
	id             uint64
	self, sender   *actor.PID
	dispatch       actors.Dispatch
	local, remote  string
	system         *actor.ActorSystem
	firstState     any
	str            string
	selfIDMatches  bool
	messageIsEvent bool
}

// board collects what the handlers saw, by socket id. Handlers never
// block on it (an Inline handler runs on an event loop).
type board struct {
	mu          sync.Mutex
	selves      map[uint64]selfReport
	ticks       map[uint64]int
	closeWrites map[uint64]error
	closeSeen   map[uint64]bool
	replies     map[uint64][]any // what reached a handler as a reply
}

func newBoard() *board {
	return &board{
		selves:      map[uint64]selfReport{},
		ticks:       map[uint64]int{},
		closeWrites: map[uint64]error{},
		closeSeen:   map[uint64]bool{},
		replies:     map[uint64][]any{},
	}
}

func (b *board) with(f func()) {
	b.mu.Lock()
	defer b.mu.Unlock()
	f()
}

// contract is a handler that exercises the whole Context API.
type contract struct{ b *board }

func (h contract) Receive(c *actors.Context) {
	b := h.b
	switch m := c.Message().(type) {
	case *events.Event:
		switch m.EventKind() {
		case events.FDAccept:
			r := selfReport{
				id: c.ID(), self: c.Self(), sender: c.Sender(), dispatch: c.Dispatch(),
				local: c.LocalAddr(), remote: c.RemoteAddr(), system: c.System(),
				firstState: c.State(), str: c.String(),
				selfIDMatches:  actors.SocketIDOf(c.Self()) == c.ID(),
				messageIsEvent: c.Message() == any(m),
			}
			b.with(func() { b.selves[c.ID()] = r })
			c.After(time.Millisecond, tick{})
		case events.FDClose:
			// The peer is gone: Write must fail, deterministically, here.
			_, err := c.Write([]byte("too late"))
			b.with(func() { b.closeWrites[c.ID()], b.closeSeen[c.ID()] = err, true })
		}
	case tick:
		b.with(func() { b.ticks[c.ID()]++ })
	case *actors.Received:
		// Per-socket state: count bytes; each '.' writes the count so far.
		n, _ := c.State().(int)
		for _, ch := range m.Data {
			if ch == '.' {
				_, _ = c.WriteString(strconv.Itoa(n) + "\n")
				continue
			}
			n++
		}
		c.SetState(n)
	case *ping:
		c.Respond(&pong{N: m.N + 1})
	case *ignored:
		// Neither Respond nor Defer: the runtime answers Error{WSAEINVAL}.
	case *deferred:
		to := c.Defer()
		if m.timer {
			sys, n := c.System(), m.N
			time.AfterFunc(5*time.Millisecond, func() { sys.Root.Send(to, &pong{N: n * 10}) })
		} else {
			c.After(5*time.Millisecond, lateAnswer{to: to, n: m.N})
		}
	case lateAnswer:
		c.Send(m.to, &pong{N: m.n * 10})
	case *boom:
		panic("boom")
	case *askOther:
		c.Request(m.other, &ping{N: m.n})
	case *pong, *actors.Error:
		b.with(func() { b.replies[c.ID()] = append(b.replies[c.ID()], m) })
	}
}

func TestHandlerContract(t *testing.T) {
	socktest.EachMode(t, modes, func(t *testing.T, mode actors.Dispatch) {
		b := newBoard()
		s := startRuntime(t, sockrt.Options{Linger: time.Minute, Logger: quiet},
			listenSpec{h: contract{b}, opts: actors.ListenOptions{Dispatch: mode}})
		sys := s.rt.System()

		report := func(t *testing.T, id uint64) selfReport {
			t.Helper()
			var r selfReport
			socktest.WaitFor(t, "the handler's FD_ACCEPT", func() bool {
				ok := false
				b.with(func() { r, ok = b.selves[id] })
				return ok
			})
			return r
		}

		t.Run("Self and the Context accessors", func(t *testing.T) {
			client, pid := s.dial(t, 0)
			id := actors.SocketIDOf(pid)
			r := report(t, id)
			switch {
			case r.id != id:
				t.Fatalf("c.ID() = %d, want %d", r.id, id)
			case !r.selfIDMatches:
				t.Fatalf("SocketIDOf(c.Self()) != c.ID() (%v, %d)", r.self, r.id)
			case !r.self.Equal(pid):
				t.Fatalf("c.Self() = %v, want %v", r.self, pid)
			case r.sender != nil:
				t.Fatalf("c.Sender() on FD_ACCEPT = %v, want nil", r.sender)
			case r.dispatch != mode:
				t.Fatalf("c.Dispatch() = %v, want %v", r.dispatch, mode)
			case r.remote != client.LocalAddr().String() || r.local != client.RemoteAddr().String():
				t.Fatalf("addresses %s <- %s, client %s -> %s", r.local, r.remote, client.LocalAddr(), client.RemoteAddr())
			case r.system != sys:
				t.Fatal("c.System() is not the runtime's actor system")
			case r.firstState != nil:
				t.Fatalf("first c.State() = %v, want nil", r.firstState)
			case !r.messageIsEvent:
				t.Fatal("c.Message() is not the FD_ACCEPT event")
			case !strings.Contains(r.str, strconv.FormatUint(id, 10)) || !strings.Contains(r.str, mode.String()):
				t.Fatalf("c.String() = %q", r.str)
			}
		})

		t.Run("After delivers to the handler", func(t *testing.T) {
			_, pid := s.dial(t, 0)
			id := actors.SocketIDOf(pid)
			socktest.WaitFor(t, "the tick", func() bool {
				n := 0
				b.with(func() { n = b.ticks[id] })
				return n == 1
			})
		})

		t.Run("State is per socket", func(t *testing.T) {
			c1, _ := s.dial(t, 0)
			c2, _ := s.dial(t, 0)
			steps := []struct {
				c    net.Conn
				send string
				want string
			}{
				{c1, "aaa.", "3\n"},
				{c2, "b.", "1\n"},
				{c1, "aa.", "5\n"},
				{c2, ".", "1\n"},
				{c2, "bbbb.", "5\n"},
				{c1, "a.", "6\n"},
			}
			r1 := bufio.NewReader(c1)
			r2 := bufio.NewReader(c2)
			for i, st := range steps {
				r := r1
				if st.c == c2 {
					r = r2
				}
				if _, err := st.c.Write([]byte(st.send)); err != nil {
					t.Fatal(err)
				}
				_ = st.c.SetReadDeadline(time.Now().Add(5 * time.Second))
				line, err := r.ReadString('\n')
				if err != nil || line != st.want {
					t.Fatalf("step %d: sent %q, got %q, %v; want %q", i, st.send, line, err, st.want)
				}
			}
		})

		t.Run("Respond answers a user request", func(t *testing.T) {
			_, pid := s.dial(t, 0)
			got, ok := request(t, sys, pid, &ping{N: 41}).(*pong)
			if !ok || got.N != 42 {
				t.Fatalf("reply %#v, want &pong{42}", got)
			}
		})

		t.Run("an unanswered user request gets Error WSAEINVAL", func(t *testing.T) {
			_, pid := s.dial(t, 0)
			res := request(t, sys, pid, &ignored{})
			e, ok := res.(*actors.Error)
			if !ok || e.Code != uint32(netio.WSAEINVAL) {
				t.Fatalf("reply %#v, want *actors.Error{WSAEINVAL}", res)
			}
			if !strings.Contains(e.Detail, "ignored") {
				t.Fatalf("Error detail %q does not name the message type", e.Detail)
			}
			// The socket keeps answering after the Error.
			if got, ok := request(t, sys, pid, &ping{N: 1}).(*pong); !ok || got.N != 2 {
				t.Fatalf("the socket stopped answering after the Error: %#v", got)
			}
		})

		t.Run("Defer answers later and suppresses the Error", func(t *testing.T) {
			_, pid := s.dial(t, 0)
			for _, timer := range []bool{false, true} {
				res := request(t, sys, pid, &deferred{N: 7, timer: timer})
				got, ok := res.(*pong)
				if !ok || got.N != 70 {
					t.Fatalf("timer=%v: reply %#v, want &pong{70} (no Error before it)", timer, res)
				}
			}
			// With an actor as the requester, every message it gets
			// counts: exactly the late answer, and no Error.
			var mu sync.Mutex
			var got []any
			requester := sys.Root.Spawn(actor.PropsFromFunc(func(c actor.Context) {
				switch m := c.Message().(type) {
				case string:
					c.Request(pid, &deferred{N: 3})
				case *pong, *actors.Error:
					mu.Lock()
					got = append(got, m)
					mu.Unlock()
				}
			}))
			defer func() { _ = sys.Root.StopFuture(requester).Wait() }()
			sys.Root.Send(requester, "go")
			socktest.WaitFor(t, "the late answer", func() bool {
				mu.Lock()
				defer mu.Unlock()
				return len(got) > 0
			})
			// Make sure nothing else is in flight from the socket: a
			// ping round trip on the same socket orders after it.
			if _, ok := request(t, sys, pid, &ping{}).(*pong); !ok {
				t.Fatal("ping after the deferred request")
			}
			mu.Lock()
			defer mu.Unlock()
			if len(got) != 1 {
				t.Fatalf("requester got %d replies %v, want exactly the late answer", len(got), got)
			}
			if p, ok := got[0].(*pong); !ok || p.N != 30 {
				t.Fatalf("requester got %#v, want &pong{30}", got[0])
			}
		})

		t.Run("Write after the peer's FIN succeeds (half-open)", func(t *testing.T) {
			client, pid := s.dial(t, 0)
			id := actors.SocketIDOf(pid)
			report(t, id)
			client.CloseWrite()
			var err error
			socktest.WaitFor(t, "the handler's FD_CLOSE", func() bool {
				seen := false
				b.with(func() { err, seen = b.closeWrites[id], b.closeSeen[id] })
				return seen
			})
			if err != nil {
				t.Fatalf("Write on FD_CLOSE peer-close: %v, want success", err)
			}
			_ = client.SetReadDeadline(time.Now().Add(5 * time.Second))
			if _, err := io.ReadAtLeast(client, make([]byte, 1), 1); err != nil {
				t.Fatalf("the peer did not receive the handler's write: %v", err)
			}
		})

		t.Run("Write after a peer reset fails with WSAENOTCONN", func(t *testing.T) {
			client, pid := s.dial(t, 0)
			id := actors.SocketIDOf(pid)
			report(t, id)
			_ = client.SetLinger(0)
			client.Close()
			var err error
			socktest.WaitFor(t, "the handler's FD_CLOSE", func() bool {
				seen := false
				b.with(func() { err, seen = b.closeWrites[id], b.closeSeen[id] })
				return seen
			})
			if !errors.Is(err, netio.ErrNotConn) || !errors.Is(err, syscall.ENOTCONN) {
				t.Fatalf("Write on FD_CLOSE peer-reset: %v, want WSAENOTCONN", err)
			}
		})

		t.Run("a panicking handler aborts only its socket", func(t *testing.T) {
			victim, pid := s.dial(t, 0)
			other, _ := s.dial(t, 0)
			id := actors.SocketIDOf(pid)
			res := request(t, sys, pid, &boom{})
			if e, ok := res.(*actors.Error); !ok || e.Code != uint32(netio.WSAEINVAL) {
				t.Fatalf("request that panicked: reply %#v, want *actors.Error{WSAEINVAL}", res)
			}
			ev := s.rec.CloseEvent(t, id)
			if ev.Reason != "local-abort" || ev.Code != uint32(netio.WSAECONNABORTED) || !ev.Local {
				t.Fatalf("FD_CLOSE after the panic: %v", ev)
			}
			_ = victim.SetReadDeadline(time.Now().Add(5 * time.Second))
			if _, err := victim.Read(make([]byte, 1)); err == nil {
				t.Fatal("the victim's client can still read")
			}
			if got := roundTrip(t, other, "x.y."); got != "1\n2\n" {
				t.Fatalf("the other socket: %q", got)
			}
		})

		t.Run("Request to another socket's handler", func(t *testing.T) {
			_, a := s.dial(t, 0)
			_, bpid := s.dial(t, 0)
			aID := actors.SocketIDOf(a)
			s.rt.System().Root.Send(a, &askOther{other: bpid, n: 9})
			socktest.WaitFor(t, "the pong at A", func() bool {
				n := 0
				b.with(func() { n = len(b.replies[aID]) })
				return n > 0
			})
			b.with(func() {
				if p, ok := b.replies[aID][0].(*pong); !ok || p.N != 10 {
					t.Fatalf("A got %#v, want &pong{10}", b.replies[aID][0])
				}
			})
			// B answered A's request with Respond; A's handler took the
			// pong as an ordinary message. B must get nothing back. A
			// ping to A, then one to B, orders after anything A sent B
			// while handling the pong.
			bID := actors.SocketIDOf(bpid)
			if _, ok := request(t, sys, a, &ping{}).(*pong); !ok {
				t.Fatal("ping A")
			}
			if _, ok := request(t, sys, bpid, &ping{}).(*pong); !ok {
				t.Fatal("ping B")
			}
			var back []any
			b.with(func() { back = append(back, b.replies[bID]...) })
			if len(back) > 0 {
				if e, ok := back[0].(*actors.Error); ok && len(back) == 1 && e.Code == uint32(netio.WSAEINVAL) {
					// See the report: Respond sends with the socket as
					// sender, so the requesting socket auto-answers the
					// reply with Error{WSAEINVAL "unhandled message"}.
					t.Fatalf("B's handler got a spurious %v (%q) for its Respond", netio.Code(e.Code), e.Detail)
				}
				t.Fatalf("B's handler got %#v after answering A", back)
			}
		})
	})
}

// ---- dialled sockets ----

func TestDial(t *testing.T) {
	socktest.EachMode(t, modes, func(t *testing.T, mode actors.Dispatch) {
		s := startRuntime(t, sockrt.Options{Linger: time.Minute}, listenSpec{h: echo})
		var mu sync.Mutex
		var got []byte
		h := actors.HandlerFunc(func(c *actors.Context) {
			switch m := c.Message().(type) {
			case *events.Event:
				if m.EventKind() == events.FDConnect && m.Code == 0 {
					_, _ = c.WriteString("dialled")
				}
			case *actors.Received:
				mu.Lock()
				got = append(got, m.Data...)
				mu.Unlock()
			}
		})
		pid, err := s.rt.Dial(ctx5(t), "tcp://"+s.addr(0), h, actors.DialOptions{SocketOptions: actors.SocketOptions{Dispatch: mode}})
		if err != nil {
			t.Fatal(err)
		}
		socktest.WaitFor(t, "the echo of what the dialled socket wrote", func() bool {
			mu.Lock()
			defer mu.Unlock()
			return string(got) == "dialled"
		})
		ev := s.rec.Find(func(ev *events.Event) bool {
			return ev.EventKind() == events.FDConnect && ev.SocketId == actors.SocketIDOf(pid)
		})
		if ev == nil || ev.Code != 0 {
			t.Fatalf("FD_CONNECT to the runtime-wide subscriber: %v", ev)
		}
		caller := actors.Caller{System: s.rt.System()}
		info, err := caller.Info(ctx5(t), pid)
		if err != nil || info.Kind != "tcp" || info.State != "open" || info.ListenerId != 0 ||
			info.Dispatch != mode.String() || info.RemoteAddr != s.addr(0) {
			t.Fatalf("Info of the dialled socket = %v, %v", info, err)
		}
		// Sockets are never reused: Connect on a connected one is
		// Winsock's WSAEISCONN.
		res := request(t, s.rt.System(), pid, &actors.Connect{Address: "tcp://" + s.addr(0)})
		if r, ok := res.(*actors.ConnectResult); !ok || r.Code != uint32(netio.WSAEISCONN) {
			t.Fatalf("Connect on a connected socket: %#v", res)
		}
		if err := caller.Close(ctx5(t), pid); err != nil {
			t.Fatalf("Close: %v", err)
		}
	})
}

func TestDialBadArguments(t *testing.T) {
	s := startRuntime(t, sockrt.Options{}, listenSpec{h: echo})
	addr := "tcp://" + s.addr(0)
	tests := []struct {
		name string
		addr string
		h    actors.Handler
		opts actors.DialOptions
	}{
		{"nil handler", addr, nil, actors.DialOptions{}},
		{"unknown dispatch", addr, echo, actors.DialOptions{SocketOptions: actors.SocketOptions{Dispatch: actors.Dispatch(9)}}},
		{"unsupported network", "udp://127.0.0.1:1", echo, actors.DialOptions{}},
		{"no port", "tcp://127.0.0.1", echo, actors.DialOptions{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pid, err := s.rt.Dial(ctx5(t), tt.addr, tt.h, tt.opts)
			if pid != nil || !errors.Is(err, netio.ErrInvalid) {
				t.Fatalf("Dial = %v, %v; want nil, WSAEINVAL", pid, err)
			}
		})
	}
}

func TestDialRefused(t *testing.T) {
	// A port with nothing behind it.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closedAddr := l.Addr().String()
	l.Close()

	s := startRuntime(t, sockrt.Options{Linger: time.Minute}, listenSpec{h: echo})
	sys := s.rt.System()
	var mu sync.Mutex
	var seen []*events.Event
	h := actors.HandlerFunc(func(c *actors.Context) {
		if ev, ok := c.Message().(*events.Event); ok {
			mu.Lock()
			seen = append(seen, ev)
			mu.Unlock()
		}
	})
	pid, err := s.rt.Dial(ctx5(t), "tcp://"+closedAddr, h, actors.DialOptions{})
	if err != nil {
		t.Fatal(err)
	}
	socktest.WaitFor(t, "the failed FD_CONNECT", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(seen) > 0
	})
	mu.Lock()
	ev := seen[0]
	mu.Unlock()
	if ev.EventKind() != events.FDConnect || ev.Code != uint32(netio.WSAECONNREFUSED) {
		t.Fatalf("the handler got %v, want FD_CONNECT WSAECONNREFUSED", ev)
	}

	// Lingering, never connected: every request gets its reply type.
	code := func(m any) uint32 {
		switch r := m.(type) {
		case *actors.SendResult:
			return r.Code
		case *actors.RecvResult:
			return r.Code
		case *actors.RecvDisconnectResult:
			return r.Code
		case *actors.SendDisconnectResult:
			return r.Code
		case *actors.SubscribeResult:
			return r.Code
		case *actors.ConnectResult:
			return r.Code
		}
		t.Fatalf("unexpected reply %T", m)
		return 0
	}
	notConn, inval := uint32(netio.WSAENOTCONN), uint32(netio.WSAEINVAL)
	tests := []struct {
		req  any
		want uint32
	}{
		{&actors.Send{Data: []byte("x")}, notConn},
		{&actors.Recv{Max: 1}, notConn},
		{&actors.RecvDisconnect{}, notConn}, // docs/SEMANTICS.md §3.7
		{&actors.RecvDisconnect{BufferLen: -1}, inval},
		{&actors.SendDisconnect{}, notConn},
		{&actors.Connect{Address: "tcp://" + closedAddr}, inval},
		{&actors.Subscribe{SubscriberAddress: sys.Address(), SubscriberId: "x", Mask: uint32(events.FDClose)}, 0},
		{&actors.Subscribe{SubscriberId: "x", Mask: 0x4000}, inval},
		{&actors.Unsubscribe{SubscriberAddress: sys.Address(), SubscriberId: "x"}, 0},
	}
	for _, tt := range tests {
		if got := code(request(t, sys, pid, tt.req)); got != tt.want {
			t.Errorf("%T %v on a failed dial: code %d, want %d", tt.req, tt.req, got, tt.want)
		}
	}
	info, ok := request(t, sys, pid, &actors.Info{}).(*actors.SocketInfo)
	if !ok || info.State != "failed" || info.Socket != actors.SocketIDOf(pid) {
		t.Fatalf("Info on a failed dial: %v", info)
	}

	t.Run("Unsubscribe without a subscriber", func(t *testing.T) {
		// A connected socket and a listener answer WSAEINVAL; a socket
		// without a connection should too.
		got := code(request(t, sys, pid, &actors.Unsubscribe{}))
		if got == 0 {
			t.Fatal("an unconnected socket answers Unsubscribe{} with code 0 (connected sockets and listeners: WSAEINVAL)")
		}
		if got != inval {
			t.Fatalf("Unsubscribe{} on a failed dial: code %d, want WSAEINVAL", got)
		}
	})
}

// TestCallerStartsNoGoroutine: a request whose context is cancelled returns
// at once and leaves nothing behind (no waiter lives on until the request's
// timeout), and its reply process is gone from the registry.
func TestCallerStartsNoGoroutine(t *testing.T) {
	sys := actor.NewActorSystem()
	defer sys.Shutdown()
	mute, err := sys.Root.SpawnNamed(actor.PropsFromFunc(func(actor.Context) {}), "mute")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = sys.Root.StopFuture(mute).Wait() }()
	before := registrySize(sys)
	c := actors.Caller{System: sys, Timeout: time.Minute}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := c.Info(ctx, mute); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Info to an actor that never answers: %v, want context.DeadlineExceeded", err)
	}
	if n := registrySize(sys); n != before {
		t.Fatalf("registry holds %d processes after the call, %d before", n, before)
	}
	goleak.VerifyNone(t, append(socktest.LeakOptions(), goleak.IgnoreCurrent())...)
}

// registrySize counts the processes in sys's registry.
func registrySize(sys *actor.ActorSystem) int {
	n := 0
	for _, b := range sys.ProcessRegistry.LocalPIDs.LocalPIDs {
		n += b.Count()
	}
	return n
}
