package netio

import (
	"sync"
	"sync/atomic"

	"golang.org/x/sys/unix"
)

// The direct write path: a writer that is not the connection's loop (a
// pooled handler) writes to the socket itself, with one system call, instead
// of handing its bytes to the loop through a task and an eventfd wake-up.
//
// It is safe because of what the loop does under direct.mu:
//   - every byte the loop gives gnet for this connection (Write, the FIN,
//     OnClose) is given with mu held, and first whatever a direct write left
//     behind (pend), so bytes are never interleaved or reordered;
//   - ok is true only while gnet's outbound buffer is empty, the send side is
//     open and the connection is not closing: gnet then writes nothing of its
//     own to the descriptor (it only flushes a non-empty buffer);
//   - OnClose clears ok before gnet closes the descriptor, so a direct write
//     never reaches a descriptor number the kernel has given to a new socket;
//   - on a TLS socket, every use of the session (the loop's Drain, Write and
//     close_notify, and a direct writer's encryption) holds mu, so the
//     records of the writer and of the loop never interleave (tls.go).
//
// A direct write that the socket takes only in part (its send buffer is
// full) keeps the rest in pend, clears ok and asks the loop to move pend into
// gnet's buffer; until the loop finds that buffer empty again, writers use
// the loop path.

// direct is a stream connection's off-loop write state (stream.dw).
type direct struct {
	mu   sync.Mutex
	fd   int    // immutable: gnet's descriptor
	ok   bool   // mu: a direct write may go straight to fd now
	pend []byte // mu: bytes accepted by WriteDirect and not yet handed to gnet
	held int    // loop: how deep the loop holds mu (a TLS write's records reach writeRaw inside it; OnClose inside a loop write)
	// viaFD is set while a pooled writer's TLS write runs (tlsWriteDirect):
	// the session's records then go to fd from the writer's goroutine.
	// mu: every use of the TLS session holds mu while the direct path
	// exists, so the loop never sees it set.
	viaFD bool

	pendN  atomic.Int64  // len(pend), for DirectQueued off the loop
	out    atomic.Uint64 // bytes written by direct writes
	active atomic.Bool   // a direct write moved bytes since the idle timer last looked
}

// EnableDirectWrite lets WriteDirect write to c's socket from any goroutine.
// It is for a connection whose writer is not its loop (a pooled handler);
// it has no effect on a datagram socket or a connection that has closed.
// Loop only (normally from Handler.OnOpen).
func (c *Conn) EnableDirectWrite() {
	s, ok := c.stream()
	if !ok || s.dw != nil || c.closed.Load() {
		return
	}
	d := &direct{fd: s.gc.Fd()}
	// A TLS session may be in use on the loop right now (a Handler that
	// enables the path from inside a delivery): that use took no lock, the
	// path did not exist. So a TLS path opens closed, and the loop's next
	// lockDirect/unlockDirect pair, after any use now running, opens it.
	d.ok = s.tls == nil && c.send == sendOpen && c.reason == ReasonNone && s.gc.OutboundBuffered() == 0
	s.dw = d
}

// WriteDirect writes p to the socket from the calling goroutine. It reports
// false, having written nothing, when the direct path is not open now
// (EnableDirectWrite was not called, gnet still holds unsent bytes, the
// send side is shut or closing, or the socket failed): the caller then uses
// the loop (Write through execute), which reports the real error. True
// means all of p was accepted: written, or what the socket could not take
// yet kept for the loop to send first; queued is the number of bytes kept.
// p is not retained. Safe from any goroutine; writes from several
// goroutines are serialized, each one whole.
func (c *Conn) WriteDirect(p []byte) (queued int, ok bool) {
	s, isStream := c.stream()
	if !isStream || s.dw == nil {
		return 0, false
	}
	d := s.dw
	d.mu.Lock()
	defer d.mu.Unlock()
	if !d.ok {
		return 0, false
	}
	if s.tls != nil {
		return s.tlsWriteDirect(p) // encrypted here, its records straight to fd (tls.go)
	}
	n, failed := d.writeFD(p)
	if failed {
		d.ok = false // the loop's write meets the error and closes
		return 0, false
	}
	d.wrote(n)
	if n == len(p) {
		return 0, true
	}
	return s.keepForLoop(c, p[n:]), true
}

// writeFD writes p to the descriptor until it is all written or the socket
// takes no more now. It returns the bytes written, and whether the socket
// failed before taking any. Called with mu held, by a direct writer.
func (d *direct) writeFD(p []byte) (n int, failed bool) {
	for n < len(p) {
		m, err := unix.Write(d.fd, p[n:])
		if err == unix.EINTR {
			continue
		}
		if err == unix.EAGAIN {
			break
		}
		if err != nil || m <= 0 {
			// What is left goes to the loop, which meets the error.
			return n, n == 0
		}
		n += m
	}
	return n, false
}

// wrote counts n bytes a direct write moved (for a TLS socket, plaintext).
// Any goroutine.
func (d *direct) wrote(n int) {
	if n > 0 {
		d.out.Add(uint64(n))
		d.active.Store(true)
	}
}

// keepForLoop keeps p, which the socket did not take, for the loop to send
// ahead of anything else, and closes the direct path until the loop has
// handed it to gnet. It returns the bytes kept. Called with mu held, by a
// direct writer.
func (s *stream) keepForLoop(c *Conn, p []byte) int {
	d := s.dw
	d.pend = append(d.pend, p...)
	d.pendN.Store(int64(len(d.pend)))
	d.ok = false
	// If the loops are stopping this task never runs: OnClose (run by the
	// engine's stop) then takes pend with gnet's buffer.
	_ = c.execute(func() { // event loop goroutine
		s.lockDirect()
		s.handPend(c)
		s.unlockDirect(c)
	})
	return len(d.pend)
}

// DirectQueued returns the bytes a direct write kept for the loop and the
// loop has not yet handed to gnet. Safe from any goroutine.
func (c *Conn) DirectQueued() int {
	if s, ok := c.stream(); ok {
		return s.directQueued()
	}
	return 0
}

// directQueued is DirectQueued on a stream. Any goroutine.
func (s *stream) directQueued() int {
	if s.dw == nil {
		return 0
	}
	return int(s.dw.pendN.Load())
}

// lockDirect takes the direct path's lock for the loop; nested calls only
// count, and the outermost unlockDirect releases it. Loop only.
func (s *stream) lockDirect() {
	d := s.dw
	if d == nil {
		return
	}
	if d.held == 0 {
		d.mu.Lock()
	}
	d.held++
}

// unlockDirect releases it, first opening the direct path again if gnet's
// buffer is empty and the send side open. Loop only.
func (s *stream) unlockDirect(c *Conn) {
	d := s.dw
	if d == nil || d.held == 0 {
		return
	}
	if d.held--; d.held > 0 {
		return
	}
	d.ok = !c.closed.Load() && c.send == sendOpen && c.reason == ReasonNone &&
		len(d.pend) == 0 && s.gc.OutboundBuffered() == 0
	d.mu.Unlock()
}

// handPend gives gnet the bytes a direct write kept, ahead of anything the
// loop writes. Loop only, with the lock held.
func (s *stream) handPend(c *Conn) {
	d := s.dw
	if d == nil || len(d.pend) == 0 || c.closed.Load() {
		return
	}
	p := d.pend
	d.pend = nil
	d.pendN.Store(0)
	n, err := s.gc.Write(p)
	if s.tls == nil { // a TLS writer counted its plaintext already
		c.bytesOut += uint64(max(n, 0))
	}
	if err != nil {
		// gnet took none of p and closed the connection: OnClose (run
		// inside Write) counted gnet's buffer, but p had left pend and
		// was in neither. WriteDirect accepted it long ago: dropped.
		c.eng.sendDropped.Add(uint64(len(p) - max(n, 0)))
	}
}

// closeDirect shuts the direct path for good and returns what a direct write
// kept, to go out after gnet's buffer (or be dropped with it). Loop only
// (OnClose, before gnet closes the descriptor).
func (s *stream) closeDirect() []byte {
	d := s.dw
	if d == nil {
		return nil
	}
	if d.held == 0 {
		d.mu.Lock()
		defer d.mu.Unlock()
	}
	d.ok = false
	p := d.pend
	d.pend = nil
	d.pendN.Store(0)
	return p
}

// SendProgress returns a count that grows whenever c's send side moves:
// the application's writes (accepted by Write, on the loop or directly)
// and, once the peer has half-closed, the bytes of the half-open send side
// that have left the kernel's send queue for the peer (halfOpen.taken).
// Loop only.
func (c *Conn) SendProgress() uint64 {
	n := c.sentBytes()
	if h := c.halfOpen(); h != nil {
		n += h.taken()
	}
	return n
}

// sentBytes is what c wrote: on the loop and, for a pooled writer, directly.
// Loop only (bytesOut is the loop's).
func (c *Conn) sentBytes() uint64 {
	if s, ok := c.stream(); ok && s.dw != nil {
		return c.bytesOut + s.dw.out.Load()
	}
	return c.bytesOut
}

// wroteDirect reports and clears whether a direct write moved bytes since
// the last look (for the idle timer). Loop only.
func (s *stream) wroteDirect() bool { return s.dw != nil && s.dw.active.Swap(false) }
