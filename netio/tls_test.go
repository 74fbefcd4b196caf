package netio

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sockactor/sockactor/internal/socktest"
	"github.com/sockactor/sockactor/internal/tlsdemo"
	"github.com/sockactor/sockactor/winsock"
)

// TLS on the loops, against Go's own crypto/tls client and server on real
// loopback sockets.

var testCert = func() tls.Certificate {
	c, err := tlsdemo.SelfSigned("netio test")
	if err != nil {
		panic(err)
	}
	return c
}()

func serverTLS(maxVersion uint16) *tls.Config {
	return &tls.Config{Certificates: []tls.Certificate{testCert}, MaxVersion: maxVersion, NextProtos: []string{"echo/1"}}
}

func clientTLS12or13(maxVersion uint16) *tls.Config {
	return &tls.Config{RootCAs: tlsdemo.Pool(testCert), ServerName: "127.0.0.1", MaxVersion: maxVersion, NextProtos: []string{"echo/1"}}
}

// startTLS starts an engine with one TLS listener (and opts) and stops it
// when the test ends.
func startTLS(t *testing.T, h Handler, cfg *tls.Config, opts Options) (*Engine, *Listener) {
	t.Helper()
	opts.EventLoops = 2
	e := NewEngine(h, opts)
	l, err := e.ListenTLS("tls://127.0.0.1:0", cfg)
	if err != nil {
		t.Fatalf("ListenTLS: %v", err)
	}
	if err := e.Start(context.Background()); err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
		defer cancel()
		if err := e.Stop(ctx); err != nil {
			t.Errorf("Stop: %v", err)
		}
	})
	return e, l
}

func dialTLS(t *testing.T, l *Listener, cfg *tls.Config) *tls.Conn {
	t.Helper()
	d := &net.Dialer{Timeout: waitTimeout}
	c, err := tls.DialWithDialer(d, "tcp", l.Addr(), cfg)
	if err != nil {
		t.Fatalf("tls dial %s: %v", l.Addr(), err)
	}
	t.Cleanup(func() { _ = c.Close() })
	_ = c.SetDeadline(time.Now().Add(waitTimeout))
	return c
}

func echoHandler(t *testing.T) *testHandler {
	h := newTestHandler(t)
	h.onData = func(c *Conn, data []byte) { _, _ = c.Write(data) }
	return h
}

func TestTLSEchoAndCloseNotify(t *testing.T) {
	for _, v := range []struct {
		name string
		max  uint16
	}{{"TLS1.2", tls.VersionTLS12}, {"TLS1.3", tls.VersionTLS13}} {
		t.Run(v.name, func(t *testing.T) {
			h := echoHandler(t)
			_, l := startTLS(t, h, serverTLS(v.max), Options{})
			cl := dialTLS(t, l, clientTLS12or13(v.max))
			write(t, cl, "hello")
			readFull(t, cl, "hello")
			c := h.waitOpen(t)
			st, ok := c.TLS()
			if !ok || st.Version != v.max || st.NegotiatedProtocol != "echo/1" || !l.TLS() {
				t.Fatalf("TLS state %v %x %q, listener TLS %v", ok, st.Version, st.NegotiatedProtocol, l.TLS())
			}
			// The client's close_notify is the peer's FIN: peer-close, and
			// the send side stays usable until the server closes.
			if err := cl.CloseWrite(); err != nil {
				t.Fatal(err)
			}
			h.waitClose(t, c, ReasonPeerClose)
			onLoop(t, c, func() {
				if _, err := c.Write([]byte("bye")); err != nil {
					t.Errorf("half-open Write: %v", err)
				}
				c.Close(ReasonLocalClose) // close_notify, then FIN
			})
			got, err := readUntilErr(t, cl)
			if string(got) != "bye" || err != io.EOF {
				t.Fatalf("client read %q, %v; want bye, EOF", got, err)
			}
		})
	}
}

// An engine's TLS client against its own TLS server: each side sees the
// other's close_notify (peer-close) or its absence (truncated).
func TestTLSDialAndTruncation(t *testing.T) {
	srv := echoHandler(t)
	_, l := startTLS(t, srv, serverTLS(0), Options{})
	cli := newTestHandler(t)
	ce := NewEngine(dialHandler{cli}, Options{EventLoops: 1})
	if err := ce.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ce.Stop(context.Background()) })
	for _, notify := range []bool{true, false} {
		owner := new(int)
		if err := ce.DialTLS(context.Background(), "tls://"+l.Addr(), clientTLS12or13(0), owner); err != nil {
			t.Fatalf("DialTLS: %v", err)
		}
		c := cli.waitOpen(t)
		sc := srv.waitOpen(t)
		onLoop(t, c, func() { _, _ = c.Write([]byte("ping")) })
		cli.waitData(t, c, "ping")
		if notify {
			onLoop(t, c, func() { _ = c.ShutdownSend() }) // close_notify + FIN
			srv.waitClose(t, sc, ReasonPeerClose)
			onLoop(t, sc, func() { sc.Close(ReasonLocalClose) })
			cli.waitClose(t, c, ReasonPeerClose)
			onLoop(t, c, func() { c.Close(ReasonLocalClose) })
			continue
		}
		// The server's FIN with no close_notify before it.
		onLoop(t, sc, func() {
			sc.setSend(finSent)
			_ = shutdownWrite(gcOf(sc).Fd())
		})
		cli.waitClose(t, c, ReasonTruncated)
		if ReasonTruncated.Code() != winsock.WSAECONNABORTED || ReasonTruncated.Local() {
			t.Fatal("truncated must be 10053 and the peer's doing")
		}
		socktest.WaitFor(t, "the server side closed", func() bool { _, ok := srv.reasonOf(sc); return ok })
	}
	// A Go client that drops its TCP connection without close_notify.
	raw := dial(t, l)
	gc := tls.Client(raw, clientTLS12or13(0))
	if err := gc.Handshake(); err != nil {
		t.Fatal(err)
	}
	sc := srv.waitOpen(t)
	_ = raw.CloseWrite()
	srv.waitClose(t, sc, ReasonTruncated)
}

// dialHandler accepts dialled connections in a testHandler (which wants a
// listener on every connection it opens).
type dialHandler struct{ *testHandler }

func (d dialHandler) OnOpen(c *Conn) {
	d.mu.Lock()
	c.Owner = d.testHandler
	d.opened = append(d.opened, c)
	d.mu.Unlock()
	d.openCh <- c
}

func TestTLSDialFailures(t *testing.T) {
	e := NewEngine(dialHandler{newTestHandler(t)}, Options{EventLoops: 1, TLSHandshakeTimeout: 300 * time.Millisecond})
	if err := e.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = e.Stop(context.Background()) })
	// A plaintext server that answers with text, and one that never answers.
	talk, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer talk.Close()
	go func() {
		for {
			c, err := talk.Accept()
			if err != nil {
				return
			}
			_, _ = c.Write([]byte("HTTP/1.1 400 Bad Request\r\n\r\n"))
			_ = c.Close()
		}
	}()
	silent, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	for _, tc := range []struct {
		name, addr string
		cfg        *tls.Config
		code       winsock.Code
	}{
		{"plaintext server", "tls://" + talk.Addr().String(), clientTLS12or13(0), winsock.WSAECONNABORTED},
		{"silent server", "tls://" + silent.Addr().String(), clientTLS12or13(0), winsock.WSAECONNABORTED},
		{"no config", "tls://" + silent.Addr().String(), nil, winsock.WSAEINVAL},
		{"config on tcp", "tcp://" + silent.Addr().String(), clientTLS12or13(0), winsock.WSAEINVAL},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var err error
			if tc.cfg == nil {
				err = e.Dial(context.Background(), tc.addr, nil)
			} else {
				err = e.DialTLS(context.Background(), tc.addr, tc.cfg, nil)
			}
			var oe *winsock.OpError
			if !errors.As(err, &oe) || oe.Code != tc.code {
				t.Fatalf("Dial: %v, want code %v", err, tc.code)
			}
		})
	}
	if got := e.TLSStats().HandshakeFailed; got != 2 {
		t.Fatalf("HandshakeFailed = %d, want 2", got)
	}
}

// Bad input on a TLS port: plaintext, garbage, a stall. Each costs a
// handshake slot for a bounded time and a counter; the server keeps
// serving, and no connection is announced for them.
func TestTLSBadInputKeepsServing(t *testing.T) {
	h := echoHandler(t)
	// Long enough for the real client's handshake at the end on a loaded
	// machine; the stall runs out of it.
	e, l := startTLS(t, h, serverTLS(0), Options{TLSHandshakeTimeout: 1500 * time.Millisecond})
	plain := dial(t, l)
	write(t, plain, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	if _, err := readUntilErr(t, plain); err == nil {
		t.Fatal("plaintext client not closed")
	}
	garbage := dial(t, l)
	junk := make([]byte, 4096)
	_, _ = rand.Read(junk)
	_, _ = garbage.Write(junk)
	if _, err := readUntilErr(t, garbage); err == nil {
		t.Fatal("garbage client not closed")
	}
	stall := dial(t, l) // sends nothing: the handshake timeout ends it
	if _, err := readUntilErr(t, stall); err == nil {
		t.Fatal("stalled client not closed")
	}
	socktest.WaitFor(t, "3 failed handshakes", func() bool { return e.TLSStats().HandshakeFailed == 3 })
	cl := dialTLS(t, l, clientTLS12or13(0))
	write(t, cl, "still here")
	readFull(t, cl, "still here")
	h.mu.Lock()
	opened := len(h.opened)
	h.mu.Unlock()
	if opened != 1 {
		t.Fatalf("%d connections announced, want 1 (failed handshakes make no socket)", opened)
	}
	if st := e.TLSStats(); st.Handshakes != 1 || st.Handshaking != 0 {
		t.Fatalf("TLSStats %+v", st)
	}
}

func TestTLSMaxHandshakes(t *testing.T) {
	h := echoHandler(t)
	e, l := startTLS(t, h, serverTLS(0), Options{MaxTLSHandshakes: 2})
	a := dial(t, l)
	socktest.WaitFor(t, "a's handshake running", func() bool { return e.TLSStats().Handshaking == 1 })
	b := dial(t, l)
	socktest.WaitFor(t, "2 handshakes running", func() bool { return e.TLSStats().Handshaking == 2 })
	// Over the bound: the newcomer gets a slot, the oldest (a) is reset.
	over := dial(t, l)
	if _, err := readUntilErr(t, a); !socktest.IsReset(err) {
		t.Fatalf("the oldest handshake: %v, want a reset", err)
	}
	if st := e.TLSStats(); st.HandshakeEvicted != 1 || st.Handshaking != 2 {
		t.Fatalf("TLSStats %+v, want 1 evicted, 2 running", st)
	}
	// A real client while the stalled ones hold every slot gets through:
	// it evicts b, the oldest, and completes long before anyone evicts it.
	cl := dialTLS(t, l, clientTLS12or13(0))
	write(t, cl, "x")
	readFull(t, cl, "x")
	if _, err := readUntilErr(t, b); !socktest.IsReset(err) {
		t.Fatalf("the next oldest: %v, want a reset", err)
	}
	_ = over
	if st := e.TLSStats(); st.HandshakeEvicted != 2 || st.Handshakes != 1 {
		t.Fatalf("TLSStats %+v, want 2 evicted, 1 handshake", st)
	}
}

// A bad record on an established connection: crypto/tls answers with an
// alert, the stream ends with protocol-error, counted.
func TestTLSGarbageRecord(t *testing.T) {
	h := echoHandler(t)
	e, l := startTLS(t, h, serverTLS(0), Options{})
	raw := dial(t, l)
	cl := tls.Client(raw, clientTLS12or13(0))
	if err := cl.Handshake(); err != nil {
		t.Fatal(err)
	}
	c := h.waitOpen(t)
	// An application-data record header, then bytes that fail to decrypt.
	rec := append([]byte{23, 3, 3, 0, 64}, bytes.Repeat([]byte{0xAB}, 64)...)
	if _, err := raw.Write(rec); err != nil {
		t.Fatal(err)
	}
	h.waitClose(t, c, ReasonProtocol)
	if e.TLSStats().Broken != 1 {
		t.Fatal("broken stream not counted")
	}
}

func TestTLSReceiveBan(t *testing.T) {
	for _, policy := range []BanPolicy{BanReset, BanDiscard} {
		t.Run(policy.String(), func(t *testing.T) {
			h := newTestHandler(t)
			h.onOpen = func(c *Conn) { c.SetPolicy(policy) }
			h.onData = func(c *Conn, data []byte) {
				_, _ = c.Write(data)
				c.ShutdownRecv(0) // the ban, from inside the first delivery
			}
			_, l := startTLS(t, h, serverTLS(0), Options{})
			cl := dialTLS(t, l, clientTLS12or13(0))
			write(t, cl, "first")
			readFull(t, cl, "first")
			c := h.waitOpen(t)
			write(t, cl, "after the ban")
			if policy == BanReset {
				h.waitClose(t, c, ReasonRecvBan)
				return
			}
			socktest.WaitFor(t, "banned bytes", func() bool { return statsOf(t, c).BannedBytes == uint64(len("after the ban")) })
			if err := cl.CloseWrite(); err != nil { // close_notify still counts as the peer's close
				t.Fatal(err)
			}
			h.waitClose(t, c, ReasonPeerClose)
			if got := h.dataOf(c); got != "first" {
				t.Fatalf("delivered %q after the ban", got)
			}
		})
	}
}

// Pausing inside a delivery stops the next records of the same read; they
// arrive on resume, in order, none lost.
func TestTLSPauseMidRead(t *testing.T) {
	h := newTestHandler(t)
	var paused atomic.Pointer[Conn]
	var deliveries atomic.Int32
	h.onData = func(c *Conn, data []byte) {
		if deliveries.Add(1) == 1 {
			c.PauseReading(PauseApp)
			paused.Store(c)
		}
	}
	_, l := startTLS(t, h, serverTLS(0), Options{})
	cl := dialTLS(t, l, clientTLS12or13(0))
	big := bytes.Repeat([]byte("0123456789abcdef"), 4096) // 64 KiB: four records in one write
	if _, err := cl.Write(big); err != nil {
		t.Fatal(err)
	}
	socktest.WaitFor(t, "the pause", func() bool { return paused.Load() != nil })
	c := paused.Load()
	time.Sleep(50 * time.Millisecond) // room for a wrong delivery; the check below does not depend on it
	if n := deliveries.Load(); n != 1 {
		t.Fatalf("%d deliveries while paused, want 1", n)
	}
	onLoop(t, c, func() { c.ResumeReading(PauseApp) })
	h.waitData(t, c, string(big))
}

func TestTLSLargeTransfer(t *testing.T) {
	h := echoHandler(t)
	_, l := startTLS(t, h, serverTLS(0), Options{})
	cl := dialTLS(t, l, clientTLS12or13(0))
	echoRoundTrip(t, cl, 8<<20, nil)
}

// echoRoundTrip writes n random bytes to cl from a goroutine of its own
// while it reads their echo, and checks the echo. during, if not nil, runs
// on the test goroutine once the write has started.
func echoRoundTrip(t *testing.T, cl *tls.Conn, n int, during func(payload []byte)) {
	t.Helper()
	payload := make([]byte, n)
	_, _ = rand.Read(payload)
	errc := make(chan error, 1)
	go func() {
		_, err := cl.Write(payload)
		errc <- err
	}()
	if during != nil {
		during(payload)
	}
	got := make([]byte, len(payload))
	_ = cl.SetReadDeadline(time.Now().Add(30 * time.Second))
	if _, err := io.ReadFull(cl, got); err != nil {
		t.Fatal(err)
	}
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, payload) {
		t.Fatal("echo differs")
	}
}

func TestTLSListenNeedsConfig(t *testing.T) {
	e := NewEngine(newTestHandler(t), Options{})
	defer func() { _ = e.Stop(context.Background()) }()
	if _, err := e.Listen("tls://127.0.0.1:0"); !errors.Is(err, winsock.ErrInvalid) {
		t.Fatalf("Listen tls:// without config: %v", err)
	}
	if _, err := e.ListenTLS("tcp://127.0.0.1:0", serverTLS(0)); !errors.Is(err, winsock.ErrInvalid) {
		t.Fatalf("ListenTLS on tcp://: %v", err)
	}
}

// A graceful engine stop closes TLS connections as Close does: the client
// reads close_notify (a clean end, not a truncation).
func TestTLSStopSendsCloseNotify(t *testing.T) {
	h := echoHandler(t)
	e := NewEngine(h, Options{EventLoops: 1})
	// TLS 1.2, whose alerts travel in records of their own type (1.3
	// hides them in application data).
	l, err := e.ListenTLS("tls://127.0.0.1:0", serverTLS(tls.VersionTLS12))
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	cl := dialTLS(t, l, clientTLS12or13(tls.VersionTLS12))
	write(t, cl, "x")
	readFull(t, cl, "x")
	c := h.waitOpen(t)
	if err := e.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	if r, _ := h.reasonOf(c); r != ReasonShutdown {
		t.Fatalf("reason %v", r)
	}
	// Go's client reads io.EOF for close_notify, and for a bare FIN at a
	// record boundary too; the record itself is what tells them apart.
	raw := make([]byte, 64)
	n, _ := cl.NetConn().Read(raw)
	if n < 5 || raw[0] != 21 { // an alert record: close_notify
		t.Fatalf("after Stop the client read %x, want a close_notify alert", raw[:n])
	}
}

// The ban on a paused TLS connection under discard: what the peer sent
// while paused is decrypted and its plaintext banned, the records after it
// too; close_notify is still the peer's close. (Whether any of it sits in
// gnet's buffer at the ban depends on gnet re-arming reads for a write of
// its own; banTLS decrypts rather than drops that part, since dropping
// ciphertext would break the stream.)
func TestTLSBanWhilePaused(t *testing.T) {
	h := newTestHandler(t)
	h.onOpen = func(c *Conn) { c.SetPolicy(BanDiscard) }
	_, l := startTLS(t, h, serverTLS(0), Options{})
	cl := dialTLS(t, l, clientTLS12or13(0))
	write(t, cl, "first")
	c := h.waitOpen(t)
	h.waitData(t, c, "first")
	onLoop(t, c, func() { c.PauseReading(PauseApp) })
	held := bytes.Repeat([]byte("h"), 100<<10)
	if _, err := cl.Write(held); err != nil {
		t.Fatal(err)
	}
	// Some of it reaches gnet's buffer while paused (at most one read), the
	// rest waits in the kernel; either way none is delivered.
	time.Sleep(50 * time.Millisecond)
	onLoop(t, c, func() {
		c.ShutdownRecv(0)
		c.ResumeReading(PauseApp)
	})
	if _, err := cl.Write([]byte("after")); err != nil {
		t.Fatal(err)
	}
	if err := cl.CloseWrite(); err != nil {
		t.Fatal(err)
	}
	h.waitClose(t, c, ReasonPeerClose)
	if got := h.dataOf(c); got != "first" {
		t.Fatalf("delivered %q", got)
	}
	if st := statsOf(t, c); st.BannedBytes != uint64(len(held)+len("after")) || st.BytesIn != uint64(len("first")+len(held)+len("after")) {
		t.Fatalf("stats %+v", st)
	}
}

// TestTLSDirectWrite: a writer off the loop (as a pooled handler) echoes
// an 8 MiB stream through WriteDirect while the loop decrypts what keeps
// arriving on the same session; the send buffer is small, so direct writes
// are taken in part and their rest goes out through the loop. The echo
// arrives whole and in order, and most of it went the direct way.
func TestTLSDirectWrite(t *testing.T) {
	msgs := make(chan []byte, 1024)
	h := newTestHandler(t)
	var w *directWriter
	h.onOpen = func(c *Conn) {
		smallBuffers(c)
		c.EnableDirectWrite()
		w = &directWriter{c: c}
	}
	h.onData = func(c *Conn, data []byte) { msgs <- append([]byte(nil), data...) } // loop
	_, l := startTLS(t, h, serverTLS(0), Options{})
	cl := dialTLS(t, l, clientTLS12or13(0))
	var c *Conn
	done := make(chan struct{})
	echoRoundTrip(t, cl, 8<<20, func(payload []byte) {
		c = h.waitOpen(t)
		go func() { // the writer's goroutine
			defer close(done)
			for n := 0; n < len(payload); {
				select {
				case p := <-msgs:
					w.write(t, p)
					n += len(p)
				case <-time.After(waitTimeout):
					t.Errorf("writer: %d of %d bytes echoed", n, len(payload))
					return
				}
			}
		}()
	})
	<-done
	if w.direct == 0 {
		t.Fatal("no direct write: the test did not cover the direct path")
	}
	t.Logf("%d direct writes (%d taken in part)", w.direct, w.partials)
	if st := statsOf(t, c); st.BytesOut != 8<<20 {
		t.Fatalf("BytesOut %d, want %d (plaintext)", st.BytesOut, 8<<20)
	}
}
