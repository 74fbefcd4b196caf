package actors_test

import (
	"bufio"
	"context"
	"net"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sockactor/sockactor/actors"
	"github.com/sockactor/sockactor/events"
	sockrt "github.com/sockactor/sockactor/runtime"
)

// TestWithState: every socket gets its own state, made once, on its first
// message (FD_ACCEPT), and kept across messages, under both dispatch modes.
func TestWithState(t *testing.T) {
	type conn struct {
		first   string // the first message's type
		msgs    int
		written int
	}
	for _, d := range []actors.Dispatch{actors.Inline, actors.Pooled} {
		t.Run(d.String(), func(t *testing.T) {
			var made atomic.Int32
			h := actors.WithState(
				func(c *actors.Context) *conn {
					made.Add(1)
					first := "other"
					if ev, ok := c.Message().(*events.Event); ok && ev.EventKind() == events.FDAccept {
						first = "FD_ACCEPT"
					}
					return &conn{first: first}
				},
				func(c *actors.Context, st *conn) {
					st.msgs++
					if m, ok := c.Message().(*actors.Received); ok {
						st.written += len(m.Data)
						_, _ = c.WriteString(st.first + " " + strconv.Itoa(st.written) + "\n")
					}
				})
			ctx := context.Background()
			rt, err := sockrt.New(sockrt.Options{EventLoops: 2})
			if err != nil {
				t.Fatal(err)
			}
			ln, err := rt.Listen("tcp://127.0.0.1:0", h, actors.ListenOptions{Dispatch: d})
			if err == nil {
				err = rt.Start(ctx)
			}
			if err != nil {
				t.Fatal(err)
			}
			defer func() { _ = rt.Shutdown(ctx) }()
			const conns = 4
			cs := make([]net.Conn, conns)
			rs := make([]*bufio.Reader, conns)
			for i := range cs {
				c, err := net.Dial("tcp", ln.Addr().String())
				if err != nil {
					t.Fatal(err)
				}
				defer c.Close()
				_ = c.SetDeadline(time.Now().Add(10 * time.Second))
				cs[i], rs[i] = c, bufio.NewReader(c)
			}
			for round := 1; round <= 3; round++ {
				for i, c := range cs {
					if _, err := c.Write([]byte(strings.Repeat("x", i+1))); err != nil {
						t.Fatal(err)
					}
					line, err := rs[i].ReadString('\n')
					if want := "FD_ACCEPT " + strconv.Itoa(round*(i+1)) + "\n"; err != nil || line != want {
						t.Fatalf("conn %d round %d: %q, %v; want %q", i, round, line, err, want)
					}
				}
			}
			if n := made.Load(); n != conns {
				t.Fatalf("%d states made for %d sockets", n, conns)
			}
		})
	}
}
