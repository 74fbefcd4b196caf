package netio

import (
	"net"
	"os"
	"sync"
	"time"

	"github.com/panjf2000/gnet/v2"
	"golang.org/x/sys/unix"

	"github.com/sockactor/sockactor/winsock"
)

// halfOpenFlushTimeout bounds how long closing a half-open connection (one
// whose peer sent FIN) waits for its queued bytes to reach the peer without
// any of them moving, before the descriptor is closed anyway; bytes still
// queued then are counted in EngineStats.SendDropped. A peer that reads,
// however slowly, gets every byte. The same bound applies to a FIN queued
// behind unsent bytes (SendDisconnect).
const halfOpenFlushTimeout = 5 * time.Second

// halfOpen is the send side of a connection whose peer has sent FIN
// (docs/SEMANTICS.md §5). gnet closes its descriptor at end of stream; in
// OnClose, while that descriptor is still open, the engine duplicates it,
// so the socket stays open and writable until the application closes it.
//
// Writes go straight to the descriptor (non-blocking) while the kernel takes
// them; what it does not take is queued for a writer goroutine that drives
// the rest through Go's netpoller, so the event loop never blocks. The
// writer is started only when a write would block: a half-open socket that
// answers with one short write, or none, costs a dup and a close.
//
// Ownership: every field is guarded by mu. The methods are called by the
// connection's owner (its event loop, or the goroutine that releases it
// after the engine stopped) and by Engine.Stop; run is the writer goroutine.
type halfOpen struct {
	eng  *Engine
	open bool // immutable: counted in Engine.open (a Conn's send side, not a background flush)

	mu       sync.Mutex
	wake     sync.Cond
	fd       int          // our duplicate of gnet's descriptor; -1 once closed
	nc       net.Conn     // the writer's own duplicate, once the writer runs
	q        [][]byte     // bytes waiting for the writer
	queued   int          // bytes in q plus those the writer is writing
	inflight int          // of queued, the bytes the writer took out of q and is writing now
	writing  bool         // the writer goroutine was started
	fin      bool         // SendDisconnect asked: FIN once the queue drains
	finDone  bool         // FIN sent
	closeReq bool         // Close asked: no more writes, close once flushed
	abort    bool         // the close is abortive (RST): drop what is queued
	err      winsock.Code // first write failure; later writes fail with it
	sent     uint64       // bytes handed to the kernel, by write or by the writer
}

// newHalfOpen duplicates fd (gnet's descriptor, about to be closed) and
// queues residual, the bytes gnet had not written yet. open says whether it
// stays counted in the engine's open connections until closed (a Conn's
// send side) or not (a background flush). Loop only (inside OnClose). It
// returns nil when the descriptor cannot be duplicated.
func newHalfOpen(e *Engine, fd int, residual []byte, open bool) *halfOpen {
	dup, err := unix.FcntlInt(uintptr(fd), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		e.sendDropped.Add(uint64(len(residual)))
		return nil
	}
	h := &halfOpen{eng: e, fd: dup, open: open}
	h.wake.L = &h.mu
	e.addHalf(h)
	if len(residual) > 0 {
		// Accepted long ago: nobody is left to tell of a failure (the peer
		// reset meanwhile), so what the socket did not take is counted.
		if n, err := h.write(residual); err != nil {
			e.sendDropped.Add(uint64(len(residual) - n))
		}
	}
	return h
}

// write queues p for the peer. It returns len(p) once the bytes are written
// or queued; on an error (the one that ended the send side), n bytes went
// to the socket and p[n:] was not taken: the caller, which reports the
// error, decides whether they count as dropped (they do if it had accepted
// them already). p is not retained.
func (h *halfOpen) write(p []byte) (int, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	switch {
	case h.fin:
		return 0, winsock.ErrShutdown
	case h.err != winsock.OK:
		return 0, h.err
	case h.closeReq:
		return 0, winsock.ErrNotConn
	case len(p) == 0:
		return 0, nil
	}
	n := 0
	if !h.writing {
		// Nothing queued: try the kernel first, without blocking.
		var err error
		n, err = unix.SendmsgN(h.fd, p, nil, nil, unix.MSG_NOSIGNAL|unix.MSG_DONTWAIT)
		if n < 0 {
			n = 0
		}
		h.sent += uint64(n)
		switch {
		case err == nil && n == len(p):
			return n, nil
		case err != nil && err != unix.EAGAIN:
			h.err = winsock.CodeOf(err, winsock.WSAECONNRESET)
			return 0, h.err
		}
		if err := h.startWriter(); err != nil {
			h.err = winsock.WSAENOBUFS
			return n, h.err
		}
	}
	cp := make([]byte, len(p)-n)
	copy(cp, p[n:])
	h.q = append(h.q, cp)
	h.queued += len(cp)
	h.wake.Signal()
	return len(p), nil
}

// startWriter makes the writer's net.Conn and starts it. Called with mu held.
func (h *halfOpen) startWriter() error {
	dup, err := unix.FcntlInt(uintptr(h.fd), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		return err
	}
	f := os.NewFile(uintptr(dup), "half-open")
	nc, err := net.FileConn(f) // duplicates again and registers with the netpoller
	f.Close()
	if err != nil {
		return err
	}
	h.nc, h.writing = nc, true
	h.eng.halfWG.Add(1)
	go h.run(nc) // the writer goroutine: ends when closed, failed or aborted
	return nil
}

// run is the writer goroutine: it writes the queue in order, sends FIN when
// asked, and closes its descriptor when the connection is closed.
func (h *halfOpen) run(nc net.Conn) {
	defer h.eng.halfWG.Done()
	defer nc.Close()
	h.mu.Lock()
	defer h.mu.Unlock()
	for {
		for len(h.q) == 0 && !(h.fin && !h.finDone) && !h.closeReq && h.err == winsock.OK {
			h.wake.Wait()
		}
		switch {
		case h.err != winsock.OK || h.abort:
			h.dropQueued()
			return
		case len(h.q) > 0:
			// A piece at a time: between pieces what is queued falls and
			// sent grows, so the application's next write is taken as
			// soon as the peer has made room, and whoever watches the
			// send side (a socket's linger) sees it move.
			var bufs net.Buffers
			bufs, h.q, h.inflight = takePiece(h.q, halfOpenPiece)
			h.mu.Unlock()
			n, err := bufs.WriteTo(nc) // blocks in the netpoller, not on a loop
			h.mu.Lock()
			h.sent += uint64(n)
			if err != nil && n > 0 && writeCode(err) == winsock.WSAETIMEDOUT && !h.abort {
				// The close's flush deadline passed with bytes moving: a
				// slow peer, not a gone one. Another period from now,
				// the rest first.
				h.q = append([][]byte(bufs), h.q...)
				h.queued -= int(n)
				h.inflight = 0
				_ = nc.SetWriteDeadline(time.Now().Add(halfOpenFlushTimeout))
				continue
			}
			// What the socket did not take of them is dropped: the write
			// failed (a reset, the flush deadline, an abort's close).
			if left := h.inflight - int(n); left > 0 {
				h.eng.sendDropped.Add(uint64(left))
			}
			h.queued -= h.inflight
			h.inflight = 0
			if err != nil && h.err == winsock.OK {
				h.err = writeCode(err)
			}
			if err == nil && h.closeReq && len(h.q) > 0 {
				// Closing, and the peer took this piece: the flush
				// deadline is another period from now (a slow peer gets
				// everything).
				_ = nc.SetWriteDeadline(time.Now().Add(halfOpenFlushTimeout))
			}
		case h.fin && !h.finDone:
			h.finDone = true
			if cw, ok := nc.(interface{ CloseWrite() error }); ok {
				if err := cw.CloseWrite(); err != nil && h.err == winsock.OK {
					// The FIN could not go: the peer has reset the
					// connection since. As a failed write: later writes
					// fail with it (none can be queued behind a FIN).
					h.err = winsock.WSAECONNRESET
				}
			}
		default: // closeReq with everything written
			return
		}
	}
}

// taken returns a count of this send side's bytes the peer has taken,
// which grows as the peer reads, even while the writer is blocked in one
// write: over TCP, the bytes the peer's kernel acknowledged (TCP_INFO),
// which moves with each window update the peer's reading opens; over a
// unix socket, the bytes handed to the kernel less those the peer has not
// read (SIOCOUTQ), which moves at least once per piece the writer hands
// over (halfOpenPiece). While nothing waits in the queue it is just sent,
// with no system call: the application's writes are then taken at once,
// so how far the peer has read cannot hold it back (and a connection
// whose peer closed with nothing left to send, the common case, costs
// nothing more). Only its changes mean anything. Safe from any goroutine.
func (h *halfOpen) taken() uint64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.fd < 0 || h.queued == 0 {
		return h.sent
	}
	// Under mu: close cannot close the descriptor meanwhile.
	if ti, err := unix.GetsockoptTCPInfo(h.fd, unix.IPPROTO_TCP, unix.TCP_INFO); err == nil {
		return ti.Bytes_acked
	}
	if q, err := unix.IoctlGetInt(h.fd, unix.SIOCOUTQ); err == nil && q > 0 && uint64(q) <= h.sent {
		return h.sent - uint64(q)
	}
	return h.sent
}

// halfOpenPiece bounds the bytes of one write of the half-open writer.
const halfOpenPiece = 64 << 10

// takePiece takes up to max bytes off the front of q (whole buffers, the
// last one split if need be) and returns them, what is left of q, and how
// many bytes it took.
func takePiece(q [][]byte, max int) (piece, rest [][]byte, n int) {
	for len(q) > 0 && n < max {
		b := q[0]
		if k := max - n; len(b) > k {
			piece = append(piece, b[:k])
			q[0] = b[k:]
			return piece, q, max
		}
		piece = append(piece, b)
		q[0] = nil
		q = q[1:]
		n += len(b)
	}
	if len(q) == 0 {
		q = nil
	}
	return piece, q, n
}

// writeCode maps a writer error: the flush deadline becomes WSAETIMEDOUT,
// anything else a reset.
func writeCode(err error) winsock.Code {
	if ne, ok := err.(net.Error); ok && ne.Timeout() {
		return winsock.WSAETIMEDOUT
	}
	return winsock.CodeOf(err, winsock.WSAECONNRESET)
}

// dropQueued counts what waits in q, which will never be written; bytes
// the writer is writing now are its to count once its write returns.
// Called with mu held.
func (h *halfOpen) dropQueued() {
	if n := h.queued - h.inflight; n > 0 {
		h.eng.sendDropped.Add(uint64(n))
	}
	h.q, h.queued = nil, h.inflight
}

// buffered returns the bytes accepted and not yet handed to the kernel.
func (h *halfOpen) buffered() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.queued
}

// shutdownSend sends FIN once the queue has drained. Idempotent.
func (h *halfOpen) shutdownSend() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	switch {
	case h.closeReq:
		return winsock.ErrNotConn
	case h.fin:
		return nil
	}
	h.fin = true
	if !h.writing {
		h.finDone = true
		if err := unix.Shutdown(h.fd, unix.SHUT_WR); err != nil {
			// ENOTCONN here means the peer has reset the connection since.
			h.err = winsock.WSAECONNRESET
			return h.err
		}
		return nil
	}
	h.wake.Signal()
	return nil
}

// finSent reports whether FIN has gone out.
func (h *halfOpen) finSent() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.finDone
}

// close ends the connection: gracefully (queued bytes flushed within
// halfOpenFlushTimeout, then FIN) or abortively (RST, queue dropped).
// Idempotent; safe from any goroutine.
func (h *halfOpen) close(abort bool) {
	h.mu.Lock()
	if h.closeReq {
		h.mu.Unlock()
		return
	}
	h.closeReq, h.abort = true, abort
	fd, nc, writing := h.fd, h.nc, h.writing
	h.fd = -1
	if abort {
		h.dropQueued()
	}
	h.wake.Signal()
	h.mu.Unlock()

	if abort {
		_ = unix.SetsockoptLinger(fd, unix.SOL_SOCKET, unix.SO_LINGER, &unix.Linger{Onoff: 1, Linger: 0})
	}
	if writing {
		if abort {
			_ = nc.Close() // unblocks the writer
		} else {
			_ = nc.SetWriteDeadline(time.Now().Add(halfOpenFlushTimeout))
		}
	}
	// The socket itself closes (FIN or RST) when the last duplicate does:
	// this one now, the writer's once it has flushed.
	_ = unix.Close(fd)
	h.eng.removeHalf(h)
	if h.open {
		h.eng.open.Add(-1)
	}
}

// keepSendSide makes the stream half-open after the peer's FIN: the
// descriptor is duplicated before gnet closes it, and the bytes gnet has
// not written yet move to the half-open queue, so nothing a Send accepted
// is lost. If FIN was already sent, nothing is left to keep. Loop
// goroutine (OnClose).
func (s *stream) keepSendSide(c *Conn, pend []byte) {
	if c.send == finSent {
		return // both sides have sent FIN: nothing is left to keep
	}
	e, gc := c.eng, s.gc
	residual, ok := takeOutbound(gc)
	if !ok {
		residual = nil
		e.sendDropped.Add(uint64(gc.OutboundBuffered()))
	}
	residual = append(residual, pend...)
	h := newHalfOpen(e, gc.Fd(), residual, true)
	if h == nil {
		return
	}
	if c.send == finPending { // the FIN waited for bytes that now move to h
		// A FIN that cannot go (the peer reset meanwhile) leaves its
		// error in h: the next Write or SendDisconnect reports it, and
		// nothing can be queued behind a FIN to be lost unseen.
		_ = h.shutdownSend()
	}
	s.halfp.Store(h)
}

// flushInBackground keeps a gracefully closed connection's unsent bytes:
// gnet writes what fits after OnClose and drops the rest, so the rest moves
// to a half-open queue that is closed at once, which flushes it (within
// halfOpenFlushTimeout) and then closes, as closesocket's graceful linger
// does. Loop goroutine (OnClose).
func (e *Engine) flushInBackground(gc gnet.Conn, pend []byte) {
	if gc.OutboundBuffered() == 0 && len(pend) == 0 {
		return
	}
	residual, ok := takeOutbound(gc)
	if !ok {
		e.sendDropped.Add(uint64(gc.OutboundBuffered() + len(pend)))
		return
	}
	residual = append(residual, pend...)
	if h := newHalfOpen(e, gc.Fd(), residual, false); h != nil {
		h.close(false)
	}
}

func (e *Engine) addHalf(h *halfOpen) {
	e.halfMu.Lock()
	if e.halfs == nil {
		e.halfs = map[*halfOpen]struct{}{}
	}
	e.halfs[h] = struct{}{}
	e.halfMu.Unlock()
}

func (e *Engine) removeHalf(h *halfOpen) {
	e.halfMu.Lock()
	delete(e.halfs, h)
	e.halfMu.Unlock()
}

// closeHalfs closes every half-open connection gracefully and waits for
// their writers (each bounded by halfOpenFlushTimeout). Goroutine: Stop's.
func (e *Engine) closeHalfs() {
	e.halfMu.Lock()
	hs := make([]*halfOpen, 0, len(e.halfs))
	for h := range e.halfs {
		hs = append(hs, h)
	}
	e.halfMu.Unlock()
	for _, h := range hs {
		h.close(e.abortive.Load())
	}
	e.halfWG.Wait()
}
