package actors_test

import (
	"bufio"
	"errors"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
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
			if !ok || e.Code != uint32(winsock.WSAEINVAL) {
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
			if !errors.Is(err, winsock.ErrNotConn) || !errors.Is(err, syscall.ENOTCONN) {
				t.Fatalf("Write on FD_CLOSE peer-reset: %v, want WSAENOTCONN", err)
			}
		})

		t.Run("a panicking handler aborts only its socket", func(t *testing.T) {
			victim, pid := s.dial(t, 0)
			other, _ := s.dial(t, 0)
			id := actors.SocketIDOf(pid)
			res := request(t, sys, pid, &boom{})
			if e, ok := res.(*actors.Error); !ok || e.Code != uint32(winsock.WSAEINVAL) {
				t.Fatalf("request that panicked: reply %#v, want *actors.Error{WSAEINVAL}", res)
			}
			ev := s.rec.CloseEvent(t, id)
			if ev.Reason != "local-abort" || ev.Code != uint32(winsock.WSAECONNABORTED) || !ev.Local {
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
				if e, ok := back[0].(*actors.Error); ok && len(back) == 1 && e.Code == uint32(winsock.WSAEINVAL) {
					// See the report: Respond sends with the socket as
					// sender, so the requesting socket auto-answers the
					// reply with Error{WSAEINVAL "unhandled message"}.
					t.Fatalf("B's handler got a spurious %v (%q) for its Respond", winsock.Code(e.Code), e.Detail)
				}
				t.Fatalf("B's handler got %#v after answering A", back)
			}
		})
	})
}
