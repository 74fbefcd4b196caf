package echo

import (
	"bytes"
	"context"
	"io"
	"net"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/sockactor/sockactor/actors"
	"github.com/sockactor/sockactor/internal/socktest"
	sockrt "github.com/sockactor/sockactor/runtime"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, socktest.LeakOptions()...)
}

var modes = []actors.Dispatch{actors.Inline, actors.Pooled}

// serve runs Handler on a loopback listener of network ("tcp" or "udp")
// under dispatch d and returns its address.
func serve(t *testing.T, network string, d actors.Dispatch) string {
	t.Helper()
	return serveWith(t, network, d, sockrt.Options{EventLoops: 2})
}

// serveWith is serve with the runtime's options.
func serveWith(t *testing.T, network string, d actors.Dispatch, opts sockrt.Options) string {
	t.Helper()
	rt, err := sockrt.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := rt.Listen(network+"://127.0.0.1:0", Handler, actors.ListenOptions{Dispatch: d})
	if err == nil {
		err = rt.Start(context.Background())
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := rt.Shutdown(ctx); err != nil {
			t.Error(err)
		}
	})
	return ln.Addr().String()
}

// stream is n bytes of a pattern whose every 64 KiB chunk differs, so that
// a lost, repeated or reordered chunk shows.
func stream(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i>>16) ^ byte(i)
	}
	return b
}

// TestSlowReader sends far more than the socket's send queue takes
// (SendHighWater, 4 MiB) and reads nothing for a while: the server's
// writes are refused, the Outbox keeps the echo and suspends reading, and
// then the whole echo comes back, in order. With halfClose the client
// sends FIN after its data while the echo is still held: no FD_WRITE
// comes after FD_CLOSE, the handler retries, and the client still gets
// every byte, then EOF.
func TestSlowReader(t *testing.T) {
	for _, halfClose := range []bool{false, true} {
		socktest.EachMode(t, modes, func(t *testing.T, d actors.Dispatch) {
			c := socktest.Dial(t, serve(t, "tcp", d))
			want := stream(24 << 20)
			done := sendAll(c, want, halfClose)
			time.Sleep(300 * time.Millisecond)
			_ = c.SetReadDeadline(time.Now().Add(30 * time.Second))
			got := make([]byte, len(want))
			if _, err := io.ReadFull(c, got); err != nil {
				t.Fatalf("halfClose %v: read: %v", halfClose, err)
			}
			if i := firstDiff(got, want); i >= 0 {
				t.Fatalf("halfClose %v: echo differs from byte %d on", halfClose, i)
			}
			if err := <-done; err != nil {
				t.Fatal(err)
			}
			if halfClose {
				if rest, err := io.ReadAll(c); err != nil || len(rest) != 0 {
					t.Fatalf("after the echo: %d bytes, %v (want EOF)", len(rest), err)
				}
			}
		})
	}
}

// sendAll writes data to c in 256 KiB writes from a goroutine, then FIN if
// halfClose, and reports the outcome on the channel it returns.
func sendAll(c *net.TCPConn, data []byte, halfClose bool) <-chan error {
	done := make(chan error, 1)
	go func() {
		for p := data; len(p) > 0; p = p[min(len(p), 256<<10):] {
			if _, err := c.Write(p[:min(len(p), 256<<10)]); err != nil {
				done <- err
				return
			}
		}
		if halfClose {
			done <- c.CloseWrite()
			return
		}
		done <- nil
	}()
	return done
}

func firstDiff(a, b []byte) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	if len(a) != len(b) {
		return min(len(a), len(b))
	}
	return -1
}

// TestDatagrams: over UDP each datagram comes back as itself (the Outbox
// never joins datagrams).
func TestDatagrams(t *testing.T) {
	socktest.EachMode(t, modes, func(t *testing.T, d actors.Dispatch) {
		c, err := net.Dial("udp", serve(t, "udp", d))
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		for _, msg := range []string{"one", "two", "three"} {
			if _, err := c.Write([]byte(msg)); err != nil {
				t.Fatal(err)
			}
			_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
			buf := make([]byte, 64)
			n, err := c.Read(buf)
			if err != nil || !bytes.Equal(buf[:n], []byte(msg)) {
				t.Fatalf("datagram %q: %q, %v", msg, buf[:n], err)
			}
		}
	})
}

// TestHalfClosedSlowReaderOutlastsTheLinger: a client sends its data, then
// FIN, and reads the echo slowly, over many lingers; every byte comes
// back, then EOF. While the Outbox holds bytes the socket is not read, so
// the FIN is read (and the linger starts) only once everything is written
// to the send queue; the release at the linger's end closes gracefully
// and keeps flushing while the peer takes bytes (docs/SEMANTICS.md §5).
func TestHalfClosedSlowReaderOutlastsTheLinger(t *testing.T) {
	const linger = 200 * time.Millisecond
	socktest.EachMode(t, modes, func(t *testing.T, d actors.Dispatch) {
		c := socktest.Dial(t, serveWith(t, "tcp", d, sockrt.Options{EventLoops: 2, Linger: linger}))
		want := stream(16 << 20)
		done := sendAll(c, want, true)
		// 64 KiB every 10 ms: about 6 MiB/s, so what is still to come
		// after the FIN (the send queue, the Outbox, the kernel's
		// buffers) takes many lingers.
		got := make([]byte, 0, len(want))
		buf := make([]byte, 64<<10)
		deadline := time.Now().Add(60 * time.Second)
		for len(got) < len(want) && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
			_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
			n, err := io.ReadFull(c, buf[:min(len(buf), len(want)-len(got))])
			got = append(got, buf[:n]...)
			if err != nil {
				t.Fatalf("read %d of %d bytes: %v", len(got), len(want), err)
			}
		}
		if i := firstDiff(got, want); i >= 0 {
			t.Fatalf("echo differs from byte %d on (%d of %d read)", i, len(got), len(want))
		}
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		if rest, err := io.ReadAll(c); err != nil || len(rest) != 0 {
			t.Fatalf("after the echo: %d bytes, %v (want EOF)", len(rest), err)
		}
	})
}
