package netio

import (
	"golang.org/x/sys/unix"
)

// Pausing reads (docs/SEMANTICS.md §5, inbound back-pressure): a stream
// connection whose application is behind stops being read, so the kernel's
// receive buffer fills and TCP's flow control (or a unix socket's full
// buffer) holds the peer, instead of the runtime buffering without bound.
//
// gnet reads a connection on every readable event, so a pause takes
// EPOLLIN out of the connection's registration in its loop's epoll
// instance (pollerFD, gnetinternal.go). The kernel still reports an error
// or a hang-up (EPOLLERR, EPOLLHUP: always reported), so a peer's reset is
// noticed at once while paused; a FIN is not, and is found by the first
// read after the resume, behind the data before it. gnet sets EPOLLIN again
// whenever it changes the registration for its own writes; a read that
// comes through then is not delivered: its bytes stay in gnet's inbound
// buffer (at most one read's worth each time), the pause is applied again,
// and they are delivered first on resume.
//
// A pause has sources (a bit each); reading resumes when none is left.

// PauseSource is one reason for a connection's reads to be paused.
type PauseSource uint8

const (
	// PauseApp: the application asked (SuspendReading).
	PauseApp PauseSource = 1 << iota
	// PauseInbound: the bytes waiting for the application reached the
	// socket's limit (MaxInbound).
	PauseInbound
	// PauseBudget: the runtime-wide budget of waiting bytes is spent.
	PauseBudget
)

// PauseReading stops reading c for src (added to any other source already
// pausing it). It reports false, changing nothing, where reads cannot be
// paused: a datagram socket (no flow control), a closed connection, or a
// gnet whose internals are not the expected ones. Loop only. Idempotent.
func (c *Conn) PauseReading(src PauseSource) bool {
	s, ok := c.stream()
	if !ok || c.closed.Load() {
		return false
	}
	was := s.paused
	s.paused |= uint8(src)
	if was == 0 {
		if !s.applyPause() {
			s.paused = 0
			return false
		}
	}
	return true
}

// ResumeReading removes src from the sources pausing c; with none left, c
// is read again, and bytes a read brought in while paused are delivered
// now (Handler.OnData). Loop only. Idempotent.
func (c *Conn) ResumeReading(src PauseSource) {
	s, ok := c.stream()
	if !ok || s.paused == 0 || s.paused&uint8(src) == 0 {
		return
	}
	s.paused &^= uint8(src)
	if s.paused != 0 || c.closed.Load() {
		return
	}
	ev := uint32(unix.EPOLLIN | unix.EPOLLPRI)
	if s.gc.OutboundBuffered() > 0 {
		ev |= unix.EPOLLOUT // gnet still has bytes to write
	}
	s.modPoll(ev)
	if s.gc.InboundBuffered() > 0 || s.tls != nil { // a TLS session may hold records too
		s.deliverHeld(c)
	}
}

// ReadPaused returns the sources pausing c's reads (0: reading). Loop only.
func (c *Conn) ReadPaused() PauseSource {
	if s, ok := c.stream(); ok {
		return PauseSource(s.paused)
	}
	return 0
}

// applyPause takes EPOLLIN out of the stream's registration, keeping
// EPOLLOUT while gnet has bytes to write. Loop only.
func (s *stream) applyPause() bool {
	var ev uint32
	if s.gc.OutboundBuffered() > 0 {
		ev = unix.EPOLLOUT
	}
	return s.modPoll(ev)
}

// modPoll sets the stream's events in its loop's epoll instance as gnet
// would (its descriptor as the event data). Loop only.
func (s *stream) modPoll(events uint32) bool {
	epfd := pollerFD(s.gc)
	if epfd < 0 {
		return false
	}
	fd := s.gc.Fd()
	ev := unix.EpollEvent{Events: events, Fd: int32(fd)}
	return unix.EpollCtl(epfd, unix.EPOLL_CTL_MOD, fd, &ev) == nil
}

// deliverHeld hands the bytes gnet holds for c to the handler, as a read
// would, from a task on the loop. A close asked meanwhile happens after.
// Loop only.
func (s *stream) deliverHeld(c *Conn) {
	if c.recvShut || c.inTraffic {
		return // the ban took them (ShutdownRecv); or a read is delivering now
	}
	buf, _ := s.gc.Next(-1)
	if len(buf) == 0 && s.tls == nil {
		return
	}
	c.active = true
	s.deliverRead(c, buf)
	if c.closeReq {
		c.closeReq = false
		_ = s.gc.EventLoop().Close(s.gc)
	}
}

// discardUnread reads and drops what the kernel holds unread on fd (at
// most 16 MiB: a peer still sending after that meets the close), so that a
// graceful close of a paused connection sends FIN, not RST. It returns the
// bytes dropped. Loop only, in OnClose.
func discardUnread(fd int) int {
	var buf [16 << 10]byte
	total := 0
	for total < 16<<20 {
		n, err := unix.Read(fd, buf[:])
		if n <= 0 || err != nil {
			break
		}
		total += n
	}
	return total
}

// heldAtClose hands the bytes c's peer sent before its FIN to the handler
// when the close is found while reads are paused (a hang-up: both sides
// have sent FIN): what gnet holds, then what the kernel still has. The
// handler gets them before OnClose, as after any FIN. Loop only, in
// OnClose.
func (s *stream) heldAtClose(c *Conn) {
	s.paused = 0
	s.deliverHeld(c)
	buf := make([]byte, 64<<10)
	for !c.recvShut {
		n, err := unix.Read(s.gc.Fd(), buf)
		if n <= 0 || err != nil {
			return
		}
		s.deliverRead(c, buf[:n])
	}
}

// deliverRead hands bytes read from a stream to the Handler, through the
// TLS session if it has one. Loop only, off the OnTraffic path (which
// inlines it).
func (s *stream) deliverRead(c *Conn, buf []byte) {
	if s.tls != nil {
		s.tlsRead(c, buf)
		return
	}
	c.bytesIn += uint64(len(buf))
	c.inTraffic = true
	c.eng.h.OnData(c, buf)
	c.inTraffic = false
}
