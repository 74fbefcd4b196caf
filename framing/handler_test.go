package framing_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/sockactor/sockactor/actors"
	"github.com/sockactor/sockactor/framing"
	"github.com/sockactor/sockactor/internal/socktest"
	sockrt "github.com/sockactor/sockactor/runtime"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, socktest.LeakOptions()...)
}

var modes = []actors.Dispatch{actors.Inline, actors.Pooled}

func fdCount(t *testing.T) int {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skipf("no /proc/self/fd: %v", err)
	}
	return len(ents)
}

// serve runs h on a loopback listener in dispatch d until the test ends,
// checking that no descriptor is left behind.
func serve(t *testing.T, d actors.Dispatch, h actors.Handler) string {
	t.Helper()
	fds := fdCount(t)
	rt, err := sockrt.New(sockrt.Options{EventLoops: 2, Linger: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := rt.Listen("tcp://127.0.0.1:0", h, actors.ListenOptions{Dispatch: d})
	if err != nil {
		t.Fatal(err)
	}
	if err := rt.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := rt.Shutdown(context.Background()); err != nil {
			t.Errorf("shutdown: %v", err)
		}
		socktest.WaitFor(t, "descriptors to be released", func() bool { return fdCount(t) <= fds })
	})
	return ln.Addr().String()
}

// writeCut writes data in pieces of the given sizes (cycled), with a short
// pause between them so that they arrive as separate reads more often than
// not (the test does not depend on it).
func writeCut(t *testing.T, c net.Conn, data []byte, sizes []int) {
	t.Helper()
	for i := 0; len(data) > 0; i++ {
		n := min(sizes[i%len(sizes)], len(data))
		if _, err := c.Write(data[:n]); err != nil {
			t.Fatal(err)
		}
		data = data[n:]
		if i%7 == 0 {
			time.Sleep(time.Millisecond)
		}
	}
}

func readN(t *testing.T, c net.Conn, n int) []byte {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(socktest.Timeout))
	buf := make([]byte, n)
	if _, err := io.ReadFull(c, buf); err != nil {
		t.Fatalf("read %d bytes: %v (got %q)", n, err, buf)
	}
	return buf
}

// TestLinesHandler runs a numbered line echo on Lines in both dispatch
// modes, with the stream cut at awkward places, an overlong line and CRLF.
func TestLinesHandler(t *testing.T) {
	socktest.EachMode(t, modes, func(t *testing.T, d actors.Dispatch) {
		addr := serve(t, d, actors.HandlerFunc(func(c *actors.Context) {
			m, ok := c.Message().(*actors.Received)
			if !ok {
				return
			}
			type state struct {
				lines framing.Lines
				n     int
				out   []byte
			}
			st, _ := c.State().(*state)
			if st == nil {
				st = &state{lines: framing.Lines{Max: 100, TrimCR: true}}
				c.SetState(st)
			}
			for line, err := range st.lines.Frames(m.Data) {
				st.n++
				st.out = fmt.Appendf(st.out[:0], "%d:", st.n)
				if err != nil {
					st.out = append(st.out, "too long"...)
				} else {
					st.out = append(st.out, line...)
				}
				_, _ = c.Write(append(st.out, '\n'))
			}
		}))
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		var in, want bytes.Buffer
		for i := 1; i <= 300; i++ {
			switch {
			case i%50 == 0:
				in.WriteString(strings.Repeat("L", 101+i) + "\r\n")
				fmt.Fprintf(&want, "%d:too long\n", i)
			case i%3 == 0:
				fmt.Fprintf(&in, "line %d\r\n", i)
				fmt.Fprintf(&want, "%d:line %d\n", i, i)
			default:
				fmt.Fprintf(&in, "line %d\n", i)
				fmt.Fprintf(&want, "%d:line %d\n", i, i)
			}
		}
		writeCut(t, c, in.Bytes(), []int{1, 5, 17, 64, 3, 200})
		if got := readN(t, c, want.Len()); !bytes.Equal(got, want.Bytes()) {
			t.Fatalf("echo:\n%s\nwant:\n%s", got, want.Bytes())
		}
	})
}

// TestLengthPrefixedHandler runs a length-prefixed echo (each payload sent
// back reversed) in both modes, frames cut anywhere, some large.
func TestLengthPrefixedHandler(t *testing.T) {
	socktest.EachMode(t, modes, func(t *testing.T, d actors.Dispatch) {
		addr := serve(t, d, actors.HandlerFunc(func(c *actors.Context) {
			m, ok := c.Message().(*actors.Received)
			if !ok {
				return
			}
			type state struct {
				f   framing.LengthPrefixed
				out []byte
			}
			st, _ := c.State().(*state)
			if st == nil {
				st = &state{f: framing.LengthPrefixed{Size: 2}}
				c.SetState(st)
			}
			for p, err := range st.f.Frames(m.Data) {
				if err != nil {
					c.Abort()
					return
				}
				rev := bytes.Clone(p)
				for i, j := 0, len(rev)-1; i < j; i, j = i+1, j-1 {
					rev[i], rev[j] = rev[j], rev[i]
				}
				st.out, _ = st.f.Append(st.out[:0], rev)
				_, _ = c.Write(st.out)
			}
		}))
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		enc := framing.LengthPrefixed{Size: 2}
		var in, want []byte
		for i := range 100 {
			p := bytes.Repeat([]byte{byte('a' + i%26)}, (i*37)%3000)
			if len(p) > 0 {
				p[0] = '<'
			}
			in, _ = enc.Append(in, p)
			rev := bytes.Clone(p)
			for i, j := 0, len(rev)-1; i < j; i, j = i+1, j-1 {
				rev[i], rev[j] = rev[j], rev[i]
			}
			want, _ = enc.Append(want, rev)
		}
		writeCut(t, c, in, []int{1, 1, 3, 700, 2, 4096, 5})
		if got := readN(t, c, len(want)); !bytes.Equal(got, want) {
			t.Fatalf("echo differs (%d bytes)", len(got))
		}
	})
}
