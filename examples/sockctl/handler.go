package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"strconv"
	"time"

	"github.com/sockactor/sockactor/actors"
	"github.com/sockactor/sockactor/events"
	"github.com/sockactor/sockactor/framing"
	"github.com/sockactor/sockactor/winsock"
)

// maxLine is the longest command line accepted, not counting its "\n" and
// an optional "\r" before it.
const maxLine = 64 << 10

// afterDelay separates the AFTER lines that follow SHUTRD.
const afterDelay = 50 * time.Millisecond

// afterCount is how many AFTER lines SHUTRD schedules.
const afterCount = 3

// Fixed error replies.
var (
	errUnknown = []byte(errLine(winsock.WSAEINVAL) + " unknown command")
	errTooLong = []byte(errLine(winsock.WSAEMSGSIZE) + " line too long")
)

// errLine formats "ERR <NAME> <code>".
func errLine(code winsock.Code) string {
	return "ERR " + code.Name() + " " + strconv.FormatUint(uint64(code), 10)
}

// afterTick is the message a socket sends itself (Context.After) to write
// "AFTER n" without blocking its handler.
type afterTick struct{ n int }

// infoLine is the JSON line INFO writes: the fields of the socket's
// *actors.SocketInfo reply.
type infoLine struct {
	Socket      uint64 `json:"socket"`
	Kind        string `json:"kind"`
	State       string `json:"state"`
	RecvShut    bool   `json:"recv_shut"`
	SendShut    bool   `json:"send_shut"`
	BytesIn     uint64 `json:"bytes_in"`
	BytesOut    uint64 `json:"bytes_out"`
	BannedBytes uint64 `json:"banned_bytes"`
	QueuedIn    int64  `json:"queued_in"`
	QueuedOut   int64  `json:"queued_out"`
	LocalAddr   string `json:"local_addr"`
	RemoteAddr  string `json:"remote_addr"`
	BanPolicy   string `json:"ban_policy"`
	Dispatch    string `json:"dispatch"`
	Listener    uint64 `json:"listener"`
}

// handler is the line-protocol Handler shared by every socket of the
// listener. It keeps no state of its own: each socket's lineState is its
// state (actors.WithState: made on its first message, passed to receive
// with every message). It never blocks, so it is correct under Inline
// dispatch; every request it makes to its own socket (Info, RecvDisconnect)
// is answered as a message to this handler, not waited for.
//
// Receive runs on the socket's event loop goroutine under Inline dispatch
// and on protoactor's dispatcher under Pooled dispatch; either way one call
// at a time per socket, so the lineState needs no lock.
var handler = actors.WithState(newLineState, receive)

// receive handles one message of a socket whose state is st.
func receive(c *actors.Context, st *lineState) {
	switch m := c.Message().(type) {
	case *actors.Received:
		st.feed(c, m.Data)
	case *actors.SocketInfo:
		st.fill(c, waitInfo, infoReply(m))
	case *actors.RecvDisconnectResult:
		line := []byte("OK SHUTRD " + strconv.Itoa(len(m.Data)))
		if m.Code != 0 {
			line = []byte(errLine(winsock.Code(m.Code)))
		}
		st.fill(c, waitShutRd, line)
		c.After(afterDelay, &afterTick{n: 1})
	case *afterTick:
		st.fill(c, waitTick, []byte("AFTER "+strconv.Itoa(m.n)))
		if m.n < afterCount {
			c.After(afterDelay, &afterTick{n: m.n + 1})
		}
	case *events.Event:
		switch m.EventKind() {
		case events.FDWrite:
			st.writable(c)
		case events.FDClose:
			st.closed(c, m)
		}
	case actors.OutboxRetry: // the timer of a half-closed socket's refused write
		st.retry(c)
	}
}

// waitFor names what an answer slot is waiting for.
type waitFor uint8

const (
	waitNone   waitFor = iota // nothing: the answer is complete
	waitInfo                  // the *actors.SocketInfo of an INFO
	waitShutRd                // the *actors.RecvDisconnectResult of a SHUTRD
	waitTick                  // the afterTick of one "AFTER n" line of a SHUTRD
)

// action is what an answer does after its line, through the Context
// helpers: each is a request to the socket's own PID, handled after the
// line is queued.
type action uint8

const (
	actNone action = iota
	actSendDisconnect
	actClose
	actAbort
)

// answer is one slot of a socket's answer FIFO: what one command (or one
// AFTER line) writes, in command order.
type answer struct {
	wait   waitFor // waitNone once the line is known
	line   []byte  // the reply line, without "\n"; owned by the slot
	silent bool    // write no line (ABORT)
	then   action  // done right after line: SendDisconnect, Close or Abort
}

// lineState is the per-socket protocol state. It is only touched by the
// socket's handler, which never runs concurrently for one socket.
//
// Answers go out in command order, pipelined or not. A command answered
// at once writes straight away when nothing is pending; a command whose
// answer comes back asynchronously (INFO, SHUTRD) reserves a slot in
// pending, every later answer queues behind it, and when the reply fills
// the slot the completed prefix of pending is written.
type lineState struct {
	// lines cuts the input into command lines (framing.Lines: at most
	// maxLine bytes without "\n" and an optional "\r"; it holds at most
	// maxLine+1 bytes of an unfinished line, and a line whole in one read
	// is a view of it, not a copy).
	lines framing.Lines
	// out is scratch space for building a reply line.
	out []byte
	// pending holds the answers not written yet, oldest first; its head
	// is waiting for a reply, or complete and refused by the socket
	// (blocked).
	pending []answer
	// blocked is set when the socket refused a write (WSAEWOULDBLOCK: the
	// client sends faster than it reads its answers, over SendHighWater):
	// the refused answer heads pending, reading is suspended (suspended),
	// and FD_WRITE writes pending again, then resumes reading. No answer
	// is dropped.
	blocked, suspended bool
	// retryDelay is the last retry's delay on a half-closed socket.
	retryDelay time.Duration
	// recvDone is set by SHUTRD: the handler reads no further input.
	recvDone bool
	// sendDone is set by SHUTWR: the replies of later commands are
	// dropped (their CLOSE or ABORT still acts); answers queued before
	// it still go out.
	sendDone bool
	// closing is set by CLOSE and ABORT, and when the handler closes a
	// half-closed socket itself: further input is ignored.
	closing bool
	// peerClosed is set by FD_CLOSE "peer-close" (the client sent FIN):
	// the socket stays writable, and the handler closes it once pending
	// is empty.
	peerClosed bool
}

// newLineState is a socket's lineState, made on its first message.
func newLineState(*actors.Context) *lineState {
	return &lineState{lines: framing.Lines{Max: maxLine, TrimCR: true}}
}

// feed splits received bytes into lines and runs each complete one. data
// may be a view into the event loop's buffer: the framer copies what
// outlives the call (an unfinished line). An overlong line is answered as
// soon as it is known to be too long, and the rest of it is discarded.
// After SHUTRD, CLOSE or ABORT the rest of data is not read.
func (st *lineState) feed(c *actors.Context, data []byte) {
	if st.recvDone || st.closing {
		return
	}
	for line, err := range st.lines.Frames(data) {
		if err != nil {
			st.reply(c, errTooLong)
			continue
		}
		st.exec(c, line)
		if st.recvDone || st.closing {
			break // drops the rest of data and whatever the framer held
		}
	}
}

// exec runs one command line (without its "\r\n" or "\n"). line is not
// retained.
func (st *lineState) exec(c *actors.Context, line []byte) {
	cmd, arg, hasArg := bytes.Cut(line, []byte{' '})
	if string(cmd) == "ECHO" {
		st.reply(c, arg)
		return
	}
	if hasArg {
		st.reply(c, errUnknown)
		return
	}
	switch string(cmd) {
	case "INFO":
		// The real Info message to the socket's own PID; the
		// *actors.SocketInfo reply comes back to Receive and fills the
		// slot reserved here.
		st.push(c, answer{wait: waitInfo})
		c.Request(c.Self(), &actors.Info{})
	case "SHUTRD":
		// RecvDisconnect as a request, sent now: the ban must not wait
		// for earlier answers. The reply comes back to Receive as
		// *actors.RecvDisconnectResult (a blocking future would deadlock
		// an Inline loop). From here on the handler reads nothing more,
		// not even the rest of this chunk, so the AFTER lines are the
		// last answers: their slots are reserved now too.
		st.recvDone = true
		st.lines.Reset()
		st.push(c, answer{wait: waitShutRd})
		for range afterCount {
			st.push(c, answer{wait: waitTick})
		}
		c.Request(c.Self(), &actors.RecvDisconnect{})
	case "SHUTWR":
		// The SendDisconnect goes out after "OK SHUTWR", hence after
		// every earlier answer. Later answers could overtake the FIN
		// (SendDisconnect is handled after this call returns), so the
		// handler drops them itself rather than relying on ErrShutdown.
		st.push(c, answer{line: []byte("OK SHUTWR"), then: actSendDisconnect})
		st.sendDone = true
	case "CLOSE":
		st.closing = true
		st.push(c, answer{line: []byte("OK CLOSE"), then: actClose})
	case "ABORT":
		st.closing = true
		st.push(c, answer{silent: true, then: actAbort})
	default:
		st.reply(c, errUnknown)
	}
}

// infoReply formats the INFO reply line from the socket's SocketInfo.
func infoReply(m *actors.SocketInfo) []byte {
	if m.Code != 0 {
		return []byte(errLine(winsock.Code(m.Code)))
	}
	line, err := json.Marshal(infoLine{
		Socket:      m.Socket,
		Kind:        m.Kind,
		State:       m.State,
		RecvShut:    m.RecvShut,
		SendShut:    m.SendShut,
		BytesIn:     m.BytesIn,
		BytesOut:    m.BytesOut,
		BannedBytes: m.BannedBytes,
		QueuedIn:    m.QueuedIn,
		QueuedOut:   m.QueuedOut,
		LocalAddr:   m.LocalAddr,
		RemoteAddr:  m.RemoteAddr,
		BanPolicy:   m.BanPolicy,
		Dispatch:    m.Dispatch,
		Listener:    m.ListenerId,
	})
	if err != nil {
		return []byte(errLine(winsock.WSAEINVAL) + " " + err.Error())
	}
	return line
}

// reply answers the current command with line, in order. line is not
// retained (it may be a view into the event loop's buffer).
func (st *lineState) reply(c *actors.Context, line []byte) {
	st.push(c, answer{line: line})
}

// push appends a to the answers: a complete answer with nothing pending
// before it is written at once, anything else waits in pending (a.line is
// copied there). After SHUTWR only the action of an answer is kept (the
// Close of a CLOSE, the Abort of an ABORT): lines and slots are dropped.
func (st *lineState) push(c *actors.Context, a answer) {
	if st.sendDone {
		if a.then == actNone {
			return
		}
		a = answer{silent: true, then: a.then}
	}
	if a.wait == waitNone && len(st.pending) == 0 && st.write(c, a) {
		return
	}
	a.line = bytes.Clone(a.line)
	st.pending = append(st.pending, a)
}

// fill completes the oldest slot waiting for w with line, then writes the
// completed prefix of pending. A reply with no slot (its command came
// after SHUTWR, or the connection is gone) is dropped.
func (st *lineState) fill(c *actors.Context, w waitFor, line []byte) {
	for i := range st.pending {
		if st.pending[i].wait == w {
			st.pending[i].wait, st.pending[i].line = waitNone, line
			st.flush(c)
			return
		}
	}
}

// flush writes the answers at the head of pending until one still waits
// or the socket refuses one. Once nothing is pending on a socket the
// client half-closed, it closes the socket (gracefully: what was written
// is flushed, then FIN).
func (st *lineState) flush(c *actors.Context) {
	for !st.blocked && len(st.pending) > 0 && st.pending[0].wait == waitNone {
		if !st.write(c, st.pending[0]) {
			return // refused: it stays at the head
		}
		st.pending[0] = answer{}
		st.pending = st.pending[1:]
	}
	if st.blocked {
		return
	}
	if len(st.pending) == 0 {
		st.pending = nil
		if st.peerClosed && !st.closing {
			st.closing = true
			c.Close()
		}
	}
}

// writable handles FD_WRITE: after a refused write, pending is written
// again, and reading resumes once the socket took it all.
func (st *lineState) writable(c *actors.Context) {
	if !st.blocked {
		return
	}
	st.blocked = false
	st.flush(c)
	if !st.blocked && st.suspended {
		st.suspended = false
		_ = c.ResumeReading()
	}
}

// retry writes pending on a half-closed socket whose write was refused,
// again after a delay while the socket refuses it (doubling from
// actors.OutboxRetryMin to actors.OutboxRetryMax, as Outbox.RetryDelay): after
// FD_CLOSE no FD_WRITE comes (docs/SEMANTICS.md §4, §5). The socket's
// linger ends it if the client never reads.
func (st *lineState) retry(c *actors.Context) {
	if !st.blocked || !st.peerClosed {
		return
	}
	st.blocked = false
	if st.flush(c); st.blocked {
		st.retryDelay = min(max(2*st.retryDelay, actors.OutboxRetryMin), actors.OutboxRetryMax)
		c.After(st.retryDelay, actors.OutboxRetry{})
	}
}

// closed handles the socket's FD_CLOSE. After "peer-close" (the client's
// FIN) the socket stays writable: pending answers are still written and
// the handler closes the socket after the last one. Any other reason
// means nothing more can be written: pending answers are dropped.
func (st *lineState) closed(c *actors.Context, ev *events.Event) {
	st.lines.Reset() // no more input: free the line buffer now, not at release
	if actors.ReasonOf(ev) == actors.ReasonPeerClose {
		st.peerClosed = true
		if st.blocked {
			st.retry(c) // no FD_WRITE comes after FD_CLOSE
			return
		}
		st.flush(c)
		return
	}
	st.pending, st.out = nil, nil
	st.blocked = false
}

// write writes a's line and "\n" to the peer in one write, then does
// a.then with the Context helper (c.SendDisconnect, c.Close, c.Abort: a
// request to the socket's own PID). Under Pooled dispatch both are queued in
// the socket's mailbox in that order; under Inline the line is written now
// and a.then is handled after Receive returns: either way the line goes
// out before the FIN or RST.
//
// It reports false when the socket refused the line (WSAEWOULDBLOCK: its
// send queue is over SendHighWater): nothing was written and a.then is not
// done; the socket is blocked and reading suspended until FD_WRITE. Other
// write errors are ignored: a write after SendDisconnect fails with
// ErrShutdown, one after the circuit closed with ErrNotConn, and a real
// failure closes the connection, which FD_CLOSE reports.
func (st *lineState) write(c *actors.Context, a answer) bool {
	if !a.silent {
		st.out = append(append(st.out[:0], a.line...), '\n')
		_, err := c.Write(st.out)
		if cap(st.out) > 4<<10 {
			st.out = nil // do not keep a large echo buffer around
		}
		if errors.Is(err, winsock.ErrWouldBlock) {
			st.blocked = true
			if !st.suspended && !st.peerClosed && !st.recvDone {
				st.suspended = true
				_ = c.SuspendReading()
			}
			return false
		}
	}
	switch a.then {
	case actSendDisconnect:
		c.SendDisconnect()
	case actClose:
		c.Close()
	case actAbort:
		c.Abort()
	}
	return true
}
