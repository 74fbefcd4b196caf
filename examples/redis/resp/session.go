package resp

import (
	"errors"
	"strconv"
)

// Replies of the commands.
var (
	errNotInt   = errors.New("ERR value is not an integer or out of range")
	errOverflow = errors.New("ERR increment or decrement would overflow")
	errSyntax   = errors.New("ERR syntax error")
)

// ErrQuit is Serve's error after a QUIT: its +OK is in the replies; close
// the connection once they are written.
var ErrQuit = errors.New("resp: quit")

// Session is one connection's protocol state: a Parser and the store its
// commands run against.
type Session struct {
	p     Parser
	store *Store
	out   []byte // the replies of the current Serve
	quit  bool
}

// NewSession returns a session on store.
func NewSession(store *Store) *Session { return &Session{store: store} }

// Serve runs every command data completes, appends each reply to out (in
// order: a pipelined read gets all its replies in one buffer, for one
// write) and returns it. The error is ErrQuit after a QUIT, or the
// *ProtocolError that ended the stream, whose "-ERR Protocol error: ..."
// reply is appended after the replies of the commands before it: write
// out, then close.
func (s *Session) Serve(data, out []byte) ([]byte, error) {
	if s.quit {
		return out, ErrQuit
	}
	s.out = out
	err := s.p.Feed(data, s.exec)
	out, s.out = s.out, nil
	if pe := (*ProtocolError)(nil); errors.As(err, &pe) {
		out = appendError(out, "ERR "+pe.Error())
	}
	if s.quit {
		err = ErrQuit
	}
	return out, err
}

// exec runs one command; false after QUIT.
func (s *Session) exec(args [][]byte) bool {
	var name [8]byte
	cmd := lower(name[:0], args[0])
	out := s.out
	switch string(cmd) {
	case "get":
		if len(args) != 2 {
			break
		}
		s.out = s.store.AppendGet(out, args[1])
		return true
	case "set":
		switch {
		case len(args) < 3:
			break
		case len(args) > 3:
			s.out = appendError(out, errSyntax.Error()) // no SET options here
			return true
		default:
			s.store.Set(args[1], args[2])
			s.out = append(out, "+OK\r\n"...)
			return true
		}
	case "ping":
		switch len(args) {
		case 1:
			s.out = append(out, "+PONG\r\n"...)
			return true
		case 2:
			s.out = appendBulk(out, args[1])
			return true
		}
	case "echo":
		if len(args) == 2 {
			s.out = appendBulk(out, args[1])
			return true
		}
	case "del", "exists":
		if len(args) < 2 {
			break
		}
		n := int64(0)
		for _, k := range args[1:] {
			if (cmd[0] == 'd' && s.store.Del(k)) || (cmd[0] == 'e' && s.store.Exists(k)) {
				n++
			}
		}
		s.out = appendInt(out, n)
		return true
	case "incr":
		if len(args) != 2 {
			break
		}
		if n, err := s.store.Incr(args[1]); err != nil {
			s.out = appendError(out, err.Error())
		} else {
			s.out = appendInt(out, n)
		}
		return true
	case "quit":
		s.out = append(out, "+OK\r\n"...)
		s.quit = true
		return false
	default:
		s.out = appendError(out, "ERR unknown command '"+printable(args[0], 128)+"'")
		return true
	}
	s.out = appendError(out, "ERR wrong number of arguments for '"+string(cmd)+"' command")
	return true
}

// lower appends b lower-cased to dst when it fits dst's capacity (every
// command name here does), else returns dst empty: no command matches.
func lower(dst, b []byte) []byte {
	if len(b) > cap(dst) {
		return dst
	}
	for _, c := range b {
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		dst = append(dst, c)
	}
	return dst
}

// printable is b for an error line: at most n bytes, control bytes
// (a "\r\n" would end the line) as spaces.
func printable(b []byte, n int) string {
	if len(b) > n {
		b = b[:n]
	}
	r := []byte(string(b))
	for i, c := range r {
		if c < ' ' || c == 0x7f {
			r[i] = ' '
		}
	}
	return string(r)
}

func appendBulk(out, v []byte) []byte {
	out = append(out, '$')
	out = strconv.AppendInt(out, int64(len(v)), 10)
	out = append(out, "\r\n"...)
	out = append(out, v...)
	return append(out, "\r\n"...)
}

func appendInt(out []byte, n int64) []byte {
	out = append(out, ':')
	out = strconv.AppendInt(out, n, 10)
	return append(out, "\r\n"...)
}

func appendInt64(out []byte, n int64) []byte { return strconv.AppendInt(out, n, 10) }

func appendError(out []byte, msg string) []byte {
	out = append(out, '-')
	out = append(out, msg...)
	return append(out, "\r\n"...)
}
