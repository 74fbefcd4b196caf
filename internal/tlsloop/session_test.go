package tlsloop

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"io"
	"math/big"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// selfSigned makes a certificate for 127.0.0.1 named cn.
func selfSigned(t testing.TB, cn string) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: cn},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		DNSNames:     []string{"localhost"},
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// loopServer plays an event loop's part for one accepted connection: a
// reader goroutine hands each read to the owner goroutine, which feeds the
// session during the handshake (run on a goroutine of its own, as the
// runtime does), then drains it and hands the plaintext to onData. What
// the owner goroutine saw at the end is on done.
type loopServer struct {
	s        *Session
	hsErr    error
	endErr   error // Drain's last error: nil, io.EOF, or the stream's
	notified bool
	done     chan struct{}
}

type ownerFunc func(s *Session, plain []byte)

func serveOne(t *testing.T, ln net.Listener, cfg *tls.Config, hsTimeout time.Duration, onData ownerFunc) *loopServer {
	t.Helper()
	ls := &loopServer{done: make(chan struct{})}
	go func() {
		defer close(ls.done)
		c, err := ln.Accept()
		if err != nil {
			ls.hsErr = err
			return
		}
		defer c.Close()
		ls.s = Server(cfg, func(p []byte) error { _, err := c.Write(p); return err })
		reads := make(chan []byte, 16) // nil slice = the peer's FIN or an error
		go func() {
			for {
				buf := make([]byte, 4096)
				n, err := c.Read(buf)
				if n > 0 {
					reads <- buf[:n]
				}
				if err != nil {
					close(reads)
					return
				}
			}
		}()
		defer func() { // on every way out: end the reader goroutine
			c.Close()
			for range reads {
			}
		}()
		hsDone := make(chan error, 1)
		ctx, cancel := context.WithTimeout(context.Background(), hsTimeout)
		defer cancel()
		go func() { hsDone <- ls.s.Handshake(ctx) }()
		for established := false; !established; {
			select {
			case p, ok := <-reads:
				if !ok {
					ls.s.Close()
					ls.hsErr = <-hsDone
					return
				}
				ls.s.Feed(p)
			case err := <-hsDone:
				if err != nil {
					ls.hsErr = err
					return
				}
				established = true
			}
		}
		ls.s.Established(func(p []byte) error { _, err := c.Write(p); return err })
		plain := make([]byte, 16<<10)
		// What came with the handshake's last flight first.
		ls.endErr = ls.s.Drain(nil, plain, func(b []byte) bool { onData(ls.s, b); return true })
		for p := range reads {
			if ls.endErr != nil {
				break
			}
			if err := ls.s.Drain(p, plain, func(b []byte) bool { onData(ls.s, b); return true }); err != nil {
				ls.endErr = err
				break
			}
		}
		if ls.endErr == nil { // the socket's EOF
			ls.s.EndOfInput()
			ls.endErr = ls.s.Drain(nil, plain, func(b []byte) bool { onData(ls.s, b); return true })
		}
		ls.notified = ls.s.CloseNotified()
		if ls.endErr == io.EOF {
			_ = ls.s.CloseNotify()
		}
		c.Close()
		for range reads { // until the reader goroutine ends
		}
	}()
	return ls
}

func echo(s *Session, b []byte) { _, _ = s.Write(b) }

func listen(t *testing.T) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return ln
}

func clientConfig(cert tls.Certificate, max uint16) *tls.Config {
	pool := x509.NewCertPool()
	leaf, _ := x509.ParseCertificate(cert.Certificate[0])
	pool.AddCert(leaf)
	return &tls.Config{RootCAs: pool, ServerName: "localhost", MaxVersion: max}
}

func wait(t *testing.T, ls *loopServer) {
	t.Helper()
	select {
	case <-ls.done:
	case <-time.After(10 * time.Second):
		t.Fatal("the server side did not finish")
	}
}

func TestEchoBothVersions(t *testing.T) {
	defer goleak.VerifyNone(t)
	cert := selfSigned(t, "echo")
	for _, tc := range []struct {
		name string
		max  uint16
	}{{"TLS1.2", tls.VersionTLS12}, {"TLS1.3", tls.VersionTLS13}} {
		t.Run(tc.name, func(t *testing.T) {
			ln := listen(t)
			ls := serveOne(t, ln, &tls.Config{Certificates: []tls.Certificate{cert}, NextProtos: []string{"echo/1"}}, 5*time.Second, echo)
			ccfg := clientConfig(cert, tc.max)
			ccfg.NextProtos = []string{"echo/1"}
			c, err := tls.Dial("tcp", ln.Addr().String(), ccfg)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			for i := 0; i < 50; i++ {
				msg := []byte("hello over tls ")
				msg = append(msg, byte('a'+i%26))
				if _, err := c.Write(msg); err != nil {
					t.Fatal(err)
				}
				got := make([]byte, len(msg))
				if _, err := io.ReadFull(c, got); err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(got, msg) {
					t.Fatalf("echo %q, want %q", got, msg)
				}
			}
			if err := c.CloseWrite(); err != nil { // close_notify
				t.Fatal(err)
			}
			if _, err := c.Read(make([]byte, 1)); err != io.EOF {
				t.Fatalf("client read after the server's close_notify: %v, want io.EOF", err)
			}
			wait(t, ls)
			if ls.hsErr != nil || ls.endErr != io.EOF || !ls.notified {
				t.Fatalf("server: handshake %v, end %v, close_notify seen %v", ls.hsErr, ls.endErr, ls.notified)
			}
			st := ls.s.State()
			if st.Version != tc.max || st.NegotiatedProtocol != "echo/1" || st.ServerName != "localhost" {
				t.Fatalf("state: version %x ALPN %q SNI %q", st.Version, st.NegotiatedProtocol, st.ServerName)
			}
		})
	}
}

// A FIN without close_notify ends the stream as io.EOF with CloseNotified
// false: the owner reports it as truncated.
func TestFinWithoutCloseNotify(t *testing.T) {
	defer goleak.VerifyNone(t)
	cert := selfSigned(t, "trunc")
	ln := listen(t)
	ls := serveOne(t, ln, &tls.Config{Certificates: []tls.Certificate{cert}}, 5*time.Second, echo)
	raw, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	c := tls.Client(raw, clientConfig(cert, 0))
	if _, err := c.Write([]byte("x")); err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(c, make([]byte, 1)); err != nil {
		t.Fatal(err)
	}
	_ = raw.(*net.TCPConn).CloseWrite() // FIN, no close_notify
	wait(t, ls)
	if ls.endErr != io.EOF || ls.notified {
		t.Fatalf("end %v, close_notify seen %v; want io.EOF and false", ls.endErr, ls.notified)
	}
}

// Large transfers in both directions arrive whole and in order.
func TestLargeTransfer(t *testing.T) {
	defer goleak.VerifyNone(t)
	cert := selfSigned(t, "large")
	ln := listen(t)
	ls := serveOne(t, ln, &tls.Config{Certificates: []tls.Certificate{cert}}, 5*time.Second, echo)
	c, err := tls.Dial("tcp", ln.Addr().String(), clientConfig(cert, 0))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	data := make([]byte, 4<<20)
	_, _ = rand.Read(data)
	want := sha256.Sum256(data)
	go func() {
		_, _ = c.Write(data)
		_ = c.CloseWrite()
	}()
	h := sha256.New()
	n, err := io.Copy(h, c)
	if err != nil || n != int64(len(data)) {
		t.Fatalf("read back %d bytes, %v; want %d", n, err, len(data))
	}
	if !bytes.Equal(h.Sum(nil), want[:]) {
		t.Fatal("the echo differs from what was sent")
	}
	wait(t, ls)
}

// TestWouldBlockIsNotSticky pins what the package relies on in crypto/tls:
// after the handshake a read that finds no complete record answers a
// temporary error and leaves the connection usable, so a record fed one
// byte at a time is decrypted once its last byte arrives.
func TestWouldBlockIsNotSticky(t *testing.T) {
	defer goleak.VerifyNone(t)
	cli, srv := pair(t, selfSigned(t, "pin"))
	var rec []byte
	cli.Established(func(p []byte) error { rec = append(rec, p...); return nil })
	if _, err := cli.Write([]byte("one record")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 64)
	for i := range rec[:len(rec)-1] {
		srv.Feed(rec[i : i+1])
		if n, err := srv.Read(buf); n != 0 || err != ErrWouldBlock {
			t.Fatalf("after %d of %d bytes: %d, %v; want 0, ErrWouldBlock", i+1, len(rec), n, err)
		}
	}
	srv.Feed(rec[len(rec)-1:])
	n, err := srv.Read(buf)
	if err != nil || string(buf[:n]) != "one record" {
		t.Fatalf("read %q, %v", buf[:n], err)
	}
	var ne net.Error
	if !errors.As(ErrWouldBlock, &ne) || !ne.Timeout() {
		t.Fatal("ErrWouldBlock must be a net.Error with Timeout")
	}
}

// pair makes an established client and server session connected in
// memory: each one's handshake output is fed to the other.
func pair(t testing.TB, cert tls.Certificate) (cli, srv *Session) {
	t.Helper()
	var c, s *Session
	c = Client(clientConfig(cert, 0), func(p []byte) error { s.Feed(p); return nil })
	s = Server(&tls.Config{Certificates: []tls.Certificate{cert}}, func(p []byte) error { c.Feed(p); return nil })
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	errs := make(chan error, 2)
	go func() { errs <- c.Handshake(ctx) }()
	go func() { errs <- s.Handshake(ctx) }()
	for range 2 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	// The client's last flight may still be in the server's input: the
	// first Drain or Read takes it. What each writes from now on is the
	// test's to carry.
	s.Established(func([]byte) error { return nil })
	c.Established(func([]byte) error { return nil })
	return c, s
}

// Bad input during the handshake costs the handshake, nothing more: a
// plaintext client fails it at once, a silent one at the deadline, a flood
// at the input bound.
func TestHandshakeBadInput(t *testing.T) {
	defer goleak.VerifyNone(t)
	cert := selfSigned(t, "bad")
	cases := []struct {
		name  string
		peer  func(c net.Conn)
		check func(error) bool
	}{
		{"plaintext", func(c net.Conn) { _, _ = c.Write([]byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n")) },
			func(err error) bool { var re tls.RecordHeaderError; return errors.As(err, &re) }},
		{"silent", func(net.Conn) {},
			func(err error) bool { return errors.Is(err, context.DeadlineExceeded) }},
		{"flood", func(c net.Conn) {
			// A record header claiming a handshake record, then far more
			// than one record's worth in small records crypto/tls keeps
			// waiting on (a fragmented, never-ending ClientHello).
			hdr := []byte{22, 3, 1, 0x40, 0x00}
			body := make([]byte, 0x4000)
			for i := 0; i < 40; i++ {
				if _, err := c.Write(append(hdr, body...)); err != nil {
					return
				}
			}
		}, func(err error) bool { return err != nil }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ln := listen(t)
			ls := serveOne(t, ln, &tls.Config{Certificates: []tls.Certificate{cert}}, 300*time.Millisecond, echo)
			c, err := net.Dial("tcp", ln.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			tc.peer(c)
			wait(t, ls)
			c.Close()
			if ls.hsErr == nil || !tc.check(ls.hsErr) {
				t.Fatalf("handshake error %v", ls.hsErr)
			}
		})
	}
}

// The input bound holds: feeding more than it before the handshake ends
// fails the handshake with ErrHandshakeInput.
func TestHandshakeInputBound(t *testing.T) {
	defer goleak.VerifyNone(t)
	s := Server(&tls.Config{Certificates: []tls.Certificate{selfSigned(t, "bound")}}, func([]byte) error { return nil })
	s.SetMaxHandshakeInput(1024)
	done := make(chan error, 1)
	go func() { done <- s.Handshake(context.Background()) }()
	s.Feed([]byte{22, 3, 1, 0x10, 0x00}) // a 4 KiB handshake record announced
	s.Feed(make([]byte, 2048))
	select {
	case err := <-done:
		if !errors.Is(err, ErrHandshakeInput) {
			t.Fatalf("handshake ended with %v, want ErrHandshakeInput", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the handshake did not end at the bound")
	}
}

// Certificate rotation through GetCertificate: each handshake asks it.
func TestGetCertificateRotation(t *testing.T) {
	defer goleak.VerifyNone(t)
	certs := []tls.Certificate{selfSigned(t, "first"), selfSigned(t, "second")}
	var n atomic.Int32
	cfg := &tls.Config{GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
		return &certs[int(n.Add(1)-1)%2], nil
	}}
	for i, want := range []string{"first", "second"} {
		ln := listen(t)
		ls := serveOne(t, ln, cfg, 5*time.Second, echo)
		c, err := tls.Dial("tcp", ln.Addr().String(), clientConfig(certs[i], 0))
		if err != nil {
			t.Fatal(err)
		}
		if got := c.ConnectionState().PeerCertificates[0].Subject.CommonName; got != want {
			t.Fatalf("handshake %d got certificate %q, want %q", i, got, want)
		}
		_ = c.Close()
		wait(t, ls)
	}
}

// Every chunk of a large write leaves in one call of send.
func TestWriteIsOneSend(t *testing.T) {
	cli, _ := pair(t, selfSigned(t, "batch"))
	var calls int
	cli.Established(func([]byte) error { calls++; return nil })
	if _, err := cli.Write(make([]byte, 100<<10)); err != nil { // 7 records
		t.Fatal(err)
	}
	if calls != 1 {
		t.Fatalf("a 100 KiB write made %d sends, want 1", calls)
	}
}

var fuzzMu sync.Mutex

// FuzzRecords feeds arbitrary bytes, cut at an arbitrary point, to an
// established server session: errors are fine, a panic or a hang is not.
func FuzzRecords(f *testing.F) {
	cert := selfSigned(f, "fuzz")
	f.Add([]byte{23, 3, 3, 0, 5, 1, 2, 3, 4, 5}, uint8(3))
	f.Add([]byte{21, 3, 3, 0, 2, 1, 0}, uint8(0))
	f.Add(bytes.Repeat([]byte{22}, 64), uint8(10))
	f.Fuzz(func(t *testing.T, in []byte, cut uint8) {
		fuzzMu.Lock()
		defer fuzzMu.Unlock()
		_, srv := pair(t, cert)
		at := int(cut) % (len(in) + 1)
		buf := make([]byte, 16<<10)
		if err := srv.Drain(in[:at], buf, func([]byte) bool { return true }); err == nil {
			_ = srv.Drain(in[at:], buf, func([]byte) bool { return true })
		}
	})
}
