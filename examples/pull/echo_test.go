package main

import (
	"fmt"
	"strings"
	"testing"

	"github.com/sockactor/sockactor/internal/socktest"

	"github.com/sockactor/sockactor/actors"
)

// ---- scripts ----

// script is what one client writes, write by write, and then a last piece
// without "\n", written just before it closes.
type script struct {
	name   string
	writes []string
	tail   string
}

// totals returns the echo the client must read back (its complete lines,
// ASCII upper-cased), the bytes it sends and its line count.
func (sc script) totals() (echo string, n, lines uint64) {
	all := strings.Join(sc.writes, "")
	complete := all[:strings.LastIndexByte(all, '\n')+1]
	return string(appendUpper(nil, []byte(complete))), uint64(len(all) + len(sc.tail)), uint64(strings.Count(all, "\n"))
}

// bigChunk is one write of many lines, much larger than testMax.
var bigChunk = func() string {
	var b strings.Builder
	for i := range 40 {
		fmt.Fprintf(&b, "line %02d of the big chunk: %s\n", i, strings.Repeat("xy", 40+i))
	}
	return b.String()
}()

var scripts = []script{
	{
		name: "lines",
		writes: []string{
			"hello, pull world\n",
			"split li", "ne in three wr", "ites\r\n",
			"two\nlines in one write\n",
			bigChunk,
			"Grüße, ça va? 123\n",
			"\n", // an empty line
		},
		tail: "no newline at the end",
	},
	{
		name:   "big-only",
		writes: []string{bigChunk + bigChunk},
	},
	{
		name: "over-maxline",
		writes: []string{
			"short\n",
			strings.Repeat("abcdefgh", 5<<10), strings.Repeat("ijklmnop", 5<<10), // 80 KiB, one line
			"...end of the long line\n",
		},
		tail: "x",
	},
}

// exchange plays sc: every write, the whole echo read back, the tail,
// close; then checks the socket's line.
func (e *env) exchange(t *testing.T, sc script) {
	c := e.dial(t)
	echo, n, lines := sc.totals()
	for _, w := range sc.writes {
		c.write(w)
	}
	c.expect(echo)
	if sc.tail != "" {
		c.write(sc.tail)
	}
	if err := c.conn.Close(); err != nil {
		t.Fatal(err)
	}
	got := e.out.waitSummary(t, c.id)
	want := summary{Socket: c.id, Bytes: n, Lines: lines, CloseReason: "peer-close", RecvDisconnectCode: 0}
	if got != want {
		t.Fatalf("socket line %+v, want %+v", got, want)
	}
}

// ---- tests ----

// TestPull runs the scripts, one client each and all at once, against a
// server in each dispatch mode.
func TestPull(t *testing.T) {
	socktest.EachMode(t, modes, func(t *testing.T, d actors.Dispatch) {
		e := newEnv(t, d)
		t.Run("clients", func(t *testing.T) {
			for _, sc := range scripts {
				t.Run(sc.name, func(t *testing.T) {
					t.Parallel()
					e.exchange(t, sc)
				})
			}
		})
		if t.Failed() {
			return
		}
		// The pull loop took the bytes in Recv-sized pieces.
		var total int64
		for _, sc := range scripts {
			_, n, _ := sc.totals()
			total += int64(n)
		}
		st := e.srv.stats
		if got := st.maxChunk.Load(); got != testMax {
			t.Errorf("largest Recv reply %d bytes, want -max = %d", got, testMax)
		}
		if got, min := st.recvData.Load(), (total+testMax-1)/testMax; got < min {
			t.Errorf("%d Recv replies with data for %d bytes, want at least %d", got, total, min)
		}
		// Nothing is pulled before an FD_READ (or the FD_CLOSE, which
		// these clients send only after their echo came back).
		if st.fdRead.Load() == 0 {
			t.Error("no FD_READ")
		}
	})
}

// TestHalfClose: a client that writes its request and then half-closes
// (shutdown(SHUT_WR), as nc -N does) gets its whole echo, then a clean
// end-of-stream. Its FIN reaches the server while most of the request is
// still unread, so the driver pulls and echoes it after FD_CLOSE
// peer-close, on the socket's half-open send side. A last line without
// "\n" is counted but not echoed, as always.
func TestHalfClose(t *testing.T) {
	socktest.EachMode(t, modes, func(t *testing.T, d actors.Dispatch) {
		e := newEnv(t, d)
		t.Run("clients", func(t *testing.T) {
			for _, sc := range scripts {
				t.Run(sc.name, func(t *testing.T) {
					t.Parallel()
					e.halfClose(t, sc)
				})
			}
		})
		// Pulling 64 bytes per Recv, the driver is far from done when
		// a client's FIN arrives: echoes went out after FD_CLOSE.
		if !t.Failed() && e.srv.stats.closedSends.Load() == 0 {
			t.Error("no echo Send after FD_CLOSE")
		}
	})
}

// halfClose plays sc as a half-closing client: every write and the tail,
// CloseWrite, then the whole echo and a clean end-of-stream; then checks
// the socket's line.
func (e *env) halfClose(t *testing.T, sc script) {
	c := e.dial(t)
	echo, n, lines := sc.totals()
	for _, w := range sc.writes {
		c.write(w)
	}
	if sc.tail != "" {
		c.write(sc.tail)
	}
	if err := c.conn.CloseWrite(); err != nil {
		t.Fatal(err)
	}
	got, err := c.readToEOF()
	if err != nil {
		t.Fatalf("read %d of %d echoed bytes, then %v; want a clean end-of-stream", len(got), len(echo), err)
	}
	if string(got) != echo {
		t.Fatalf("echo (%d bytes) %.80q..., want (%d bytes) %.80q...", len(got), got, len(echo), echo)
	}
	sum := e.out.waitSummary(t, c.id)
	want := summary{Socket: c.id, Bytes: n, Lines: lines, CloseReason: "peer-close", RecvDisconnectCode: 0}
	if sum != want {
		t.Fatalf("socket line %+v, want %+v", sum, want)
	}
}
