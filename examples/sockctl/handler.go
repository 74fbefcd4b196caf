package main

import (
	"bytes"
	"encoding/json"
	"strconv"
	"time"

	"github.com/sockactor/sockactor/actors"
	"github.com/sockactor/sockactor/events"
	"github.com/sockactor/sockactor/netio"
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
	errUnknown = []byte(errLine(netio.WSAEINVAL) + " unknown command")
	errTooLong = []byte(errLine(netio.WSAEMSGSIZE) + " line too long")
)

// errLine formats "ERR <NAME> <code>".
func errLine(code netio.Code) string {
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

// protocol is the line-protocol Handler shared by every socket of the
// listener. It keeps no state of its own: each socket's lineState lives in
// its Context (SetState). It never blocks, so it is correct under Inline
// dispatch; every request it makes to its own socket (Info, RecvDisconnect)
// is answered as a message to this handler, not waited for.
type protocol struct{}

// Receive implements actors.Handler.
func (protocol) Receive(c *actors.Context) {
	switch m := c.Message().(type) {
	case *actors.Received:
		stateOf(c).feed(c, m.Data)
	case *actors.SocketInfo:
		stateOf(c).info(c, m)
	case *actors.RecvDisconnectResult:
		st := stateOf(c)
		if m.Code != 0 {
			st.reply(c, []byte(errLine(netio.Code(m.Code))))
		} else {
			st.reply(c, []byte("OK SHUTRD "+strconv.Itoa(len(m.Data))))
		}
		c.After(afterDelay, &afterTick{n: 1})
	case *afterTick:
		stateOf(c).reply(c, []byte("AFTER "+strconv.Itoa(m.n)))
		if m.n < afterCount {
			c.After(afterDelay, &afterTick{n: m.n + 1})
		}
	case *events.Event:
		if m.EventKind() == events.FDClose {
			// The circuit is gone: free the line buffer now rather than at
			// release (the socket may linger).
			st := stateOf(c)
			st.buf, st.out = nil, nil
		}
	}
}

// lineState is the per-socket protocol state. It is only touched by the
// socket's handler, which never runs concurrently for one socket.
type lineState struct {
	// buf holds the start of a line whose "\n" has not arrived yet; it
	// never exceeds maxLine+1 bytes (a line may end in "\r").
	buf []byte
	// out is scratch space for building a reply line.
	out []byte
	// skipping is set while the rest of an overlong line is discarded.
	skipping bool
	// recvDone is set by SHUTRD: the handler reads no further input.
	recvDone bool
	// sendDone is set by SHUTWR: replies are dropped from then on.
	sendDone bool
	// closing is set by CLOSE and ABORT: further input is ignored.
	closing bool
}

// stateOf returns the socket's lineState, creating it on first use.
func stateOf(c *actors.Context) *lineState {
	if st, ok := c.State().(*lineState); ok {
		return st
	}
	st := &lineState{}
	c.SetState(st)
	return st
}

// feed splits received bytes into lines and runs each complete one. data
// may be a view into the event loop's buffer: whatever outlives the call is
// copied into st.buf.
func (st *lineState) feed(c *actors.Context, data []byte) {
	for len(data) > 0 && !st.recvDone && !st.closing {
		i := bytes.IndexByte(data, '\n')
		if st.skipping {
			if i < 0 {
				return
			}
			st.skipping = false
			data = data[i+1:]
			continue
		}
		if i < 0 {
			if len(st.buf)+len(data) > maxLine+1 {
				// Too long whatever comes next: say so now and drop
				// the rest of the line as it arrives.
				st.buf = st.buf[:0]
				st.skipping = true
				st.reply(c, errTooLong)
				return
			}
			st.buf = appendBounded(st.buf, data)
			return
		}
		line := data[:i]
		data = data[i+1:]
		if len(st.buf) > 0 {
			if len(st.buf)+len(line) > maxLine+1 {
				st.buf = st.buf[:0]
				st.reply(c, errTooLong)
				continue
			}
			st.buf = appendBounded(st.buf, line)
			line = st.buf
		}
		st.exec(c, line)
		st.buf = st.buf[:0]
	}
}

// appendBounded appends p to buf, growing it to at most maxLine+1 bytes of
// capacity. The caller guarantees len(buf)+len(p) <= maxLine+1.
func appendBounded(buf, p []byte) []byte {
	need := len(buf) + len(p)
	if need > cap(buf) {
		n := min(max(need, 2*cap(buf), 512), maxLine+1)
		grown := make([]byte, len(buf), n)
		copy(grown, buf)
		buf = grown
	}
	return append(buf, p...)
}

// exec runs one command line (without its "\n"). line is not retained.
func (st *lineState) exec(c *actors.Context, line []byte) {
	line = bytes.TrimSuffix(line, []byte{'\r'})
	if len(line) > maxLine {
		st.reply(c, errTooLong)
		return
	}
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
		// *actors.SocketInfo reply comes back to Receive.
		c.Request(c.Self(), &actors.Info{})
	case "SHUTRD":
		// RecvDisconnect as a request: the reply comes back to Receive
		// as *actors.RecvDisconnectResult (a blocking future would
		// deadlock an Inline loop). From here on the handler reads
		// nothing more, not even the rest of this chunk.
		st.recvDone = true
		st.buf, st.skipping = nil, false
		c.Request(c.Self(), &actors.RecvDisconnect{})
	case "SHUTWR":
		st.reply(c, []byte("OK SHUTWR"))
		// Replies written after this point could overtake the FIN (the
		// SendDisconnect message is handled after this call returns), so
		// the handler drops them itself rather than relying on
		// ErrShutdown.
		st.sendDone = true
		c.Send(c.Self(), &actors.SendDisconnect{})
	case "CLOSE":
		st.reply(c, []byte("OK CLOSE"))
		st.closing = true
		c.Send(c.Self(), &actors.Close{})
	case "ABORT":
		st.closing = true
		c.Send(c.Self(), &actors.Abort{})
	default:
		st.reply(c, errUnknown)
	}
}

// info writes the INFO reply.
func (st *lineState) info(c *actors.Context, m *actors.SocketInfo) {
	if m.Code != 0 {
		st.reply(c, []byte(errLine(netio.Code(m.Code))))
		return
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
		st.reply(c, []byte(errLine(netio.WSAEINVAL)+" "+err.Error()))
		return
	}
	st.reply(c, line)
}

// reply writes line and "\n" to the peer in one write, unless SHUTWR was
// given. Write errors are ignored: a write after SendDisconnect fails with
// ErrShutdown, one after the circuit closed with ErrNotConn, and a real
// failure closes the connection, which FD_CLOSE reports.
func (st *lineState) reply(c *actors.Context, line []byte) {
	if st.sendDone {
		return
	}
	st.out = append(append(st.out[:0], line...), '\n')
	_, _ = c.Write(st.out)
	if cap(st.out) > 4<<10 {
		st.out = nil // do not keep a large echo buffer around
	}
}
