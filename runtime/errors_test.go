package runtime_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sockactor/sockactor/actors"
	"github.com/sockactor/sockactor/events"
	"github.com/sockactor/sockactor/internal/socktest"
	sockrt "github.com/sockactor/sockactor/runtime"
	"github.com/sockactor/sockactor/winsock"
)

// unresolvableAddr names a host under the reserved .invalid TLD whose first
// label is longer than DNS allows (63 octets): Go's resolver and the C
// library's both reject it locally, so the lookup fails at once and no query
// leaves the machine (a plain "nohost.invalid" would go to the name server).
var unresolvableAddr = "tcp://" + net.JoinHostPort(strings.Repeat("x", 64)+".invalid", "80")

// newStartedRT is New + Listen(addr) + Start with opts; it returns Start's
// error and shuts the runtime down at cleanup (after a failed Start too).
func newStartedRT(t *testing.T, opts sockrt.Options, addr string) (*sockrt.Runtime, *sockrt.Listener, error) {
	t.Helper()
	if opts.EventLoops == 0 {
		opts.EventLoops = 1
	}
	rt, err := sockrt.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := rt.Shutdown(ctx5(t)); err != nil {
			t.Errorf("shutdown: %v", err)
		}
	})
	ln, err := rt.Listen(addr, echo, actors.ListenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return rt, ln, rt.Start(ctx5(t))
}

// timeWaitOn reports whether a TCP connection whose local port is port is in
// TIME_WAIT (IPv4, from /proc/net/tcp).
func timeWaitOn(t *testing.T, port int) bool {
	t.Helper()
	f, err := os.Open("/proc/net/tcp")
	if err != nil {
		t.Skipf("no /proc/net/tcp: %v", err)
	}
	defer f.Close()
	suffix := fmt.Sprintf(":%04X", port)
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// sl local_address rem_address st ...; st 06 is TIME_WAIT.
		fields := strings.Fields(sc.Text())
		if len(fields) > 3 && strings.HasSuffix(fields[1], suffix) && fields[3] == "06" {
			return true
		}
	}
	return false
}

// TestListenReuseAddr restarts a runtime on the port of a closed one while
// the old server side of a connection is still in TIME_WAIT (the server
// closed it first): with SO_REUSEADDR (the default) Start succeeds; with
// DisableReuseAddr it fails with WSAEADDRINUSE / EADDRINUSE.
func TestListenReuseAddr(t *testing.T) {
	// The first runtime: accept one connection and close it from the
	// server side, so the server's end goes to TIME_WAIT.
	rt1, ln1, err := newStartedRT(t, sockrt.Options{}, "tcp://127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln1.Addr().String()
	port := ln1.Addr().(*net.TCPAddr).Port
	rec := newRecorder(t, rt1.System())
	if err := rt1.Subscribe(rec.PID, events.MaskAll); err != nil {
		t.Fatal(err)
	}
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	id := rec.Accepted(t, 1)
	if err := rt1.Close(ctx5(t), rt1.SocketPID(id)); err != nil {
		t.Fatal(err)
	}
	if err := readUntilErr(c); err == nil || isReset(err) {
		t.Fatalf("client read after the server's close: %v, want EOF", err)
	}
	c.Close() // our FIN completes the server's active close: TIME_WAIT
	if err := rt1.Shutdown(ctx5(t)); err != nil {
		t.Fatal(err)
	}
	socktest.WaitFor(t, "the server side in TIME_WAIT", func() bool { return timeWaitOn(t, port) })

	for _, tc := range []struct {
		name    string
		disable bool
	}{
		// Without SO_REUSEADDR first: the TIME_WAIT entry lasts 60 s.
		{"DisableReuseAddr", true},
		{"default", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if !timeWaitOn(t, port) {
				t.Fatal("the TIME_WAIT connection is gone; the test proves nothing")
			}
			rt, ln, err := newStartedRT(t, sockrt.Options{DisableReuseAddr: tc.disable}, "tcp://"+addr)
			if tc.disable {
				if !errors.Is(err, winsock.ErrAddrInUse) || !errors.Is(err, syscall.EADDRINUSE) {
					t.Fatalf("Start with DisableReuseAddr on a TIME_WAIT port: %v, want WSAEADDRINUSE", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Start on a port in TIME_WAIT: %v", err)
			}
			// It really serves.
			rec := newRecorder(t, rt.System())
			if err := rt.Subscribe(rec.PID, events.MaskAll); err != nil {
				t.Fatal(err)
			}
			if got := roundTrip(t, dial(t, ln.Addr().String()), "again"); got != "again" {
				t.Fatalf("echo after the restart: %q", got)
			}
		})
	}
}

// TestStartBindErrors checks that a bind failure keeps its errno and
// carries its Winsock code, with or without SO_REUSEADDR.
func TestStartBindErrors(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	tests := []struct {
		name  string
		addr  string
		named error
		errno syscall.Errno
		code  winsock.Code
	}{
		{"port taken", "tcp://" + busy.Addr().String(), winsock.ErrAddrInUse, syscall.EADDRINUSE, winsock.WSAEADDRINUSE},
		// TEST-NET-1 (RFC 5737) is on no interface: bind fails; nothing is
		// ever sent there.
		{"address not local", "tcp://192.0.2.1:0", winsock.ErrAddrNotAvail, syscall.EADDRNOTAVAIL, winsock.WSAEADDRNOTAVAIL},
	}
	for _, tc := range tests {
		for _, disable := range []bool{false, true} {
			t.Run(tc.name+"/DisableReuseAddr="+strconv.FormatBool(disable), func(t *testing.T) {
				_, _, err := newStartedRT(t, sockrt.Options{DisableReuseAddr: disable}, tc.addr)
				if err == nil {
					t.Fatal("Start succeeded")
				}
				if !errors.Is(err, tc.named) || !errors.Is(err, tc.errno) {
					t.Errorf("Start: %v; want errors.Is %v and %v", err, tc.code.Name(), tc.errno)
				}
				if got := winsock.CodeOf(err, winsock.WSAENETDOWN); got != tc.code {
					t.Errorf("CodeOf(Start error) = %v, want %v", got, tc.code)
				}
			})
		}
	}
}

// TestDialHostNotFound dials a name that does not resolve: FD_CONNECT ends
// the dial with WSAHOST_NOT_FOUND (11001), to DialOptions.Subscribers and to
// the handler, and no FD_CLOSE follows.
func TestDialHostNotFound(t *testing.T) {
	socktest.EachMode(t, modes, func(t *testing.T, mode actors.Dispatch) {
		s := startRT(t, sockrt.Options{}, actors.ListenOptions{}, echo)
		sub := newRecorder(t, s.rt.System())
		codes := make(chan uint32, 4)
		h := actors.HandlerFunc(func(c *actors.Context) {
			if ev, ok := c.Message().(*events.Event); ok && ev.EventKind() == events.FDConnect {
				codes <- ev.Code
			}
		})
		pid, err := s.rt.Dial(ctx5(t), unresolvableAddr, h, actors.DialOptions{
			SocketOptions: actors.SocketOptions{Dispatch: mode},
			Subscribers:   events.Subs{}.With(sub.PID, events.MaskAll),
		})
		if err != nil {
			t.Fatal(err)
		}
		id := actors.SocketIDOf(pid)
		if ev := sub.Wait(t, id, events.FDConnect); ev.Code != uint32(winsock.WSAHOST_NOT_FOUND) {
			t.Fatalf("FD_CONNECT to the subscriber: %v, want code 11001", ev)
		}
		select {
		case code := <-codes:
			if code != uint32(winsock.WSAHOST_NOT_FOUND) {
				t.Fatalf("FD_CONNECT to the handler: code %d, want 11001", code)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("the handler got no FD_CONNECT")
		}
		if n := sub.Count(id, events.FDClose); n != 0 {
			t.Fatalf("%d FD_CLOSE after a failed dial, want none", n)
		}
	})
}

// TestDialSurvivesCancel cancels the caller's ctx right after Dial returned
// (the usual defer cancel()): the connect goes on and ends with FD_CONNECT 0.
// Several dials, so that a connect aborted by the cancel cannot slip through
// by winning the race.
func TestDialSurvivesCancel(t *testing.T) {
	socktest.EachTransport(t, transports, func(t *testing.T, tr socktest.Transport) {
		s := startRTOn(t, tr, sockrt.Options{}, actors.ListenOptions{}, echo)
		for i := 0; i < 10; i++ {
			ctx, cancel := context.WithCancel(context.Background())
			pid, err := s.rt.Dial(ctx, s.url, nop, dialOn(tr, actors.DialOptions{}))
			cancel()
			if err != nil {
				t.Fatal(err)
			}
			id := actors.SocketIDOf(pid)
			if ev := s.rec.Wait(t, id, events.FDConnect); ev.Code != 0 {
				t.Fatalf("dial %d: FD_CONNECT %v after cancel(), want code 0", i, ev)
			}
			if err := s.rt.Close(ctx5(t), pid); err != nil {
				t.Fatal(err)
			}
		}
		// Every server side accepted before the cleanup's shutdown (gnet
		// drops a connection accepted in the instant its engine stops).
		s.rec.Accepted(t, 10)
	})
}

// TestDialDoneContext calls Dial with a ctx that is already done: it
// returns ctx.Err() (matchable with errors.Is), no PID and no socket; a
// cancelled ctx is not a timeout, an expired deadline is one.
func TestDialDoneContext(t *testing.T) {
	socktest.EachTransport(t, transports, func(t *testing.T, tr socktest.Transport) {
		s := startRTOn(t, tr, sockrt.Options{}, actors.ListenOptions{}, echo)
		cancelled, cancel := context.WithCancel(context.Background())
		cancel()
		expired, cancel2 := context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
		defer cancel2()
		tests := []struct {
			name    string
			ctx     context.Context
			want    error
			notWant error
			timeout bool
		}{
			{"cancelled", cancelled, context.Canceled, context.DeadlineExceeded, false},
			{"deadline", expired, context.DeadlineExceeded, context.Canceled, true},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				open := s.rt.Stats().Sockets.Open
				pid, err := s.rt.Dial(tc.ctx, s.url, nop, dialOn(tr, actors.DialOptions{}))
				if pid != nil || !errors.Is(err, tc.want) || errors.Is(err, tc.notWant) {
					t.Fatalf("Dial = %v, %v; want no PID and %v", pid, err, tc.want)
				}
				var ne net.Error
				if !errors.As(err, &ne) || ne.Timeout() != tc.timeout {
					t.Errorf("Timeout() = %v, want %v", ne != nil && ne.Timeout(), tc.timeout)
				}
				if got := errors.Is(err, winsock.ErrTimedOut); got != tc.timeout {
					t.Errorf("errors.Is(err, ErrTimedOut) = %v, want %v", got, tc.timeout)
				}
				if got := s.rt.Stats().Sockets.Open; got != open {
					t.Errorf("open sockets %d -> %d: Dial made a socket", open, got)
				}
				if ev := s.rec.Find(func(ev *events.Event) bool { return ev.EventKind() == events.FDConnect }); ev != nil {
					t.Errorf("FD_CONNECT %v for a dial that was never made", ev)
				}
			})
		}
	})
}
