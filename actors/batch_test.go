package actors_test

import (
	"bytes"
	"io"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"golang.org/x/sys/unix"

	"github.com/sockactor/sockactor/actors"
	"github.com/sockactor/sockactor/internal/socktest"
	sockrt "github.com/sockactor/sockactor/runtime"
)

// lineReplies answers every "\n"-ended line of a read with its own Write
// ("+<line>\r\n"), the way a pipelined protocol handler that does not batch
// by hand would; calls counts the Receive calls that wrote.
func lineReplies(calls *atomic.Int64) actors.Handler {
	return actors.HandlerFunc(func(c *actors.Context) {
		m, ok := c.Message().(*actors.Received)
		if !ok {
			return
		}
		wrote := false
		for line := range bytes.Lines(m.Data) {
			_, _ = c.WriteString("+" + strings.TrimSuffix(string(line), "\n") + "\r\n")
			wrote = true
		}
		if wrote {
			calls.Add(1)
		}
	})
}

// dataSegsIn is the number of data segments the kernel has received on c.
func dataSegsIn(tb testing.TB, c *net.TCPConn) uint32 {
	tb.Helper()
	raw, err := c.SyscallConn()
	if err != nil {
		tb.Fatal(err)
	}
	var info *unix.TCPInfo
	var serr error
	if err := raw.Control(func(fd uintptr) { info, serr = unix.GetsockoptTCPInfo(int(fd), unix.IPPROTO_TCP, unix.TCP_INFO) }); err != nil {
		tb.Fatal(err)
	}
	if serr != nil {
		tb.Fatal(serr)
	}
	return info.Data_segs_in
}

// TestWriteBatchOneSystemCall: the replies a handler writes one by one
// while handling one read leave together, one write(2) (so one TCP
// segment on loopback) per handler call, in both dispatch modes.
func TestWriteBatchOneSystemCall(t *testing.T) {
	socktest.EachMode(t, modes, func(t *testing.T, mode actors.Dispatch) {
		var calls atomic.Int64
		srv := startRuntime(t, sockrt.Options{}, listenSpec{h: lineReplies(&calls), opts: actors.ListenOptions{Dispatch: mode}})
		c, _ := srv.dial(t, 0)
		const rounds, depth = 20, 16
		var req, want strings.Builder
		for i := range depth {
			req.WriteString("k" + string(rune('a'+i)) + "\n")
			want.WriteString("+k" + string(rune('a'+i)) + "\r\n")
		}
		buf := make([]byte, want.Len())
		before := dataSegsIn(t, c)
		for range rounds {
			if _, err := c.Write([]byte(req.String())); err != nil {
				t.Fatal(err)
			}
			if _, err := io.ReadFull(c, buf); err != nil {
				t.Fatal(err)
			}
			if string(buf) != want.String() {
				t.Fatalf("replies %q, want %q", buf, want.String())
			}
		}
		segs, n := dataSegsIn(t, c)-before, calls.Load()
		// Each call's replies are one write: at most one segment per call
		// (a request split over two reads makes two calls, and two).
		if int64(segs) > n {
			t.Fatalf("%d data segments for the replies of %d handler calls (%d requests): not one write per call", segs, n, rounds*depth)
		}
	})
}

// orderCase is one sequence of handler writes and messages whose bytes
// the peer must read in order.
type orderCase struct {
	name string
	// act runs in the handler on the first read; it returns the bytes the
	// peer must read, in order, before EOF.
	act func(c *actors.Context, relay *actor.PID) string
	eof bool // the peer reads EOF after them
}

// sizes of writes around the batch's 64 KiB bound.
func chunk(tag byte, n int) []byte { return bytes.Repeat([]byte{tag}, n) }

var orderCases = []orderCase{
	{name: "small writes then SendDisconnect", eof: true, act: func(c *actors.Context, _ *actor.PID) string {
		_, _ = c.WriteString("one,")
		_, _ = c.WriteString("two")
		c.SendDisconnect()
		return "one,two"
	}},
	{name: "small writes then Close", eof: true, act: func(c *actors.Context, _ *actor.PID) string {
		_, _ = c.WriteString("a")
		_, _ = c.WriteString("b")
		c.Close()
		return "ab"
	}},
	{name: "small, large, small, over the batch bound", eof: true, act: func(c *actors.Context, _ *actor.PID) string {
		var want []byte
		for _, p := range [][]byte{chunk('a', 10), chunk('b', 70<<10), chunk('c', 3), chunk('d', 40<<10), chunk('e', 40<<10), chunk('f', 1)} {
			_, _ = c.Write(p)
			want = append(want, p...)
		}
		c.SendDisconnect()
		return string(want)
	}},
	{name: "write, then a Send message from another actor", act: func(c *actors.Context, relay *actor.PID) string {
		_, _ = c.WriteString("first,")
		// The relay sends actors.Send{"second"} to this socket: it must
		// not overtake the bytes written before the message.
		c.Send(relay, c.Self())
		return "first,second"
	}},
	{name: "write, then the handler's own RecvDisconnect", act: func(c *actors.Context, _ *actor.PID) string {
		_, _ = c.WriteString("before-ban,")
		_, _ = c.RecvDisconnect()
		_, _ = c.WriteString("after")
		return "before-ban,after"
	}},
	{name: "write then Flush then write", act: func(c *actors.Context, _ *actor.PID) string {
		_, _ = c.WriteString("x")
		c.Flush()
		_, _ = c.WriteString("y")
		return "xy"
	}},
}

// TestWriteBatchOrder: batched bytes keep their order with large writes,
// with the handler's own messages (SendDisconnect, Close: the FIN after
// them), with what another actor sends the socket because of a message
// the handler sent, and with the handler's RecvDisconnect; in both modes.
func TestWriteBatchOrder(t *testing.T) {
	for _, tc := range orderCases {
		t.Run(tc.name, func(t *testing.T) {
			socktest.EachMode(t, modes, func(t *testing.T, mode actors.Dispatch) {
				want := make(chan string, 1)
				var relay atomic.Pointer[actor.PID] // spawned once the runtime runs
				h := actors.HandlerFunc(func(c *actors.Context) {
					if _, ok := c.Message().(*actors.Received); ok {
						want <- tc.act(c, relay.Load())
					}
				})
				srv := startRuntime(t, sockrt.Options{BanPolicy: actors.BanDiscard}, listenSpec{h: h, opts: actors.ListenOptions{Dispatch: mode}})
				sys := srv.rt.System()
				relayPID := sys.Root.Spawn(actor.PropsFromFunc(func(ctx actor.Context) {
					if pid, ok := ctx.Message().(*actor.PID); ok {
						ctx.Send(pid, &actors.Send{Data: []byte("second")})
					}
				}))
				relay.Store(relayPID)
				t.Cleanup(func() { _ = sys.Root.StopFuture(relayPID).Wait() })
				c, _ := srv.dial(t, 0)
				if _, err := c.Write([]byte("go")); err != nil {
					t.Fatal(err)
				}
				w := <-want
				_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
				got := make([]byte, len(w))
				if _, err := io.ReadFull(c, got); err != nil {
					t.Fatalf("read %d bytes: %v", len(w), err)
				}
				if !bytes.Equal(got, []byte(w)) {
					t.Fatalf("read %.40q..., want %.40q...", got, w)
				}
				if tc.eof {
					if n, err := c.Read(make([]byte, 1)); err != io.EOF {
						t.Fatalf("after the bytes: %d, %v; want EOF", n, err)
					}
				}
			})
		})
	}
}

// TestFlushBeforeBlocking: a pooled handler that blocks after Flush has
// its bytes on the wire meanwhile; the rest leaves when it returns.
func TestFlushBeforeBlocking(t *testing.T) {
	release := make(chan struct{})
	h := actors.HandlerFunc(func(c *actors.Context) {
		if _, ok := c.Message().(*actors.Received); ok {
			_, _ = c.WriteString("early,")
			c.Flush()
			<-release // the peer reads "early," while this call blocks
			_, _ = c.WriteString("late")
		}
	})
	srv := startRuntime(t, sockrt.Options{}, listenSpec{h: h, opts: actors.ListenOptions{Dispatch: actors.Pooled}})
	c, _ := srv.dial(t, 0)
	if _, err := c.Write([]byte("go")); err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	got := make([]byte, len("early,"))
	_, err := io.ReadFull(c, got)
	close(release)
	if err != nil || string(got) != "early," {
		t.Fatalf("while the handler blocks: %q, %v", got, err)
	}
	got = make([]byte, len("late"))
	if _, err := io.ReadFull(c, got); err != nil || string(got) != "late" {
		t.Fatalf("after it returned: %q, %v", got, err)
	}
}

// TestWriteBatchDatagrams: a UDP socket's Writes stay one datagram each.
func TestWriteBatchDatagrams(t *testing.T) {
	socktest.EachMode(t, modes, func(t *testing.T, mode actors.Dispatch) {
		h := actors.HandlerFunc(func(c *actors.Context) {
			if _, ok := c.Message().(*actors.Received); ok {
				for _, d := range []string{"one", "two", "three"} {
					_, _ = c.WriteString(d)
				}
			}
		})
		rt, err := sockrt.New(sockrt.Options{EventLoops: 2})
		if err != nil {
			t.Fatal(err)
		}
		ln, err := rt.Listen("udp://127.0.0.1:0", h, actors.ListenOptions{Dispatch: mode})
		if err != nil {
			t.Fatal(err)
		}
		if err := rt.Start(ctx5(t)); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = rt.Shutdown(ctx5(t)) })
		c, err := net.Dial("udp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if _, err := c.Write([]byte("go")); err != nil {
			t.Fatal(err)
		}
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		buf := make([]byte, 64)
		for _, want := range []string{"one", "two", "three"} {
			n, err := c.Read(buf)
			if err != nil || string(buf[:n]) != want {
				t.Fatalf("datagram %q, %v; want %q", buf[:n], err, want)
			}
		}
	})
}
