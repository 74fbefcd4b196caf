package actors_test

import (
	"errors"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/sockactor/sockactor/actors"
	"github.com/sockactor/sockactor/events"
	"github.com/sockactor/sockactor/internal/socktest"
	sockrt "github.com/sockactor/sockactor/runtime"
	"github.com/sockactor/sockactor/winsock"
)

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
		if r, ok := res.(*actors.ConnectResult); !ok || r.Code != uint32(winsock.WSAEISCONN) {
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
		{"unsupported network", "sctp://127.0.0.1:1", echo, actors.DialOptions{}},
		{"no port", "tcp://127.0.0.1", echo, actors.DialOptions{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pid, err := s.rt.Dial(ctx5(t), tt.addr, tt.h, tt.opts)
			if pid != nil || !errors.Is(err, winsock.ErrInvalid) {
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
	if ev.EventKind() != events.FDConnect || ev.Code != uint32(winsock.WSAECONNREFUSED) {
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
		case *actors.SuspendReadingResult:
			return r.Code
		case *actors.ResumeReadingResult:
			return r.Code
		}
		t.Fatalf("unexpected reply %T", m)
		return 0
	}
	notConn, inval := uint32(winsock.WSAENOTCONN), uint32(winsock.WSAEINVAL)
	tests := []struct {
		req  any
		want uint32
	}{
		{&actors.Send{Data: []byte("x")}, notConn},
		{&actors.Recv{Max: 1}, notConn},
		{&actors.RecvDisconnect{}, notConn}, // docs/SEMANTICS.md §3.7
		{&actors.RecvDisconnect{BufferLen: -1}, inval},
		{&actors.SendDisconnect{}, notConn},
		{&actors.SuspendReading{}, notConn},
		{&actors.ResumeReading{}, notConn},
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
