package netio

import (
	"bytes"
	"net"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/sockactor/sockactor/internal/socktest"
	"github.com/sockactor/sockactor/winsock"
)

// Every byte a Send or Write accepted and that never reaches the peer is
// counted in EngineStats.SendDropped (docs/SEMANTICS.md §5). These tests
// cover the paths where nobody is left to be told of the failure: the
// bytes were accepted long before the write that failed.

// waitReset waits until the socket on fd has received its peer's RST. poll
// does not consume the pending error, so the next write still meets it.
func waitReset(t *testing.T, fd int) {
	t.Helper()
	socktest.WaitFor(t, "the peer's reset to arrive", func() bool {
		pfd := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
		n, err := unix.Poll(pfd, 0)
		return err == nil && n == 1 && pfd[0].Revents&unix.POLLERR != 0
	})
}

// resetClient resets the client's connection: SO_LINGER 0, then close.
func resetClient(t *testing.T, cl *net.TCPConn) {
	t.Helper()
	if err := cl.SetLinger(0); err != nil {
		t.Fatal(err)
	}
	_ = cl.Close()
}

// TestHalfOpenResidualToAResetPeerIsCounted: the bytes gnet had not
// written when the peer's FIN arrived move to the half-open side; if the
// peer has reset the connection by then, their first write fails and all
// of them are dropped: counted, though no caller is there to be told.
func TestHalfOpenResidualToAResetPeerIsCounted(t *testing.T) {
	fd, cl := loopbackPair(t)
	resetClient(t, cl)
	waitReset(t, fd)
	e := NewEngine(newTestHandler(t), Options{})
	residual := bytes.Repeat([]byte("r"), 64<<10)
	h := newHalfOpen(e, fd, residual, false)
	if h == nil {
		t.Fatal("newHalfOpen could not duplicate the descriptor")
	}
	defer e.halfWG.Wait()
	defer h.close(false)
	if got := e.Stats().SendDropped; got != uint64(len(residual)) {
		t.Fatalf("SendDropped = %d, want the %d residual bytes", got, len(residual))
	}
	if _, err := h.write([]byte("x")); err != winsock.ErrConnReset {
		t.Fatalf("a later write: %v, want WSAECONNRESET", err)
	}
	if got := e.Stats().SendDropped; got != uint64(len(residual)) {
		t.Fatalf("SendDropped = %d after a refused write, want %d: a refused write is its caller's", got, len(residual))
	}
}

// TestDirectRestToAResetPeerIsCounted: a direct write the socket takes in
// part keeps the rest for the loop; if the peer has reset the connection
// when the loop hands that rest to gnet, gnet's write fails and closes the
// connection, and the rest (in neither gnet's buffer nor pend by then) is
// counted. The loop is held in a task while the rest is kept and the reset
// arrives, so the loop's hand-over, queued behind that task, meets the
// reset before the loop polls the socket again.
func TestDirectRestToAResetPeerIsCounted(t *testing.T) {
	h := newTestHandler(t)
	h.onOpen = func(c *Conn) { smallBuffers(c); c.EnableDirectWrite() }
	e, lns := startEngine(t, h, "127.0.0.1:0")
	cl := dial(t, lns[0])
	c := h.waitOpen(t)

	held, release := make(chan struct{}), make(chan struct{})
	if err := c.execute(func() { close(held); <-release }); err != nil { // event loop goroutine
		t.Fatal(err)
	}
	<-held
	released := false
	defer func() {
		if !released {
			close(release)
		}
	}()
	queued, ok := c.WriteDirect(bytes.Repeat([]byte("d"), 8<<20)) // far over the socket buffers
	if !ok || queued == 0 {
		t.Fatalf("WriteDirect = %d kept, %v; want part of it kept for the loop", queued, ok)
	}
	resetClient(t, cl)
	waitReset(t, c.t.(*stream).dw.fd)
	released = true
	close(release)

	h.waitClose(t, c, ReasonPeerReset)
	if got := e.Stats().SendDropped; got != uint64(queued) {
		t.Fatalf("SendDropped = %d, want the %d bytes the direct write kept", got, queued)
	}
}
