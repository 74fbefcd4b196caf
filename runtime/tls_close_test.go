package runtime_test

import (
	"crypto/tls"
	"flag"
	"io"
	"net"
	"testing"
	"time"

	"github.com/sockactor/sockactor/actors"
	"github.com/sockactor/sockactor/internal/socktest"
	sockrt "github.com/sockactor/sockactor/runtime"
)

// How a TLS peer's way of ending the stream reaches FD_CLOSE through the
// actor layer (docs/SEMANTICS.md §4 table, §8 "Closing"): close_notify is
// peer-close, a FIN without it truncated, RST peer-reset, a record that
// fails to decrypt protocol-error; each is counted in Stats().Closed.
func TestTLSPeerEnds(t *testing.T) {
	cases := []struct {
		name   string
		end    func(c socktest.Conn)
		code   uint32
		reason string
		bug    string
	}{
		{"close_notify", func(c socktest.Conn) { _ = c.CloseWrite() }, 0, "peer-close", ""},
		{"fin-without-close_notify", func(c socktest.Conn) { _ = tlsNet(c).CloseWrite() }, 10053, "truncated", bugClosedByTLS},
		{"rst", func(c socktest.Conn) { _ = tlsNet(c).SetLinger(0); _ = tlsNet(c).Close() }, 10054, "peer-reset", ""},
		{"garbage-record", func(c socktest.Conn) {
			// An application_data record whose 32 bytes fail to decrypt.
			rec := append([]byte{23, 3, 3, 0, 32}, make([]byte, 32)...)
			_, _ = tlsNet(c).Write(rec)
		}, 10053, "protocol-error", bugClosedByTLS},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			socktest.EachMode(t, modes, func(t *testing.T, mode actors.Dispatch) {
				if tc.bug != "" {
					skipBug(t, tc.bug)
				}
				s := startRTOn(t, socktest.TLS, sockrt.Options{}, actors.ListenOptions{Dispatch: mode}, echo)
				c := s.dial(t)
				if got := socktest.RoundTrip(t, c, "hi"); got != "hi" {
					t.Fatalf("echo %q", got)
				}
				id := s.rec.AcceptedFor(t, c).SocketId
				tc.end(c)
				ev := s.rec.CloseEvent(t, id)
				if ev.Code != tc.code || ev.Reason != tc.reason || ev.Local != (tc.reason == "protocol-error") {
					t.Fatalf("FD_CLOSE %d %s local=%v, want %d %s", ev.Code, ev.Reason, ev.Local, tc.code, tc.reason)
				}
				if n := s.rt.Stats().Sockets.Closed[tc.reason]; n != 1 {
					t.Fatalf("Stats().Closed[%s] = %d, want 1 (%v)", tc.reason, n, s.rt.Stats().Sockets.Closed)
				}
			})
		})
	}
}

// skipBugs keeps the tests of known product bugs skipped (go test
// -run ... -bugs runs them: they fail, or crash the binary, until fixed).
var runBugs = flag.Bool("bugs", false, "run the tests of known product bugs (skipped with BUG: otherwise)")

func skipBug(t *testing.T, bug string) {
	t.Helper()
	if !*runBugs {
		t.Skip(bug)
	}
}

// bugClosedByTLS: actors/host.go counts FD_CLOSE by reason in
// closedBy [netio.ReasonShutdown + 1]: ReasonTruncated (9) and
// ReasonProtocol (10) index past it, and the panic on the event loop kills
// the process. Any TLS peer that sends FIN without close_notify, or a
// record that fails to decrypt, crashes the server. Enlarging the array is
// not all: HostStats (host.go, the loop to ReasonShutdown) and the
// closed-sockets metric (runtime/metrics.go, reasons up to ReasonShutdown)
// leave both out of Stats().Sockets.Closed, which TestTLSPeerEnds checks.
const bugClosedByTLS = "BUG: actors/host.go closedBy [netio.ReasonShutdown+1]: OnClose with truncated (9) or protocol-error (10) panics 'index out of range' on the event loop"

func tlsNet(c socktest.Conn) *net.TCPConn { return socktest.TLSNetConn(c.(*tls.Conn)) }

// bugTLSBytesInBanned: under the discard policy a TCP socket counts banned
// bytes in Info.bytes_in as well as banned_bytes (TCP
// TestContextRecvDisconnectFromTheHandler: bytes_in = 4+17*65536); a TLS
// socket stops counting bytes_in at the ban (bytes_in 1186, banned_bytes
// 1112930 for the same 1114116 plaintext bytes).
const bugTLSBytesInBanned = "BUG: TLS under discard: Info.bytes_in does not count banned plaintext (TCP does): bytes_in=1186 banned_bytes=1112930, want bytes_in=1114116"

// bugTLSBytesOutCloseNotify: §8 says a TLS socket's byte counts are
// plaintext, but after SendDisconnect (or Close) Info.bytes_out has grown
// by the close_notify alert record, 24 bytes of ciphertext (TLS 1.3:
// header 5, alert 2, type 1, tag 16), with no plaintext sent. Found by
// TestModelTLS (seed 839164983: SendDisconnect, then Info: bytes_out=24,
// want 0).
const bugTLSBytesOutCloseNotify = "BUG: TLS Info.bytes_out counts the close_notify record: after SendDisconnect alone bytes_out=24, want 0 (plaintext)"

// tlsCloseNotifyLen is the size of a TLS 1.3 close_notify record.
const tlsCloseNotifyLen = 24

// TestTLSShutdownSendsCloseNotify: Shutdown closes every open socket
// gracefully (§5 "Shutdown", FD_CLOSE 10050): over TLS that is
// close_notify, then FIN, as for Close (§8), so a Go TLS peer reads a
// clean end of stream, not a truncation (io.ErrUnexpectedEOF). Both an
// accepted socket and a dialled one, in both modes.
func TestTLSShutdownSendsCloseNotify(t *testing.T) {
	socktest.EachMode(t, modes, func(t *testing.T, mode actors.Dispatch) {
		rt, err := sockrt.New(sockrt.Options{EventLoops: 2})
		if err != nil {
			t.Fatal(err)
		}
		ln, err := rt.Listen(socktest.TLS.Listen(t), echo, onTransport(socktest.TLS, actors.ListenOptions{Dispatch: mode}))
		if err != nil {
			t.Fatal(err)
		}
		if err := rt.Start(ctx5(t)); err != nil {
			t.Fatal(err)
		}
		stopped := false
		t.Cleanup(func() {
			if !stopped {
				_ = rt.Shutdown(ctx5(t))
			}
		})
		// An accepted socket, Go's client on the other side.
		cl := socktest.DialTLS(t, ln.Addr().String())
		if got := socktest.RoundTrip(t, cl, "hi"); got != "hi" {
			t.Fatalf("echo %q", got)
		}
		// A dialled socket, Go's server on the other side.
		srv, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{socktest.TLSCert()}})
		if err != nil {
			t.Fatal(err)
		}
		defer srv.Close()
		accepted := make(chan net.Conn, 1)
		go func() {
			c, err := srv.Accept()
			if err != nil {
				close(accepted)
				return
			}
			accepted <- c
		}()
		pid, err := rt.Dial(ctx5(t), "tls://"+srv.Addr().String(), nop, dialOn(socktest.TLS, actors.DialOptions{SocketOptions: actors.SocketOptions{Dispatch: mode}}))
		if err != nil {
			t.Fatal(err)
		}
		sc, ok := <-accepted
		if !ok {
			t.Fatal("Go's TLS server accepted nothing")
		}
		defer sc.Close()
		_ = sc.SetDeadline(time.Now().Add(socktest.Timeout))
		if _, err := sc.Write([]byte("x")); err != nil { // completes the server's handshake
			t.Fatal(err)
		}
		socktest.WaitFor(t, "the dialled socket to take the byte", func() bool {
			info, err := rt.Info(ctx5(t), pid)
			return err == nil && info.BytesIn == 1
		})
		stopped = true
		if err := rt.Shutdown(ctx5(t)); err != nil {
			t.Fatal(err)
		}
		for _, p := range []struct {
			who string
			c   net.Conn
		}{{"Go's client of an accepted socket", cl}, {"Go's server of a dialled socket", sc}} {
			_ = p.c.SetReadDeadline(time.Now().Add(socktest.Timeout))
			if _, err := io.ReadAll(p.c); err != nil {
				t.Errorf("%s read %v at Shutdown, want a clean close_notify (nil from io.ReadAll)", p.who, err)
			}
		}
	})
}

// TestTLSCloseNotifyAndFINInOneRead: the peer's last record, its
// close_notify and its FIN reach the socket in one read (the socket's reads
// were suspended while the peer sent them): the data is delivered, then
// FD_CLOSE 0 peer-close, since close_notify came before the FIN (§8). Written
// while looking for why TestTLSDialEvents's accepted socket sometimes
// closes with truncated at Shutdown (this is not the cause: it passes).
func TestTLSCloseNotifyAndFINInOneRead(t *testing.T) {
	socktest.EachMode(t, modes, func(t *testing.T, mode actors.Dispatch) {
		s := startRTOn(t, socktest.TLS, sockrt.Options{Linger: time.Minute}, actors.ListenOptions{Dispatch: mode, Pull: true}, nop)
		c := s.dial(t).(*tls.Conn)
		id := s.rec.AcceptedFor(t, c).SocketId
		pid := s.rt.SocketPID(id)
		if err := s.rt.SuspendReading(ctx5(t), pid); err != nil {
			t.Fatal(err)
		}
		if _, err := c.Write([]byte("last words")); err != nil {
			t.Fatal(err)
		}
		if err := c.CloseWrite(); err != nil { // close_notify
			t.Fatal(err)
		}
		if err := socktest.TLSNetConn(c).CloseWrite(); err != nil { // FIN
			t.Fatal(err)
		}
		if err := s.rt.ResumeReading(ctx5(t), pid); err != nil {
			t.Fatal(err)
		}
		ev := s.rec.CloseEvent(t, id)
		if ev.Code != 0 || ev.Reason != "peer-close" {
			t.Errorf("FD_CLOSE %d %s, want 0 peer-close: close_notify came before the FIN", ev.Code, ev.Reason)
		}
		if data, err := s.rt.Recv(ctx5(t), pid, 100); string(data) != "last words" || err != nil {
			t.Errorf("Recv = %q, %v; want the last record's bytes", data, err)
		}
	})
}
