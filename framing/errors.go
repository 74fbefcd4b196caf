package framing

import "github.com/sockactor/sockactor/winsock"

// The framers' errors. Each is a *winsock.OpError whose code is
// WSAEMSGSIZE (or WSAEINVAL for a bad setting), so errors.Is matches both
// the value itself and the winsock name (winsock.ErrMsgSize).
var (
	// ErrTooLong is yielded by Lines for a line longer than its Max: alone
	// (the line is discarded up to its "\n"), or with a piece of it when
	// Lines.Split is set.
	ErrTooLong error = &winsock.OpError{Op: "framing.Lines", Code: winsock.WSAEMSGSIZE, Detail: "line too long"}
	// ErrFrameTooLarge is yielded by LengthPrefixed for a length prefix
	// over its Max, and returned by Append for such a payload. The stream
	// cannot be resynchronised after it: close the connection.
	ErrFrameTooLarge error = &winsock.OpError{Op: "framing.LengthPrefixed", Code: winsock.WSAEMSGSIZE, Detail: "frame too large"}
	// ErrPrefixSize is yielded by LengthPrefixed, and returned by Append,
	// when Size is not 0, 1, 2, 4 or 8.
	ErrPrefixSize error = &winsock.OpError{Op: "framing.LengthPrefixed", Code: winsock.WSAEINVAL, Detail: "prefix size must be 1, 2, 4 or 8"}
)

// keepCap is the buffer capacity a framer keeps once its buffer is empty;
// a larger one (left by a long frame) is given back to the garbage
// collector.
const keepCap = 4 << 10

// appendBounded appends p to buf, growing its capacity geometrically but
// never past limit (the caller guarantees len(buf)+len(p) <= limit).
func appendBounded(buf, p []byte, limit int) []byte {
	need := len(buf) + len(p)
	if need > cap(buf) {
		n := min(max(need, 2*cap(buf), 256), limit)
		grown := make([]byte, len(buf), n)
		copy(grown, buf)
		buf = grown
	}
	return append(buf, p...)
}
