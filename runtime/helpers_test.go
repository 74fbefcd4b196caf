package runtime_test

import (
	"context"
	"crypto/tls"
	"net"
	"os"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"go.uber.org/goleak"

	"github.com/sockactor/sockactor/internal/socktest"

	"github.com/sockactor/sockactor/actors"
	"github.com/sockactor/sockactor/events"
	sockrt "github.com/sockactor/sockactor/runtime"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, socktest.LeakOptions()...)
}

// modes is the dispatch matrix every socket test runs under, each mode a
// subtest (socktest.EachMode).
var modes = []actors.Dispatch{actors.Inline, actors.Pooled}

// transports are the stream transports the transport-independent socket
// tests run over, each a subtest (socktest.EachTransport).
var transports = []socktest.Transport{socktest.TCP, socktest.Unix, socktest.TLS}

// onTransport completes a listener's options for transport tr: a tls://
// listener gets tr's server config unless the test set one.
func onTransport(tr socktest.Transport, lopts actors.ListenOptions) actors.ListenOptions {
	if lopts.TLS == nil {
		lopts.TLS = tr.ServerTLS
	}
	return lopts
}

// dialOn completes a runtime dial's options for transport tr: a tls:// dial
// gets tr's client config unless the test set one.
func dialOn(tr socktest.Transport, dopts actors.DialOptions) actors.DialOptions {
	if dopts.TLS == nil {
		dopts.TLS = tr.ClientTLS
	}
	return dopts
}

// skipTLS skips a transport subtest over TLS, for the reason given: a test
// whose assumptions are TCP's alone (raw RST timing, bytes left unread in
// the kernel, descriptor-level socket options on the client).
func skipTLS(t *testing.T, tr socktest.Transport, why string) {
	t.Helper()
	if tr.Name == socktest.TLS.Name {
		t.Skip("TCP-specific: " + why)
	}
}

// eachTransportMode runs body over every transport in every dispatch mode,
// as subtests TestX/<transport>/<mode>.
func eachTransportMode(t *testing.T, body func(t *testing.T, tr socktest.Transport, mode actors.Dispatch)) {
	t.Helper()
	socktest.EachTransport(t, transports, func(t *testing.T, tr socktest.Transport) {
		socktest.EachMode(t, modes, func(t *testing.T, mode actors.Dispatch) { body(t, tr, mode) })
	})
}

func ctx5(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// fdCount returns the number of open descriptors of this process.
func fdCount(t *testing.T) int {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skipf("no /proc/self/fd: %v", err)
	}
	return len(ents)
}

// server is a running runtime with one listener, shut down at cleanup, with
// a check that every descriptor it opened is closed again.
type server struct {
	rt   *sockrt.Runtime
	ln   *sockrt.Listener
	addr string // the bound address: host:port, or the unix path
	url  string // addr as rt.Dial takes it ("tcp://…", "unix://…")
	tr   socktest.Transport
	rec  *recorder
}

// dial connects a client to s over its transport, closed at cleanup.
func (s *server) dial(t *testing.T) socktest.Conn {
	t.Helper()
	return s.tr.Dial(t, s.addr)
}

type serverOpts struct {
	dispatch actors.Dispatch
	policy   actors.BanPolicy
	linger   time.Duration
	handler  actors.Handler
	tr       socktest.Transport // zero: TCP
}

func startServer(t *testing.T, o serverOpts) *server {
	t.Helper()
	fds := fdCount(t)
	if o.handler == nil {
		o.handler = echo
	}
	if o.linger == 0 {
		o.linger = 100 * time.Millisecond
	}
	if o.tr.Name == "" {
		o.tr = socktest.TCP
	}
	rt, err := sockrt.New(sockrt.Options{EventLoops: 2, Linger: o.linger, BanPolicy: o.policy})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := rt.Listen(o.tr.Listen(t), o.handler, onTransport(o.tr, actors.ListenOptions{Dispatch: o.dispatch}))
	if err != nil {
		t.Fatal(err)
	}
	if err := rt.Start(ctx5(t)); err != nil {
		t.Fatal(err)
	}
	s := &server{rt: rt, ln: ln, addr: ln.Addr().String(), tr: o.tr}
	s.url = o.tr.URL(s.addr)
	s.rec = newRecorder(t, rt.System())
	if err := rt.Subscribe(s.rec.PID, events.MaskAll); err != nil {
		t.Fatal(err)
	}
	shutdownAtEnd(t, rt, fds, 0)
	return s
}

// shutdownAtEnd shuts rt down when the test ends (failing it on an error,
// or after timeout if that is not 0) and waits until the process holds no
// more descriptors than fds, its count before rt opened any.
func shutdownAtEnd(t *testing.T, rt *sockrt.Runtime, fds int, timeout time.Duration) {
	t.Helper()
	t.Cleanup(func() {
		ctx := context.Background()
		if timeout > 0 {
			var cancel context.CancelFunc
			ctx, cancel = context.WithTimeout(ctx, timeout)
			defer cancel()
		}
		if err := rt.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
		socktest.WaitFor(t, "descriptors to be released", func() bool { return fdCount(t) <= fds })
	})
}

// peerReset makes client c reset its connection to socket pid of s: over
// TCP an RST (SO_LINGER 0, then close), over TLS the same on the TCP
// connection under it (no close_notify); over unix, which has no RST, a close
// with bytes from the server left unread in c, which the server's read sees
// as ECONNRESET (docs/SEMANTICS.md §6).
func peerReset(t *testing.T, s *server, c socktest.Conn, pid *actor.PID) {
	t.Helper()
	if tc, ok := c.(*tls.Conn); ok {
		_ = socktest.TLSNetConn(tc).SetLinger(0)
		_ = tc.NetConn().Close()
		return
	}
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	} else if n, err := s.rt.Send(ctx5(t), pid, []byte("unread")); err != nil || n != 6 {
		t.Fatalf("Send before the unix reset = %d, %v", n, err) // a unix write lands in c's buffer at once
	}
	c.Close()
}

// echo writes back what it receives.
var echo = actors.HandlerFunc(func(c *actors.Context) {
	if m, ok := c.Message().(*actors.Received); ok {
		_, _ = c.Write(m.Data)
	}
})

// recorder records events (see socktest.Recorder).
type recorder = socktest.Recorder

func newRecorder(t *testing.T, sys *actor.ActorSystem) *recorder { return socktest.NewRecorder(sys) }

// actorFunc makes props for an actor that handles events with f.
func actorFunc(f func(*events.Event)) *actor.Props {
	return actor.PropsFromFunc(func(c actor.Context) {
		if ev, ok := c.Message().(*events.Event); ok {
			f(ev)
		}
	})
}

// The client-side helpers (internal/socktest/conn.go).
var (
	dial         = socktest.Dial
	roundTrip    = socktest.RoundTrip
	readUntilErr = socktest.ReadUntilErr
	isReset      = socktest.IsReset
)
