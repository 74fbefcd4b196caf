package runtime_test

import (
	"errors"
	"fmt"
	"strings"

	"github.com/sockactor/sockactor/actors"
	"github.com/sockactor/sockactor/events"
	"github.com/sockactor/sockactor/winsock"
)

// ---- the model ----

// modelSock is the reference model of one accepted TCP socket.
type modelSock struct {
	pull   bool
	policy actors.BanPolicy

	released bool // Close/Abort answered: every later request is WSAENOTSOCK
	closed   bool // FD_CLOSE emitted (the circuit has gone, or half-open after peer FIN)
	closeEv  ev
	banned   bool // RecvDisconnect succeeded
	sendShut bool // SendDisconnect succeeded

	peerFin  bool // the peer half-closed (CloseWrite)
	peerGone bool // the peer connection is reset (by the peer or by us)
	peerEOF  bool // the peer has read our FIN

	unread          []byte // pull mode: received, not yet pulled
	unreadAmbiguous bool   // unread data when the peer reset: Recv may return it or WSAECONNRESET
	readPosted      bool   // FD_READ posted, not re-enabled by a Recv
	delivered       []byte // push mode: bytes the handler must have got

	bytesIn, bytesOut, bannedBytes uint64
	bytesInKnown, bannedKnown      bool

	// Read pauses (§2 "Read pauses", §5 inbound back-pressure). appPaused:
	// a SuspendReading succeeded and no ResumeReading or RecvDisconnect has
	// lifted it. While the socket's reads are paused the runtime reads
	// nothing: the peer's bytes wait in the kernel (held) and its FIN is not
	// noticed (finHeld) until the resume, which delivers them in order.
	// pausedSince is Info.read_paused_since_unix_nano as first seen during
	// the current pause (0: not seen yet); a second suspend keeps it.
	appPaused bool
	held      []byte
	finHeld   bool
	// finTrunc: the peer's FIN came without close_notify (TLS, opPeerTruncate):
	// the runtime closes with 10053 truncated, not peer-close (§8).
	finTrunc    bool
	pausedSince int64

	events []ev // what a runtime-wide MaskAll subscriber gets
	subs   []*modelSub
}

type modelSub struct {
	mask events.Mask
	want []ev
	rec  *evRecorder
}

func (m *modelSock) emit(e ev) {
	m.events = addEv(m.events, e)
	for _, s := range m.subs {
		if s.mask.Has(e.kind) {
			s.want = addEv(s.want, e)
		}
	}
}

// addEv appends e to l; a run of "any number of" events of one kind is
// kept as one.
func addEv(l []ev, e ev) []ev {
	if e.many && len(l) > 0 && l[len(l)-1].many && l[len(l)-1].kind == e.kind {
		return l
	}
	return append(l, e)
}

func (m *modelSock) closeWith(reason string, code winsock.Code, local bool) {
	if m.closed {
		return
	}
	m.closed = true
	m.closeEv = ev{kind: events.FDClose, code: uint32(code), reason: reason, local: local}
	m.emit(m.closeEv)
}

// closeByPeerFin is the runtime noticing the peer's FIN: peer-close, or
// over TLS a FIN without close_notify before it: truncated (§4, §8).
func (m *modelSock) closeByPeerFin() {
	if m.finTrunc {
		m.closeWith("truncated", winsock.WSAECONNABORTED, false)
		// The runtime ends the connection at a truncation (Send answers
		// WSAENOTCONN): the peer's read may then see EOF.
		m.peerEOF = true
		return
	}
	m.closeWith("peer-close", 0, false)
}

// truncClosed: FD_CLOSE truncated was posted (TLS). Ambiguous: §8 says the
// send side stays usable after the peer's close_notify, as after a TCP
// FIN, and says nothing of it after a truncation; the model accepts a
// working send side or the truncation's code (see truncCodes).
func (m *modelSock) truncClosed() bool { return m.closed && m.closeEv.reason == "truncated" }

func (m *modelSock) truncCodes() codes {
	return codes{0, winsock.WSAECONNABORTED, winsock.WSAENOTCONN}
}

// dropBanned is the runtime reading n banned bytes under discard: read,
// dropped, counted (§3.3).
func (m *modelSock) dropBanned(n int) {
	m.bytesIn += uint64(n) // received, then dropped: bytes_in counts it, over TLS too
	m.bannedBytes += uint64(n)
}

// resetClosed: the circuit ended by a reset (peer RST, or ours for a ban
// violation); nothing can be sent any more.
func (m *modelSock) resetClosed() bool {
	return m.closed && (m.closeEv.reason == "peer-reset" || m.closeEv.reason == "recv-ban")
}

// resetCodes are the acceptable answers of Send/SendDisconnect after a
// reset. Ambiguous: the contract's table says WSAENOTCONN for "already
// closed" and WSAECONNRESET for "the peer reset the connection"
// (WSAECONNABORTED for a local abort); Winsock answers send() after a reset
// with WSAECONNRESET/WSAECONNABORTED. Either is accepted.
func (m *modelSock) resetCodes() codes {
	if m.closeEv.reason == "recv-ban" {
		return codes{winsock.WSAENOTCONN, winsock.WSAECONNABORTED}
	}
	return codes{winsock.WSAENOTCONN, winsock.WSAECONNRESET}
}

func (m *modelSock) peerCanWrite() bool { return !m.released && !m.peerFin && !m.peerGone }

// readsPaused: the application's pause holds a connected socket's reads
// (after FD_CLOSE nothing is left to read, and Info shows no pause).
func (m *modelSock) readsPaused() bool { return m.appPaused && !m.closed }

// arrive is the runtime reading data the peer sent, with reception open:
// pull mode buffers it (FD_READ unless one is posted), push mode delivers.
func (m *modelSock) arrive(data []byte) {
	if len(data) == 0 {
		return
	}
	m.bytesIn += uint64(len(data))
	if m.pull {
		m.unread = append(m.unread, data...)
		if !m.readPosted {
			m.emit(ev{kind: events.FDRead})
			m.readPosted = true
		}
		return
	}
	m.delivered = append(m.delivered, data...)
}

func (m *modelSock) String() string {
	var s []string
	if m.pull {
		s = append(s, "pull")
	} else {
		s = append(s, "push")
	}
	s = append(s, m.policy.String())
	switch {
	case m.released:
		s = append(s, "released")
	case m.closed:
		s = append(s, "closed("+m.closeEv.reason+")")
	default:
		s = append(s, "up")
	}
	for _, f := range []struct {
		on   bool
		name string
	}{{m.banned, "banned"}, {m.sendShut, "send-shut"}, {m.peerFin, "peer-fin"}, {m.peerGone, "peer-gone"},
		{m.appPaused, "app-paused"}, {m.finHeld, "fin-held"}, {m.finTrunc, "fin-truncated"}} {
		if f.on {
			s = append(s, f.name)
		}
	}
	if len(m.unread) > 0 {
		s = append(s, fmt.Sprintf("unread=%d", len(m.unread)))
	}
	if len(m.held) > 0 {
		s = append(s, fmt.Sprintf("held=%d", len(m.held)))
	}
	return strings.Join(s, " ")
}

// codes is a set of acceptable reply codes.
type codes []winsock.Code

func (c codes) has(x winsock.Code) bool {
	for _, y := range c {
		if y == x {
			return true
		}
	}
	return false
}

func (c codes) String() string {
	s := make([]string, len(c))
	for i, x := range c {
		s[i] = codeName(x)
	}
	return strings.Join(s, "|")
}

func codeName(c winsock.Code) string {
	if c == 0 {
		return "0"
	}
	return c.Name()
}

// errCode extracts the reply code of a Caller error.
func errCode(err error) (winsock.Code, string) {
	if err == nil {
		return 0, "0"
	}
	var oe *winsock.OpError
	if errors.As(err, &oe) {
		return oe.Code, codeName(oe.Code)
	}
	return winsock.Code(1<<32 - 1), err.Error()
}
