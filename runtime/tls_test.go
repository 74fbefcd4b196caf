package runtime_test

import (
	"crypto/tls"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sockactor/sockactor/actors"
	"github.com/sockactor/sockactor/events"
	"github.com/sockactor/sockactor/internal/socktest"
	"github.com/sockactor/sockactor/internal/tlsdemo"
	sockrt "github.com/sockactor/sockactor/runtime"
	"github.com/sockactor/sockactor/winsock"
)

// tls:// sockets through the actor layer (docs/SEMANTICS.md §8), against
// Go's crypto/tls and Python's ssl module as the peer.

var tlsCert = func() tls.Certificate {
	c, err := tlsdemo.SelfSigned("runtime test", "127.0.0.1", "localhost")
	if err != nil {
		panic(err)
	}
	return c
}()

// tlsEcho echoes, and answers "bye" with SendDisconnect (close_notify, FIN).
var tlsEcho = actors.HandlerFunc(func(c *actors.Context) {
	if m, ok := c.Message().(*actors.Received); ok {
		if string(m.Data) == "bye" {
			c.SendDisconnect()
			return
		}
		_, _ = c.Write(m.Data)
	}
})

func startTLSServer(t *testing.T, mode actors.Dispatch, opts sockrt.Options) *server {
	t.Helper()
	fds := fdCount(t)
	opts.EventLoops = 2
	rt, err := sockrt.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	cfg := &tls.Config{Certificates: []tls.Certificate{tlsCert}, NextProtos: []string{"echo/1"}}
	ln, err := rt.Listen("tls://127.0.0.1:0", tlsEcho, actors.ListenOptions{Dispatch: mode, TLS: cfg})
	if err != nil {
		t.Fatal(err)
	}
	if err := rt.Start(ctx5(t)); err != nil {
		t.Fatal(err)
	}
	s := &server{rt: rt, ln: ln, addr: ln.Addr().String()}
	s.url = "tls://" + s.addr
	s.rec = newRecorder(t, rt.System())
	if err := rt.Subscribe(s.rec.PID, events.MaskAll); err != nil {
		t.Fatal(err)
	}
	shutdownAtEnd(t, rt, fds, 0)
	return s
}

// pyTLSClient: echo, then "bye"; reads until the server's close_notify
// (ragged EOFs are errors here), sends its own close_notify, and prints
// what it saw. A plaintext client first, which the server must refuse.
const pyTLSClient = `
import socket, ssl, sys
host, port, cafile = sys.argv[1], int(sys.argv[2]), sys.argv[3]
p = socket.create_connection((host, port))
p.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
p.settimeout(10)
try:
    got = p.recv(100)
    print("plaintext-answer", len(got))
except (ConnectionResetError, socket.timeout) as e:
    print("plaintext-answer", type(e).__name__)
p.close()
ctx = ssl.create_default_context(cafile=cafile)
ctx.set_alpn_protocols(["echo/1"])
s = ctx.wrap_socket(socket.create_connection((host, port)), server_hostname="localhost", suppress_ragged_eofs=False)
s.settimeout(10)
s.sendall(b"hello")
got = b""
while len(got) < 5:
    got += s.recv(100)
print("echo", got.decode(), s.version(), s.selected_alpn_protocol())
s.sendall(b"bye")
try:
    rest = s.recv(100)
    print("end", "clean" if rest == b"" else "data")
except ssl.SSLEOFError:
    print("end", "truncated")
s.unwrap()
print("unwrapped")
`

func TestTLSPythonClient(t *testing.T) {
	socktest.EachMode(t, modes, func(t *testing.T, mode actors.Dispatch) {
		s := startTLSServer(t, mode, sockrt.Options{Linger: 100 * time.Millisecond})
		ca := filepath.Join(t.TempDir(), "ca.pem")
		if err := os.WriteFile(ca, tlsdemo.CertPEM(tlsCert), 0o600); err != nil {
			t.Fatal(err)
		}
		host, port := splitHostPort(t, s.addr)
		out := runPython(t, pyTLSClient, host, port, ca)
		lines := strings.Split(out, "\n")
		if len(lines) != 4 || !strings.HasPrefix(lines[0], "plaintext-answer") ||
			!strings.HasPrefix(lines[1], "echo hello TLSv1.3 echo/1") || lines[2] != "end clean" || lines[3] != "unwrapped" {
			t.Fatalf("python saw:\n%s", out)
		}
		if lines[0] != "plaintext-answer 0" && lines[0] != "plaintext-answer ConnectionResetError" {
			t.Fatalf("plaintext client got an answer: %s", lines[0])
		}
		id := s.rec.Accepted(t, 1)
		ev := s.rec.CloseEvent(t, id)
		if ev.Code != 0 || ev.Reason != "peer-close" {
			t.Fatalf("FD_CLOSE %d %s, want 0 peer-close (the client's close_notify)", ev.Code, ev.Reason)
		}
		if n := s.rec.Total(events.FDAccept); n != 1 {
			t.Fatalf("%d FD_ACCEPT, want 1: a failed handshake makes no socket", n)
		}
		if st := s.rt.Stats().TLS; st.HandshakeFailed != 1 || st.Handshakes != 1 {
			t.Fatalf("TLS stats %+v", st)
		}
	})
}

func TestTLSInfoAndHalfClose(t *testing.T) {
	socktest.EachMode(t, modes, func(t *testing.T, mode actors.Dispatch) {
		s := startTLSServer(t, mode, sockrt.Options{})
		cl, err := tls.Dial("tcp", s.addr, &tls.Config{RootCAs: tlsdemo.Pool(tlsCert), ServerName: "localhost", NextProtos: []string{"echo/1"}})
		if err != nil {
			t.Fatal(err)
		}
		defer cl.Close()
		_ = cl.SetDeadline(time.Now().Add(10 * time.Second))
		if got := socktest.RoundTrip(t, cl, "ping"); got != "ping" {
			t.Fatalf("echo %q", got)
		}
		pid := s.rt.SocketPID(s.rec.AcceptedFor(t, cl).SocketId)
		// A pooled handler's direct write counts its bytes once the write
		// call has returned, which may be after the peer read them: the
		// counter catches up, it is not read at the peer's pace.
		var in *actors.SocketInfo
		socktest.WaitFor(t, "Info's byte counters", func() bool {
			var err error
			if in, err = s.rt.Info(ctx5(t), pid); err != nil {
				t.Fatal(err)
			}
			return in.BytesOut == 4
		})
		if in.Kind != "tls" || in.TlsVersion != "TLS 1.3" || in.TlsAlpn != "echo/1" || in.TlsServerName != "localhost" || in.TlsCipherSuite == "" || in.BytesIn != 4 || in.BytesOut != 4 {
			t.Fatalf("Info %+v", in)
		}
		// The client half-closes with close_notify: FD_CLOSE 0, and the
		// socket still sends.
		if err := cl.CloseWrite(); err != nil {
			t.Fatal(err)
		}
		ev := s.rec.CloseEvent(t, actors.SocketIDOf(pid))
		if ev.Code != 0 || ev.Reason != "peer-close" {
			t.Fatalf("FD_CLOSE %d %s", ev.Code, ev.Reason)
		}
		if n, err := s.rt.Send(ctx5(t), pid, []byte("late")); err != nil || n != 4 {
			t.Fatalf("Send after the peer's close_notify: %d, %v", n, err)
		}
		if err := s.rt.Close(ctx5(t), pid); err != nil {
			t.Fatal(err)
		}
		got, err := readToEOF(cl)
		if string(got) != "late" || err != nil {
			t.Fatalf("client read %q, %v", got, err)
		}
	})
}

func readToEOF(c net.Conn) ([]byte, error) {
	var out []byte
	buf := make([]byte, 4096)
	for {
		n, err := c.Read(buf)
		out = append(out, buf[:n]...)
		if err != nil {
			if err.Error() == "EOF" {
				return out, nil
			}
			return out, err
		}
	}
}

// A dial to tls:// posts FD_CONNECT once the handshake completed; one whose
// handshake fails posts FD_CONNECT 10053.
func TestTLSDialEvents(t *testing.T) {
	s := startTLSServer(t, actors.Inline, sockrt.Options{TLSHandshakeTimeout: 500 * time.Millisecond})
	rec := newRecorder(t, s.rt.System())
	sub := events.Subs{}.With(rec.PID, events.MaskAll)
	got := make(chan string, 4)
	h := actors.HandlerFunc(func(c *actors.Context) {
		if m, ok := c.Message().(*actors.Received); ok {
			got <- string(m.Data)
		}
	})
	good := &tls.Config{RootCAs: tlsdemo.Pool(tlsCert)}
	pid, err := s.rt.Dial(ctx5(t), s.url, h, actors.DialOptions{SocketOptions: actors.SocketOptions{TLS: good}, Subscribers: sub})
	if err != nil {
		t.Fatal(err)
	}
	ev := rec.Wait(t, actors.SocketIDOf(pid), events.FDConnect)
	if ev.Code != 0 {
		t.Fatalf("FD_CONNECT %d", ev.Code)
	}
	if _, err := s.rt.Send(ctx5(t), pid, []byte("over tls")); err != nil {
		t.Fatal(err)
	}
	if m := <-got; m != "over tls" {
		t.Fatalf("echo %q", m)
	}
	// A server whose certificate the client does not trust.
	bad := &tls.Config{ServerName: "localhost"}
	pid2, err := s.rt.Dial(ctx5(t), s.url, h, actors.DialOptions{SocketOptions: actors.SocketOptions{TLS: bad}, Subscribers: sub})
	if err != nil {
		t.Fatal(err)
	}
	if ev := rec.Wait(t, actors.SocketIDOf(pid2), events.FDConnect); ev.Code != uint32(winsock.WSAECONNABORTED) {
		t.Fatalf("FD_CONNECT %d, want 10053", ev.Code)
	}
	// tls:// needs a config, and a config needs tls://.
	if _, err := s.rt.Dial(ctx5(t), s.url, h, actors.DialOptions{}); !errors.Is(err, winsock.ErrInvalid) {
		t.Fatalf("tls:// dial without config: %v", err)
	}
	if _, err := s.rt.Listen("tls://127.0.0.1:0", h, actors.ListenOptions{}); !errors.Is(err, winsock.ErrInvalid) {
		t.Fatalf("tls:// listen without config: %v", err)
	}
}

// Listeners added and closed while the runtime runs (docs/SEMANTICS.md §5).
func TestListenWhileRunning(t *testing.T) {
	s := startServer(t, serverOpts{})
	ln, err := s.rt.Listen("tcp://127.0.0.1:0", echo, actors.ListenOptions{Dispatch: actors.Pooled})
	if err != nil {
		t.Fatalf("Listen on a running runtime: %v", err)
	}
	cl := socktest.Dial(t, ln.Addr().String())
	if got := socktest.RoundTrip(t, cl, "late"); got != "late" {
		t.Fatalf("echo %q", got)
	}
	if ev := s.rec.AcceptedFor(t, cl); ev.ListenerId != ln.ID() {
		t.Fatalf("FD_ACCEPT from listener %d, want %d", ev.ListenerId, ln.ID())
	}
	if err := s.rt.Close(ctx5(t), ln.PID()); err != nil {
		t.Fatal(err)
	}
	if c, err := net.DialTimeout("tcp", ln.Addr().String(), 2*time.Second); err == nil {
		c.Close()
		t.Fatal("a closed listener still accepts")
	}
	if got := socktest.RoundTrip(t, cl, "kept"); got != "kept" {
		t.Fatalf("the accepted socket after its listener closed: %q", got)
	}
	uln, err := s.rt.Listen("udp://127.0.0.1:0", echo, actors.ListenOptions{})
	if err != nil {
		t.Fatalf("UDP Listen while running: %v", err)
	}
	uc, err := net.Dial("udp", uln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer uc.Close()
	_ = uc.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := uc.Write([]byte("dgram")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 16)
	if n, err := uc.Read(buf); err != nil || string(buf[:n]) != "dgram" {
		t.Fatalf("UDP echo %q, %v", buf[:n], err)
	}
}

// A FIN without close_notify and a garbage record each end a TLS socket
// with their own FD_CLOSE, counted by reason (the table has a slot for
// every reason, the TLS ones included).
func TestTLSTruncatedAndBroken(t *testing.T) {
	s := startTLSServer(t, actors.Inline, sockrt.Options{})
	cfg := &tls.Config{RootCAs: tlsdemo.Pool(tlsCert), ServerName: "localhost"}
	for _, tc := range []struct {
		reason string
		end    func(raw *net.TCPConn)
	}{
		{"truncated", func(raw *net.TCPConn) { _ = raw.CloseWrite() }},
		{"protocol-error", func(raw *net.TCPConn) {
			_, _ = raw.Write(append([]byte{23, 3, 3, 0, 32}, make([]byte, 32)...))
		}},
	} {
		raw := socktest.Dial(t, s.addr)
		cl := tls.Client(raw, cfg)
		_ = cl.SetDeadline(time.Now().Add(10 * time.Second))
		if got := socktest.RoundTrip(t, cl, "x"); got != "x" {
			t.Fatalf("echo %q", got)
		}
		id := s.rec.AcceptedFor(t, raw).SocketId
		tc.end(raw)
		ev := s.rec.CloseEvent(t, id)
		if ev.Code != uint32(winsock.WSAECONNABORTED) || ev.Reason != tc.reason || actors.ReasonOf(ev).String() != tc.reason {
			t.Fatalf("FD_CLOSE %d %q, want 10053 %s", ev.Code, ev.Reason, tc.reason)
		}
		socktest.WaitFor(t, "the close counted", func() bool { return s.rt.Stats().Sockets.Closed[tc.reason] == 1 })
	}
}
