package main

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sockactor/sockactor/internal/socktest"

	"github.com/sockactor/sockactor/actors"
)

// bigInput is numbered 64-byte lines: 4 MiB more than the kernel may
// buffer on the server's side of a loopback connection (the largest send
// buffer TCP autotuning grows to, tcp_wmem's maximum, 4 MiB by default;
// the client's receive buffer is made small), so a client that does not
// read leaves at least 4 MiB of echo that the kernel cannot take.
var bigInput = func() string {
	size := 4<<20 + tcpWmemMax()
	var b strings.Builder
	b.Grow(size)
	for i := range size / 64 {
		fmt.Fprintf(&b, "%08d the quick brown fox jumps over the lazy dog %10d\n", i, i*i%1e10)
	}
	if b.Len() != size/64*64 {
		panic(fmt.Sprintf("bigInput is %d bytes, want %d", b.Len(), size/64*64))
	}
	return b.String()
}()

// tcpWmemMax returns the third field of /proc/sys/net/ipv4/tcp_wmem, or
// 4 MiB (Linux's default) if it cannot be read.
func tcpWmemMax() int {
	const def = 4 << 20
	b, err := os.ReadFile("/proc/sys/net/ipv4/tcp_wmem")
	if err != nil {
		return def
	}
	f := strings.Fields(string(b))
	if len(f) != 3 {
		return def
	}
	n, err := strconv.Atoi(f[2])
	if err != nil || n <= 0 || n > 64<<20 {
		return def
	}
	return n
}

// newBackPressureEnv starts a server whose sockets refuse Sends past
// 128 KiB of queued output (FD_WRITE below 32 KiB), so a client that stops
// reading gets Sends refused with WSAEWOULDBLOCK long before its echo is
// out. The socket may hold all of bigInput unread (MaxInbound), and the
// linger (which bounds a half-open socket's life after FD_CLOSE) is made
// long enough for a slow, loaded machine.
func newBackPressureEnv(t *testing.T, d actors.Dispatch) *env {
	t.Helper()
	return newEnvConfig(t, config{
		dispatch:      d,
		max:           16 << 10,
		sendHighWater: 128 << 10,
		sendLowWater:  32 << 10,
		maxInbound:    len(bigInput),
		linger:        time.Minute,
	})
}

// bigClient dials, shrinks its receive buffer (so the kernel absorbs
// little of the echo while the client does not read) and writes bigInput.
// The write completes without reading: the server takes every byte into
// the socket's pull buffer.
func (e *env) bigClient(t *testing.T) *client {
	t.Helper()
	c := e.dial(t)
	if err := c.conn.SetReadBuffer(32 << 10); err != nil {
		t.Fatal(err)
	}
	c.write(bigInput)
	return c
}

// checkBig checks the echo and the socket line of a bigInput client.
func (e *env) checkBig(t *testing.T, c *client, got []byte, err error) {
	t.Helper()
	want := strings.ToUpper(bigInput)
	if err != nil {
		t.Fatalf("read %d of %d echoed bytes, then %v; want a clean end-of-stream", len(got), len(want), err)
	}
	if string(got) != want {
		i := 0
		for i < len(got) && i < len(want) && got[i] == want[i] {
			i++
		}
		t.Fatalf("echo of %d bytes, want %d; first difference at byte %d", len(got), len(want), i)
	}
	sum := e.out.waitSummary(t, c.id)
	wantSum := summary{Socket: c.id, Bytes: uint64(len(bigInput)), Lines: uint64(len(bigInput) / 64), CloseReason: "peer-close", RecvDisconnectCode: 0}
	if sum != wantSum {
		t.Fatalf("socket line %+v, want %+v", sum, wantSum)
	}
	if st := e.srv.Runtime().Stats(); st.Conns.SendDropped != 0 {
		t.Fatalf("SendDropped = %d, want 0", st.Conns.SendDropped)
	}
}

// TestHalfCloseBackPressure: a client writes bigInput (8 MiB of lines by
// default), half-closes, and reads nothing until the server has seen its
// FD_CLOSE and had an echo Send refused with WSAEWOULDBLOCK after it. No FD_WRITE follows FD_CLOSE,
// so only the driver's retry timer can move the echo on; the client must
// still get all of it, then a clean end-of-stream.
func TestHalfCloseBackPressure(t *testing.T) {
	socktest.EachMode(t, modes, func(t *testing.T, d actors.Dispatch) {
		e := newBackPressureEnv(t, d)
		c := e.bigClient(t)
		if err := c.conn.CloseWrite(); err != nil {
			t.Fatal(err)
		}
		st := e.srv.stats
		socktest.WaitFor(t, "an echo Send refused after FD_CLOSE", func() bool { return st.sendBlockedClosed.Load() > 0 })
		got, err := c.readToEOF()
		e.checkBig(t, c, got, err)
		if st.sendRetries.Load() == 0 {
			t.Error("no Send retried by the timer")
		}
	})
}

// TestBackPressureOpen: the same refusals while the socket is open are
// retried on FD_WRITE. The client writes bigInput without reading, waits
// until an echo Send was refused, then reads its whole echo while still
// open, and only then closes.
func TestBackPressureOpen(t *testing.T) {
	socktest.EachMode(t, modes, func(t *testing.T, d actors.Dispatch) {
		e := newBackPressureEnv(t, d)
		c := e.bigClient(t)
		st := e.srv.stats
		socktest.WaitFor(t, "an echo Send refused", func() bool { return st.sendBlocked.Load() > 0 })
		c.expect(strings.ToUpper(bigInput))
		if st.fdWriteResumes.Load() == 0 {
			t.Error("no refused Send resumed by FD_WRITE")
		}
		if n := st.sendBlockedClosed.Load(); n != 0 {
			t.Errorf("%d Sends refused after FD_CLOSE, before the client closed", n)
		}
		if err := c.conn.CloseWrite(); err != nil {
			t.Fatal(err)
		}
		got, err := c.readToEOF()
		if len(got) != 0 {
			t.Fatalf("%d bytes after the whole echo", len(got))
		}
		e.checkBig(t, c, []byte(strings.ToUpper(bigInput)), err)
	})
}
