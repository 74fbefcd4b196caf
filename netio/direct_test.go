package netio

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/sockactor/sockactor/internal/socktest"
)

// directWriter writes messages off the loop the way a pooled handler does:
// straight to the socket while none of its earlier messages is still on its
// way through the loop, else through the loop (AsyncWrite), so its own
// messages stay in order.
type directWriter struct {
	c        *Conn
	inLoop   atomic.Int64 // its messages handed to the loop and not yet written there
	partials int          // direct writes the socket took only in part
	direct   int          // messages written directly
}

func (w *directWriter) write(t *testing.T, p []byte) {
	if w.inLoop.Load() == 0 {
		if queued, ok := w.c.WriteDirect(p); ok {
			w.direct++
			if queued > 0 {
				w.partials++
			}
			return
		}
	}
	w.inLoop.Add(1)
	err := w.c.asyncWrite(p, func(int, error) { w.inLoop.Add(-1) })
	if err != nil {
		w.inLoop.Add(-1)
		if t != nil {
			t.Errorf("AsyncWrite: %v", err)
		}
	}
}

// smallBuffers shrinks the server socket's send buffer, so that direct
// writes fill it (the client reads nothing at first) and are taken in part.
// It stays above loopback's 64 KiB segment size: smaller buffers stall TCP
// in zero-window probes. Loop (OnOpen).
func smallBuffers(c *Conn) {
	_ = unix.SetsockoptInt(gcOf(c).Fd(), unix.SOL_SOCKET, unix.SO_SNDBUF, 128<<10)
}

// TestDirectWriteKeepsMessagesWholeAndInOrder: a direct writer and the
// loop's own writes share one stream while the peer reads nothing, so direct
// writes are taken in part and their rest waits for the loop; every message
// still arrives whole, each writer's in order, and the byte count adds up.
func TestDirectWriteKeepsMessagesWholeAndInOrder(t *testing.T) {
	const size, count = 3000, 400
	h := newTestHandler(t)
	h.onOpen = func(c *Conn) { smallBuffers(c); c.EnableDirectWrite() }
	_, lns := startEngine(t, h, "127.0.0.1:0")
	cl := dial(t, lns[0])
	c := h.waitOpen(t)

	w := &directWriter{c: c}
	var wg sync.WaitGroup
	wg.Add(2)
	firstRest := make(chan struct{})
	go func() { // the off-loop writer
		defer wg.Done()
		signalled := false
		for i := range count {
			w.write(t, socktest.Frame('D', uint32(i), size))
			if w.partials > 0 && !signalled {
				signalled = true
				close(firstRest)
			}
		}
		if !signalled {
			close(firstRest)
		}
	}()
	// The client reads nothing until the direct writer has filled the
	// socket (1.2 MB against a few hundred KiB of buffers): a direct write
	// is then taken in part for sure.
	<-firstRest
	go func() { // the loop's writes (a Send from another actor)
		defer wg.Done()
		for i := range count {
			p := socktest.Frame('L', uint32(i), size)
			onLoop(t, c, func() {
				if _, err := c.Write(p); err != nil {
					t.Errorf("loop Write: %v", err)
				}
			})
		}
	}()
	got := make([]byte, 2*count*size)
	if err := cl.SetReadDeadline(time.Now().Add(waitTimeout)); err != nil {
		t.Fatal(err)
	}
	if n, err := io.ReadFull(cl, got); err != nil {
		t.Fatalf("client read %d of %d bytes: %v", n, len(got), err)
	}
	wg.Wait()
	n := socktest.CheckFrames(t, got, size)
	if n['D'] != count || n['L'] != count {
		t.Fatalf("messages per writer %v, want %d each", n, count)
	}
	if w.direct == 0 || w.partials == 0 {
		t.Fatalf("direct writes %d, taken in part %d: the test did not exercise the direct path's rest", w.direct, w.partials)
	}
	if st := statsOf(t, c); st.BytesOut != uint64(len(got)) || st.QueuedOut != 0 {
		t.Fatalf("Stats BytesOut %d QueuedOut %d, want %d and 0", st.BytesOut, st.QueuedOut, len(got))
	}
	t.Logf("%d of %d direct messages direct, %d taken in part", w.direct, count, w.partials)
}

// TestDirectWriteThenCloseOrShutdown: what direct writes left for the loop
// goes out before the FIN of ShutdownSend and of a graceful Close, and is
// dropped (and counted) by an abortive one.
func TestDirectWriteThenCloseOrShutdown(t *testing.T) {
	const size, count = 4000, 200
	tests := []struct {
		name  string
		end   func(c *Conn)
		whole bool // every byte arrives, then EOF
	}{
		{"ShutdownSend", func(c *Conn) { _ = c.ShutdownSend() }, true},
		{"graceful Close", func(c *Conn) { c.Close(ReasonLocalClose) }, true},
		{"abortive Close", func(c *Conn) { c.Close(ReasonLocalAbort) }, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newTestHandler(t)
			h.onOpen = func(c *Conn) { smallBuffers(c); c.EnableDirectWrite() }
			e, lns := startEngine(t, h, "127.0.0.1:0")
			cl := dial(t, lns[0])
			c := h.waitOpen(t)
			w := &directWriter{c: c}
			for i := range count {
				w.write(t, socktest.Frame('D', uint32(i), size))
			}
			socktest.WaitFor(t, "the loop to take the writer's messages", func() bool { return w.inLoop.Load() == 0 })
			if w.partials == 0 {
				t.Fatal("no direct write was taken in part")
			}
			onLoop(t, c, func() { tc.end(c) })
			if _, ok := c.WriteDirect([]byte("late")); ok {
				t.Fatal("WriteDirect after the end of the send side succeeded")
			}
			got, err := readUntilErr(t, cl)
			if !tc.whole {
				if !errors.Is(err, unix.ECONNRESET) {
					t.Fatalf("client read %d bytes then %v, want ECONNRESET", len(got), err)
				}
				if e.Stats().SendDropped == 0 {
					t.Fatal("abortive close dropped nothing it counted")
				}
				return
			}
			if err != io.EOF {
				t.Fatalf("client read %d bytes then %v, want EOF", len(got), err)
			}
			if len(got) != size*count {
				t.Fatalf("client read %d bytes then EOF, want %d; engine %+v; writer direct %d partial %d", len(got), size*count, e.Stats(), w.direct, w.partials)
			}
			if n := socktest.CheckFrames(t, got, size); n['D'] != count {
				t.Fatalf("%d messages arrived, want %d", n['D'], count)
			}
		})
	}
}

// TestDirectWriteNeverOutlivesItsDescriptor: writers hammer their sockets
// with direct writes while their peers reset them and new connections are
// accepted (and given the freed descriptor numbers). A direct write that
// reached a descriptor after gnet closed it would land in another
// connection's stream: every client must read only its own writer's bytes,
// and quiet connections nothing at all.
func TestDirectWriteNeverOutlivesItsDescriptor(t *testing.T) {
	const rounds = 300
	var (
		mu     sync.Mutex
		wg     sync.WaitGroup
		writer = map[int]byte{} // remote port → the tag its writer writes
	)
	var hooked atomic.Int32 // onOpen calls returned (each writer counted in wg first)
	h := newTestHandler(t)
	h.onOpen = func(c *Conn) {
		defer hooked.Add(1)
		c.EnableDirectWrite()
		_, port, _ := net.SplitHostPort(c.RemoteAddr())
		var p int
		fmt.Sscan(port, &p)
		mu.Lock()
		tag, ok := writer[p]
		mu.Unlock()
		if !ok {
			return // a quiet connection
		}
		wg.Add(1)
		go func() { // off the loop: writes until the connection is gone
			defer wg.Done()
			chunk := make([]byte, 512)
			for i := range chunk {
				chunk[i] = tag
			}
			w := &directWriter{c: c}
			for !c.Closed() {
				if w.inLoop.Load() > 0 {
					time.Sleep(20 * time.Microsecond) // the loop path is behind: wait
					continue
				}
				w.write(nil, chunk)
			}
		}()
	}
	e, lns := startEngine(t, h, "127.0.0.1:0")
	stopDrain := make(chan struct{})
	drained := make(chan struct{})
	go func() { // OnOpen blocks once openCh is full
		defer close(drained)
		for {
			select {
			case <-h.openCh:
			case <-stopDrain:
				return
			}
		}
	}()
	defer func() { close(stopDrain); <-drained }()
	// The engine stops before the drain does and before the test returns:
	// no OnOpen runs after it (one still being accepted at the end would
	// otherwise block on openCh, or race with the test's end).
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
		defer cancel()
		_ = e.Stop(ctx)
		wg.Wait()
	}()
	var quiet []*net.TCPConn
	dials := 0
	for i := range rounds {
		tag := byte('A' + i%26)
		d := net.Dialer{Timeout: waitTimeout}
		// Pick the client's port first so OnOpen knows the tag.
		lc, err := net.ListenTCP("tcp", &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)})
		if err != nil {
			t.Fatal(err)
		}
		port := lc.Addr().(*net.TCPAddr).Port
		lc.Close()
		mu.Lock()
		writer[port] = tag
		mu.Unlock()
		d.LocalAddr = &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: port}
		wc, err := d.Dial("tcp", lns[0].Addr())
		if err != nil {
			continue // the port was taken in between: skip this round
		}
		dials++
		buf := make([]byte, 2048)
		_ = wc.SetReadDeadline(time.Now().Add(waitTimeout))
		n, err := io.ReadFull(wc, buf)
		if err != nil {
			t.Fatalf("round %d: writer's client read %d bytes: %v", i, n, err)
		}
		for j, b := range buf {
			if b != tag {
				t.Fatalf("round %d: writer's client read %q at %d, want only %q: a write reached another connection", i, b, j, tag)
			}
		}
		_ = wc.(*net.TCPConn).SetLinger(0)
		_ = wc.Close() // RST while its writer writes
		qc := dial(t, lns[0])
		dials++
		quiet = append(quiet, qc)
	}
	// Every accepted connection has been through the onOpen hook (which
	// may start a writer, counted in wg before the hook returns: so no
	// wg.Add can follow the Wait), and every writer saw its connection
	// close.
	socktest.WaitFor(t, "every connection's OnOpen", func() bool { return int(hooked.Load()) == dials })
	wg.Wait()
	for i, qc := range quiet {
		_ = qc.SetReadDeadline(time.Now().Add(time.Millisecond))
		var b [1]byte
		if n, err := qc.Read(b[:]); n > 0 {
			t.Fatalf("quiet connection %d received %q (err %v): a direct write outlived its descriptor", i, b[:n], err)
		}
		_ = qc.Close()
	}
}
