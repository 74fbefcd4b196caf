package actors

import (
	"strings"
	"time"

	"github.com/sockactor/sockactor/netio"
	"github.com/sockactor/sockactor/winsock"
)

// Explicit read pauses (docs/SEMANTICS.md §2 SuspendReading/ResumeReading,
// §5 inbound back-pressure). The transport part is netio's (pause.go): a
// pause has sources, a bit each, and the connection is read again only when
// none is left. The application owns one source, netio.PauseApp: these
// messages set and clear it and nothing else, so they never undo a pause the
// runtime's inbound limits hold (and the limits never undo the
// application's). The time reading became paused, whatever the source, is
// kept here in sockExt.pausedSince (notePaused) for Info.

// suspendReading answers SuspendReading: reads stop for the application's
// source. Goroutine: the loop.
func (s *socket) suspendReading() *SuspendReadingResult {
	code, detail := s.pauseRefusal()
	switch {
	case code != winsock.OK:
	case s.conn.RecvShut():
		// Nothing read from here on reaches the application anyway, and
		// the ban's policy must see what the peer still sends (§3.3).
		code, detail = winsock.WSAESHUTDOWN, "reception is shut down (RecvDisconnect)"
	case !s.conn.PauseReading(netio.PauseApp):
		code, detail = winsock.WSAENOPROTOOPT, "this connection's reads cannot be paused"
	}
	s.notePaused()
	return &SuspendReadingResult{Code: uint32(code), Detail: detail}
}

// resumeReading answers ResumeReading: the application's source is
// removed; the connection is read again if no other source holds it, and
// the bytes a read brought in while paused are handed to the handler
// before the reply leaves. Goroutine: the loop.
func (s *socket) resumeReading() *ResumeReadingResult {
	code, detail := s.pauseRefusal()
	if code == winsock.OK {
		s.conn.ResumeReading(netio.PauseApp)
	}
	s.notePaused()
	return &ResumeReadingResult{Code: uint32(code), Detail: detail}
}

// inlineResume is an Inline handler's ResumeReading (Context.ResumeReading):
// resuming inside the handler's Receive would hand it the bytes read while
// paused there and then (netio.Conn.ResumeReading delivers them at once),
// a Receive inside a Receive, so the resume is posted to the mailbox and
// runs once the handler has returned. Internal: never leaves the process.
type inlineResume struct{}

// inlineResumed runs an Inline handler's ResumeReading, unless a
// SuspendReading of the same handler came after it (sockExt.resumeOwed).
// Goroutine: the loop.
func (s *socket) inlineResumed() {
	if s.x == nil || !s.x.resumeOwed {
		return
	}
	s.x.resumeOwed = false
	_ = s.resumeReading() // the handler already had the outcome
}

// pauseRefusal is the code shared by SuspendReading and ResumeReading for a
// connected socket that has no reads to pause: its circuit has closed
// (WSAENOTCONN, like a listener or a dial in progress), or it is a datagram
// socket, which has no flow control to hold the peer with (WSAENOPROTOOPT).
// Goroutine: the loop.
func (s *socket) pauseRefusal() (winsock.Code, string) {
	switch {
	case s.closeEv != nil:
		return winsock.WSAENOTCONN, "the circuit has closed"
	case s.conn.Datagram():
		return winsock.WSAENOPROTOOPT, "a datagram socket has no flow control: reads cannot be paused"
	}
	return winsock.OK, ""
}

// notePaused keeps sockExt.pausedSince in step with the connection's pause
// sources: it records the time when they go from none to some and clears it
// when they go back to none. Whoever changes a source (these messages, the
// runtime's inbound limits) calls it right after. Goroutine: the loop.
func (s *socket) notePaused() {
	if s.conn.ReadPaused() != 0 {
		if x := s.ext(); x.pausedSince.IsZero() {
			x.pausedSince = time.Now()
		}
		return
	}
	if s.x != nil {
		s.x.pausedSince = time.Time{}
	}
}

// pauseWords names the pause sources for SocketInfo.read_paused_by, in
// the order they are listed there.
var pauseWords = [...]struct {
	src  netio.PauseSource
	word string
}{
	{netio.PauseApp, "app"},
	{netio.PauseInbound, "inbound"},
	{netio.PauseBudget, "budget"},
}

// pauseInfo fills the read_paused fields of a connected socket's Info:
// nothing once its circuit has closed (no reads are left to pause).
// Goroutine: the loop.
func (s *socket) pauseInfo(in *SocketInfo) {
	src := s.conn.ReadPaused()
	if src == 0 || s.closeEv != nil {
		return
	}
	in.ReadPaused = true
	var by []string
	for _, p := range pauseWords {
		if src&p.src != 0 {
			by = append(by, p.word)
		}
	}
	in.ReadPausedBy = strings.Join(by, ",")
	if x := s.x; x != nil && !x.pausedSince.IsZero() {
		in.ReadPausedSinceUnixNano = x.pausedSince.UnixNano()
	}
}
