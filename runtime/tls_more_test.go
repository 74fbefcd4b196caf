package runtime_test

import (
	"bytes"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/sockactor/sockactor/actors"
	"github.com/sockactor/sockactor/events"
	"github.com/sockactor/sockactor/internal/socktest"
	"github.com/sockactor/sockactor/internal/tlsdemo"
	sockrt "github.com/sockactor/sockactor/runtime"
	"github.com/sockactor/sockactor/winsock"
)

// TLS over a live runtime (docs/SEMANTICS.md §8): certificate rotation
// through GetCertificate, inbound back-pressure against a fast TLS sender,
// and half-close in both directions with large transfers, each in both
// dispatch modes against Go's TLS client.

func selfSigned(t *testing.T, cn string) tls.Certificate {
	t.Helper()
	c, err := tlsdemo.SelfSigned(cn, "127.0.0.1", "localhost")
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestTLSCertificateRotation: a listener whose config has GetCertificate
// asks it at every handshake, so swapping the certificate it returns
// rotates it for the next connection while established ones go on; a
// client that trusts only the old certificate then fails its handshake,
// which is counted and makes no socket.
func TestTLSCertificateRotation(t *testing.T) {
	certA, certB := selfSigned(t, "rotation A"), selfSigned(t, "rotation B")
	both := x509.NewCertPool()
	both.AddCert(certA.Leaf)
	both.AddCert(certB.Leaf)
	socktest.EachMode(t, modes, func(t *testing.T, mode actors.Dispatch) {
		var cur atomic.Pointer[tls.Certificate]
		var asked atomic.Int64
		cur.Store(&certA)
		cfg := &tls.Config{GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
			asked.Add(1)
			return cur.Load(), nil
		}}
		s := startRTOn(t, socktest.TLS, sockrt.Options{}, actors.ListenOptions{Dispatch: mode, TLS: cfg}, echo)
		dial := func(roots *x509.CertPool) (*tls.Conn, error) {
			c, err := socktest.DialTLSConfig(s.addr, &tls.Config{RootCAs: roots, ServerName: "localhost"})
			if err == nil {
				t.Cleanup(func() { c.Close() })
			}
			return c, err
		}
		served := func(c *tls.Conn) string {
			t.Helper()
			return c.ConnectionState().PeerCertificates[0].Subject.CommonName
		}
		c1, err := dial(both)
		if err != nil {
			t.Fatal(err)
		}
		if got := served(c1); got != "rotation A" {
			t.Fatalf("first connection served %q, want rotation A", got)
		}
		cur.Store(&certB)
		c2, err := dial(both)
		if err != nil {
			t.Fatal(err)
		}
		if got := served(c2); got != "rotation B" {
			t.Fatalf("after the swap served %q, want rotation B", got)
		}
		for i, c := range []*tls.Conn{c1, c2} {
			if got := socktest.RoundTrip(t, c, fmt.Sprintf("echo %d", i)); got != fmt.Sprintf("echo %d", i) {
				t.Fatalf("connection %d echoed %q", i, got)
			}
		}
		// A client that trusts only A now meets B: its handshake fails, no
		// socket is made, the failure is counted.
		onlyA := x509.NewCertPool()
		onlyA.AddCert(certA.Leaf)
		if c, err := dial(onlyA); err == nil {
			t.Fatalf("a client trusting only A completed a handshake with %q", served(c))
		}
		socktest.WaitFor(t, "the failed handshake counted", func() bool { return s.rt.Stats().TLS.HandshakeFailed == 1 })
		cur.Store(&certA)
		c3, err := dial(onlyA)
		if err != nil {
			t.Fatalf("after rotating back to A: %v", err)
		}
		if got := socktest.RoundTrip(t, c3, "back"); got != "back" || served(c3) != "rotation A" {
			t.Fatalf("after rotating back: %q from %q", got, served(c3))
		}
		if n := asked.Load(); n != 4 {
			t.Fatalf("GetCertificate asked %d times, want once per handshake (4)", n)
		}
		st := s.rt.Stats().TLS
		if st.Handshakes != 3 || st.HandshakeFailed != 1 {
			t.Fatalf("TLS stats %+v, want 3 handshakes and 1 failure", st)
		}
		// Events reach the recorder after the echo: wait for the third,
		// then check that no other came.
		socktest.WaitFor(t, "3 FD_ACCEPT", func() bool { return s.rec.Total(events.FDAccept) >= 3 })
		if n := s.rec.Total(events.FDAccept); n != 3 {
			t.Fatalf("%d FD_ACCEPT, want 3 (none for the failed handshake)", n)
		}
	})
}

// recvAll pulls exactly n bytes from a pull-mode socket, waiting on
// WSAEWOULDBLOCK (bounded by socktest.Timeout).
func recvAll(t *testing.T, rt *sockrt.Runtime, pid *actor.PID, n int) []byte {
	t.Helper()
	out := make([]byte, 0, n)
	deadline := time.Now().Add(socktest.Timeout)
	for len(out) < n {
		data, err := rt.Recv(ctx5(t), pid, min(n-len(out), 32<<10))
		switch {
		case errors.Is(err, winsock.ErrWouldBlock):
			if time.Now().After(deadline) {
				t.Fatalf("Recv: %d of %d bytes before the deadline", len(out), n)
			}
			time.Sleep(time.Millisecond)
		case err != nil:
			t.Fatalf("Recv after %d of %d bytes: %v", len(out), n, err)
		case len(data) == 0:
			t.Fatalf("Recv: 0 bytes (end of stream) after %d of %d", len(out), n)
		}
		out = append(out, data...)
	}
	return out
}

func randomBytes(t *testing.T, n int) []byte {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

// TestTLSReadPause: a TLS peer sends 1 MiB as fast as it can to a pull-mode
// socket that nobody reads, with MaxInbound 64 KiB: the runtime stops
// reading (Info read_paused, read_paused_by inbound) with far less than
// the stream taken, TCP's flow control holds the peer; once the
// application pulls, every plaintext byte arrives in order and reading
// resumes (§5, §8 "Back-pressure and limits").
func TestTLSReadPause(t *testing.T) {
	const total, maxIn = 1 << 20, 64 << 10
	socktest.EachMode(t, modes, func(t *testing.T, mode actors.Dispatch) {
		s := startRTOn(t, socktest.TLS, sockrt.Options{MaxInbound: maxIn}, actors.ListenOptions{Dispatch: mode, Pull: true}, nop)
		c := s.dial(t)
		pid := s.rt.SocketPID(s.rec.AcceptedFor(t, c).SocketId)
		data := randomBytes(t, total)
		wrote := make(chan error, 1)
		go func() {
			_ = c.SetWriteDeadline(time.Now().Add(30 * time.Second))
			_, err := c.Write(data)
			wrote <- err
		}()
		var info *actors.SocketInfo
		socktest.WaitFor(t, "Info read_paused_by inbound", func() bool {
			var err error
			info, err = s.rt.Info(ctx5(t), pid)
			return err == nil && info.ReadPaused && strings.Contains(info.ReadPausedBy, "inbound")
		})
		// Paused with at most MaxInbound plus one read (64 KiB) and the
		// records of that read waiting: the rest is held by the peer.
		if info.BytesIn > maxIn+128<<10 || info.QueuedIn > maxIn+128<<10 || info.ReadPausedSinceUnixNano == 0 {
			t.Fatalf("paused with bytes_in=%d queued_in=%d since=%d, want both near MaxInbound (%d)",
				info.BytesIn, info.QueuedIn, info.ReadPausedSinceUnixNano, maxIn)
		}
		got := recvAll(t, s.rt, pid, total)
		if !bytes.Equal(got, data) {
			t.Fatalf("the %d bytes pulled differ from those sent (first difference at %d)", len(got), firstDiff(got, data))
		}
		if err := <-wrote; err != nil {
			t.Fatalf("the peer's write: %v", err)
		}
		socktest.WaitFor(t, "reading resumed", func() bool {
			info, err := s.rt.Info(ctx5(t), pid)
			return err == nil && !info.ReadPaused && info.ReadPausedBy == "" && info.BytesIn == total && info.QueuedIn == 0
		})
	})
}

// TestTLSHalfCloseBothWays: one side half-closes with close_notify and
// FIN, the other goes on sending a large answer, then closes; in both
// directions, in both dispatch modes. The peer's close_notify is FD_CLOSE
// 0 peer-close with the send side still usable; SendDisconnect is
// close_notify then FIN, after which the socket still receives (§5, §8).
func TestTLSHalfCloseBothWays(t *testing.T) {
	const size = 1 << 20
	for _, first := range []string{"client", "server"} {
		t.Run(first+"-first", func(t *testing.T) {
			socktest.EachMode(t, modes, func(t *testing.T, mode actors.Dispatch) {
				s := startRTOn(t, socktest.TLS, sockrt.Options{Linger: time.Minute}, actors.ListenOptions{Dispatch: mode, Pull: true}, nop)
				c := s.dial(t).(*tls.Conn)
				id := s.rec.AcceptedFor(t, c).SocketId
				pid := s.rt.SocketPID(id)
				up, down := randomBytes(t, size), randomBytes(t, size)
				read := make(chan []byte, 1)
				readErr := make(chan error, 1)
				startReading := func() {
					go func() {
						_ = c.SetReadDeadline(time.Now().Add(30 * time.Second))
						b, err := io.ReadAll(c) // to the server's close_notify: io.EOF, nil here
						read <- b
						readErr <- err
					}()
				}
				clientHalfClose := func() {
					t.Helper()
					if err := c.CloseWrite(); err != nil { // close_notify
						t.Fatal(err)
					}
					if err := socktest.TLSNetConn(c).CloseWrite(); err != nil { // FIN
						t.Fatal(err)
					}
				}
				checkPeerClose := func() {
					t.Helper()
					ev := s.rec.CloseEvent(t, id)
					if ev.Code != 0 || ev.Reason != "peer-close" || ev.Local {
						t.Fatalf("FD_CLOSE %d %s local=%v, want 0 peer-close", ev.Code, ev.Reason, ev.Local)
					}
				}
				checkEnd := func() {
					t.Helper()
					if data, err := s.rt.Recv(ctx5(t), pid, 100); err != nil || len(data) != 0 {
						t.Fatalf("Recv after the peer's close_notify = %d bytes, %v; want 0 bytes, code 0", len(data), err)
					}
				}
				if first == "client" {
					startReading()
					if _, err := c.Write(up); err != nil {
						t.Fatal(err)
					}
					clientHalfClose()
					if got := recvAll(t, s.rt, pid, size); !bytes.Equal(got, up) {
						t.Fatal("the server pulled other bytes than the client sent")
					}
					checkPeerClose()
					checkEnd()
					// The send side is still usable: the answer, then Close
					// (close_notify, FIN).
					if n, err := s.rt.Send(ctx5(t), pid, down); err != nil || n != size {
						t.Fatalf("Send after the peer's close_notify = %d, %v", n, err)
					}
					if err := s.rt.Close(ctx5(t), pid); err != nil {
						t.Fatal(err)
					}
				} else {
					if n, err := s.rt.Send(ctx5(t), pid, down); err != nil || n != size {
						t.Fatalf("Send = %d, %v", n, err)
					}
					if err := s.rt.SendDisconnect(ctx5(t), pid); err != nil {
						t.Fatal(err)
					}
					startReading()
					if err := <-readErr; err != nil {
						t.Fatalf("client read to the server's close_notify: %v", err)
					}
					info, err := s.rt.Info(ctx5(t), pid)
					if err != nil || !info.SendShut || info.State != "open" {
						t.Fatalf("Info after SendDisconnect: %v, %v; want send_shut, open", info, err)
					}
					// The client keeps sending after the server's close_notify.
					if _, err := c.Write(up); err != nil {
						t.Fatalf("client write after the server's close_notify: %v", err)
					}
					if got := recvAll(t, s.rt, pid, size); !bytes.Equal(got, up) {
						t.Fatal("the server pulled other bytes than the client sent")
					}
					clientHalfClose()
					checkPeerClose()
					checkEnd()
					if err := s.rt.Close(ctx5(t), pid); err != nil {
						t.Fatal(err)
					}
					readErr <- nil
				}
				if got := <-read; !bytes.Equal(got, down) {
					t.Fatalf("the client read %d bytes, want the server's %d", len(got), size)
				}
				if err := <-readErr; err != nil {
					t.Fatalf("client read to the server's close_notify: %v", err)
				}
				if n := s.rt.Stats().Conns.SendDropped; n != 0 {
					t.Fatalf("SendDropped = %d, want 0", n)
				}
			})
		})
	}
}
