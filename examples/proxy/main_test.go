package main

import (
	"errors"
	"fmt"
	"io"
	"net"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/sockactor/sockactor/actors"
	"github.com/sockactor/sockactor/internal/socktest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, socktest.LeakOptions()...)
}

// modes are the dispatch modes every test runs the proxy under (its
// -dispatch flag).
var modes = []actors.Dispatch{actors.Inline, actors.Pooled}

// streamDeadline bounds one large transfer (it takes seconds; this is a
// guard against a stall, not a speed claim).
const streamDeadline = 5 * time.Minute

// ---- tests ----

// TestProxyEcho: through the proxy to an echo server, lines come back; the
// client's FIN reaches the upstream, whose FIN comes back as the client's
// end of stream.
func TestProxyEcho(t *testing.T) {
	socktest.EachMode(t, modes, func(t *testing.T, mode actors.Dispatch) {
		up := startUpstream(t, func(c *net.TCPConn) error {
			// Plain reads and writes: io.Copy between two TCP conns would
			// splice through pipes that Go pools and closes only at a GC,
			// which the descriptor check would count.
			if _, err := io.Copy(struct{ io.Writer }{c}, struct{ io.Reader }{c}); err != nil {
				return err
			}
			return c.CloseWrite()
		})
		p := startProxy(t, mode.String(), up.addr())
		for i := range 3 {
			c := socktest.Dial(t, p.Addr)
			for j := range 5 {
				msg := fmt.Sprintf("client %d line %d\n", i, j)
				if got := socktest.RoundTrip(t, c, msg); got != msg {
					t.Fatalf("echo %q, want %q", got, msg)
				}
			}
			if err := c.CloseWrite(); err != nil {
				t.Fatal(err)
			}
			if err := socktest.ReadUntilErr(c); !errors.Is(err, io.EOF) {
				t.Fatalf("after the client's FIN: %v, want EOF", err)
			}
			if err := up.result(t); err != nil {
				t.Fatalf("upstream: %v", err)
			}
			_ = c.Close()
		}
		p.stop(t)
	})
}

// TestProxySlowUpstream: a fast client sends 1 GiB (256 MiB with -short)
// to an upstream that reads 64 KiB per millisecond. Every byte arrives in
// order, and the proxy (in this process) holds the client back instead of
// buffering: the live heap grows by at most 64 MiB over the whole stream.
func TestProxySlowUpstream(t *testing.T) {
	total := int64(1 << 30)
	if testing.Short() {
		total = 256 << 20
	}
	const heapBound = 64 << 20
	socktest.EachMode(t, modes, func(t *testing.T, mode actors.Dispatch) {
		up := startUpstream(t, func(c *net.TCPConn) error {
			got, err := consume(c, time.Millisecond)
			if err == nil && got != total {
				err = fmt.Errorf("the upstream read %d bytes, want %d", got, total)
			}
			return err
		})
		p := startProxy(t, mode.String(), up.addr())
		before := heapNow()
		c := socktest.Dial(t, p.Addr)
		errc := make(chan error, 1)
		go func() {
			err := produce(c, total)
			if err == nil {
				err = c.CloseWrite()
			}
			errc <- err
		}()
		var peak uint64
		deadline := time.After(streamDeadline)
		tick := time.NewTicker(200 * time.Millisecond)
		defer tick.Stop()
		var produceErr error
		for done := false; !done; {
			select {
			case produceErr = <-errc:
				done = true
			case <-tick.C:
				peak = max(peak, heapNow())
			case <-deadline:
				t.Fatal("the client could not send the stream in time")
			}
		}
		if produceErr != nil {
			t.Fatalf("client: %v", produceErr)
		}
		if err := up.result(t); err != nil {
			t.Fatalf("upstream: %v", err)
		}
		peak = max(peak, heapNow())
		if err := socktest.ReadUntilErr(c); !errors.Is(err, io.EOF) {
			t.Fatalf("the client's end: %v, want EOF (the upstream's FIN)", err)
		}
		_ = c.Close()
		if peak > before && peak-before > heapBound {
			t.Fatalf("the live heap grew by %d MiB while %d MiB went through (bound %d MiB)",
				(peak-before)>>20, total>>20, heapBound>>20)
		}
		t.Logf("%d MiB through; live heap %d MiB before, peak %d MiB", total>>20, before>>20, peak>>20)
		p.stop(t)
	})
}

// halfCloseBytes is what the half-close tests send after the FIN of the
// other direction: enough to fill the kernel's buffers and the socket's
// queue past its high-water mark when read slowly, so the half-open side
// is refused and must retry (no FD_WRITE follows FD_CLOSE).
const halfCloseBytes = 32 << 20

// TestProxyHalfClose: a FIN in one direction reaches the other side after
// the bytes before it, and the other direction goes on, large and slow,
// to its own FIN; both orders.
func TestProxyHalfClose(t *testing.T) {
	socktest.EachMode(t, modes, func(t *testing.T, mode actors.Dispatch) {
		t.Run("client-first", func(t *testing.T) {
			// The client sends a request and FIN; the upstream reads it to
			// the end, then answers with a large stream and its FIN.
			up := startUpstream(t, func(c *net.TCPConn) error {
				req, err := io.ReadAll(c)
				if err != nil || string(req) != "request" {
					return fmt.Errorf("request %q, %v", req, err)
				}
				if err := produce(c, halfCloseBytes); err != nil {
					return err
				}
				return c.CloseWrite()
			})
			p := startProxy(t, mode.String(), up.addr())
			c := socktest.Dial(t, p.Addr)
			if _, err := c.Write([]byte("request")); err != nil {
				t.Fatal(err)
			}
			if err := c.CloseWrite(); err != nil {
				t.Fatal(err)
			}
			got, err := consume(c, 2*time.Millisecond)
			if err != nil || got != halfCloseBytes {
				t.Fatalf("the client read %d of %d bytes: %v", got, halfCloseBytes, err)
			}
			if err := up.result(t); err != nil {
				t.Fatalf("upstream: %v", err)
			}
			_ = c.Close()
			p.stop(t)
		})
		t.Run("upstream-first", func(t *testing.T) {
			// The upstream greets and sends FIN at once; the client then
			// sends a large stream, read slowly, and its FIN.
			up := startUpstream(t, func(c *net.TCPConn) error {
				if _, err := c.Write([]byte("hello")); err != nil {
					return err
				}
				if err := c.CloseWrite(); err != nil {
					return err
				}
				got, err := consume(c, 2*time.Millisecond)
				if err == nil && got != halfCloseBytes {
					err = fmt.Errorf("the upstream read %d bytes, want %d", got, halfCloseBytes)
				}
				return err
			})
			p := startProxy(t, mode.String(), up.addr())
			c := socktest.Dial(t, p.Addr)
			_ = c.SetReadDeadline(time.Now().Add(socktest.ConnTimeout))
			greeting, err := io.ReadAll(c)
			if err != nil || string(greeting) != "hello" {
				t.Fatalf("greeting %q, %v; want hello, then EOF", greeting, err)
			}
			if err := produce(c, halfCloseBytes); err != nil {
				t.Fatalf("client: %v", err)
			}
			if err := c.CloseWrite(); err != nil {
				t.Fatal(err)
			}
			if err := up.result(t); err != nil {
				t.Fatalf("upstream: %v", err)
			}
			_ = c.Close()
			p.stop(t)
		})
	})
}

// TestProxyReset: a reset on either side resets the other.
func TestProxyReset(t *testing.T) {
	socktest.EachMode(t, modes, func(t *testing.T, mode actors.Dispatch) {
		t.Run("client", func(t *testing.T) {
			got := make(chan struct{})
			up := startUpstream(t, func(c *net.TCPConn) error {
				buf := make([]byte, 1)
				if _, err := io.ReadFull(c, buf); err != nil {
					return err
				}
				close(got)
				return socktest.ReadUntilErr(c)
			})
			p := startProxy(t, mode.String(), up.addr())
			c := socktest.Dial(t, p.Addr)
			if _, err := c.Write([]byte("x")); err != nil {
				t.Fatal(err)
			}
			waitClosed(t, got, "the upstream to read the client's byte")
			_ = c.SetLinger(0)
			_ = c.Close() // RST
			if err := up.result(t); !socktest.IsReset(err) {
				t.Fatalf("upstream after the client's reset: %v, want ECONNRESET", err)
			}
			p.stop(t)
		})
		t.Run("upstream", func(t *testing.T) {
			up := startUpstream(t, func(c *net.TCPConn) error {
				buf := make([]byte, 1)
				if _, err := io.ReadFull(c, buf); err != nil {
					return err
				}
				_ = c.SetLinger(0)
				return c.Close() // RST
			})
			p := startProxy(t, mode.String(), up.addr())
			c := socktest.Dial(t, p.Addr)
			if _, err := c.Write([]byte("x")); err != nil {
				t.Fatal(err)
			}
			if err := socktest.ReadUntilErr(c); !socktest.IsReset(err) {
				t.Fatalf("client after the upstream's reset: %v, want ECONNRESET", err)
			}
			if err := up.result(t); err != nil {
				t.Fatalf("upstream: %v", err)
			}
			_ = c.Close()
			p.stop(t)
		})
	})
}

// TestProxyHalfOpenLimit: a pair whose one direction has ended (the
// client's FIN) and whose other never does is reset on both sides once
// -half-open has passed.
func TestProxyHalfOpenLimit(t *testing.T) {
	socktest.EachMode(t, modes, func(t *testing.T, mode actors.Dispatch) {
		clientReset := make(chan struct{})
		up := startUpstream(t, func(c *net.TCPConn) error {
			// The client's FIN arrives; this side sends nothing back.
			if _, err := io.ReadAll(c); err != nil {
				return err
			}
			select {
			case <-clientReset:
			case <-time.After(socktest.Timeout):
				return errors.New("the client was not reset")
			}
			// The proxy resets this side too (its own message, so perhaps
			// a moment after the client's): a write fails once it has.
			deadline := time.Now().Add(socktest.Timeout)
			for time.Now().Before(deadline) {
				if _, err := c.Write([]byte("late")); err != nil {
					return nil
				}
				time.Sleep(5 * time.Millisecond)
			}
			return errors.New("the upstream was not reset")
		})
		p := startProxy(t, mode.String(), up.addr(), "-half-open", "300ms")
		c := socktest.Dial(t, p.Addr)
		if err := c.CloseWrite(); err != nil {
			t.Fatal(err)
		}
		if err := socktest.ReadUntilErr(c); !socktest.IsReset(err) {
			t.Fatalf("client of a pair past -half-open: %v, want ECONNRESET", err)
		}
		close(clientReset)
		if err := up.result(t); err != nil {
			t.Fatalf("upstream: %v", err)
		}
		_ = c.Close()
		p.stop(t)
	})
}

// TestProxyUpstreamRefused: with nothing listening upstream, every client
// is closed.
func TestProxyUpstreamRefused(t *testing.T) {
	socktest.EachMode(t, modes, func(t *testing.T, mode actors.Dispatch) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		refusing := ln.Addr().String()
		_ = ln.Close() // nothing listens there now: connects are refused
		p := startProxy(t, mode.String(), refusing)
		for range 3 {
			c := socktest.Dial(t, p.Addr)
			if err := socktest.ReadUntilErr(c); !errors.Is(err, io.EOF) && !socktest.IsReset(err) {
				t.Fatalf("client of an unreachable upstream: %v, want EOF or a reset", err)
			}
			_ = c.Close()
		}
		p.stop(t)
	})
}

// TestProxyArgs: bad arguments are errors, before anything is printed.
func TestProxyArgs(t *testing.T) {
	socktest.CheckRunErrors(t, run, [][]string{
		{"-listen", "127.0.0.1:0"}, // no -upstream
		{"-listen", "127.0.0.1:0", "-upstream", "127.0.0.1:1", "-dispatch", "bogus"},
		{"-listen", "127.0.0.1:0", "-upstream", "127.0.0.1"},         // no port
		{"-listen", "127.0.0.1:0", "-upstream", "ftp://x:1"},         // not a network the runtime dials
		{"-listen", "127.0.0.1:0", "-upstream", "udp://127.0.0.1:1"}, // no flow control
		{"-listen", socktest.BusyAddr(t), "-upstream", "127.0.0.1:1"},
		{"-listen", "127.0.0.1:0", "-upstream", "127.0.0.1:1", "-half-open", "0s"},
		{"-listen", "127.0.0.1:0", "-upstream", "127.0.0.1:1", "extra"},
	})
}
