// Package resp is the protocol side of examples/redis: a RESP2 request
// parser on framing.HeaderBody (arrays of bulk strings, as redis-cli and
// the client libraries send them, and inline commands, as telnet sends
// them), a store sharded by key hash, the commands (PING, ECHO, SET, GET,
// DEL, EXISTS, INCR, QUIT) and the sockactor handler that serves them.
// Nothing here but handler.go knows of sockets: the bench's raw gnet RESP
// server runs the same Session on gnet directly.
package resp

import (
	"bytes"
	"errors"
	"strconv"

	"github.com/sockactor/sockactor/framing"
)

// Limits of a request, as Redis has them (its proto-max-bulk-len is
// 512 MB; this example keeps a bulk string to MaxBulk).
const (
	MaxBulk   = 64 << 20    // the longest bulk string (argument) accepted
	MaxInline = 64 << 10    // the longest inline command or header line
	MaxArgs   = 1024 * 1024 // the most arguments in one command
)

// ProtocolError is a request stream that cannot be parsed: Redis answers
// "-ERR Protocol error: <Msg>" and closes the connection.
type ProtocolError struct{ Msg string }

func (e *ProtocolError) Error() string { return "Protocol error: " + e.Msg }

var (
	errMultibulk = &ProtocolError{"invalid multibulk length"}
	errBulk      = &ProtocolError{"invalid bulk length"}
	errInline    = &ProtocolError{"too big inline request"}
	errBulkCount = &ProtocolError{"too big bulk count string"}
)

// Parser cuts a request stream into commands. Headers end at "\n" with an
// optional "\r" before it (as Redis reads inline commands); a bulk
// string's body is its length plus the two bytes of its "\r\n". The zero
// Parser is ready; it belongs to one connection and is not safe for
// concurrent use.
type Parser struct {
	f    framing.HeaderBody
	want int      // elements of the current array still to come; 0 between commands
	buf  []byte   // the current command's arguments, end to end
	ends []int    // the end of each argument in buf
	args [][]byte // views of buf handed to the callback
	err  error    // the stream's protocol error, once there is one
}

func (p *Parser) init() {
	if p.f.Delim == nil {
		p.f = framing.HeaderBody{Delim: []byte("\n"), BodyLen: p.bodyLen, MaxHeader: MaxInline, MaxBody: MaxBulk + 2}
	}
}

// Feed parses data and calls cmd with the arguments of every command it
// completes, in order; the arguments are valid during the call only. It
// stops early when cmd returns false (the rest of data is dropped). It
// returns a *ProtocolError once the stream cannot be parsed, and again on
// every later call: answer it and close.
func (p *Parser) Feed(data []byte, cmd func(args [][]byte) bool) error {
	p.init()
	if p.err != nil {
		return p.err
	}
	for fr, err := range p.f.Frames(data) {
		if err != nil {
			p.err = p.protocolError(err)
			break
		}
		if p.want > 0 { // a bulk string of the current array
			p.buf = append(p.buf, fr.Body[:len(fr.Body)-2]...)
			p.ends = append(p.ends, len(p.buf))
			if p.want--; p.want == 0 && !cmd(p.split()) {
				break
			}
			continue
		}
		h := trimCR(fr.Header)
		p.buf, p.ends = p.buf[:0], p.ends[:0]
		if len(h) > 0 && h[0] == '*' {
			n, ok := atoi(h[1:])
			if !ok || n > MaxArgs {
				p.err = errMultibulk
				break
			}
			p.want = max(n, 0) // "*0" and "*-1" are no command
			continue
		}
		for _, f := range bytes.Fields(h) { // an inline command
			p.buf = append(p.buf, f...)
			p.ends = append(p.ends, len(p.buf))
		}
		if len(p.ends) > 0 && !cmd(p.split()) {
			break
		}
	}
	return p.err
}

// split returns the arguments as views of buf.
func (p *Parser) split() [][]byte {
	p.args = p.args[:0]
	start := 0
	for _, end := range p.ends {
		p.args = append(p.args, p.buf[start:end:end])
		start = end
	}
	p.buf, p.ends = p.buf[:0], p.ends[:0]
	if cap(p.buf) > 1<<20 {
		p.buf = nil // one large command does not pin its buffer (the args still see it)
	}
	return p.args
}

// bodyLen is the framer's BodyLen: inside an array every element must be
// a bulk string "$<n>", followed by n bytes and "\r\n"; a command's first
// line ("*<n>" or an inline command) has no body.
func (p *Parser) bodyLen(header []byte) (int, error) {
	if p.want <= 0 {
		return 0, nil
	}
	h := trimCR(header)
	if len(h) == 0 || h[0] != '$' {
		got := ""
		if len(h) > 0 {
			got = string(h[:1])
		}
		return 0, &ProtocolError{"expected '$', got '" + got + "'"}
	}
	n, ok := atoi(h[1:])
	if !ok || n < 0 || n > MaxBulk {
		return 0, errBulk
	}
	return n + 2, nil
}

// protocolError names a framer's error as Redis would.
func (p *Parser) protocolError(err error) error {
	var pe *ProtocolError
	switch {
	case errors.As(err, &pe):
		return pe
	case errors.Is(err, framing.ErrHeaderTooLarge) && p.want > 0:
		return errBulkCount
	case errors.Is(err, framing.ErrHeaderTooLarge):
		return errInline
	}
	return errBulk
}

func trimCR(b []byte) []byte {
	if n := len(b); n > 0 && b[n-1] == '\r' {
		return b[:n-1]
	}
	return b
}

// atoi parses a decimal integer of at most 18 digits, with an optional
// '-' (the lengths of RESP headers), allocating nothing.
func atoi(b []byte) (int, bool) {
	neg := len(b) > 0 && b[0] == '-'
	if neg {
		b = b[1:]
	}
	if len(b) == 0 || len(b) > 18 {
		return 0, false
	}
	n := 0
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	if neg {
		n = -n
	}
	return n, true
}

// parseInt64 parses v as Redis's string2ll does: exactly the canonical
// decimal form of an int64 (no sign but '-', no leading zeros or spaces).
func parseInt64(v []byte) (int64, bool) {
	if len(v) == 0 || len(v) > 20 {
		return 0, false
	}
	n, err := strconv.ParseInt(string(v), 10, 64)
	if err != nil {
		return 0, false
	}
	var b [20]byte
	return n, bytes.Equal(strconv.AppendInt(b[:0], n, 10), v)
}
