package framing

import "github.com/sockactor/sockactor/winsock"

// The framers' errors. Each is a *winsock.OpError whose code is
// WSAEMSGSIZE (or WSAEINVAL for a bad setting), so errors.Is matches both
// the value itself and the winsock name (winsock.ErrMsgSize).
var (
	// ErrTooLong is yielded by Lines and Delimited for a frame (a line)
	// longer than their Max: alone (the frame is discarded up to its
	// delimiter, and the stream goes on), or with a piece of it when Split
	// is set.
	ErrTooLong error = &winsock.OpError{Op: "framing", Code: winsock.WSAEMSGSIZE, Detail: "frame too long"}
	// ErrFrameTooLarge is yielded by LengthPrefixed for a length prefix
	// over its Max, and returned by Append for such a payload. The stream
	// cannot be resynchronised after it: close the connection.
	ErrFrameTooLarge error = &winsock.OpError{Op: "framing.LengthPrefixed", Code: winsock.WSAEMSGSIZE, Detail: "frame too large"}
	// ErrPrefixSize is yielded by LengthPrefixed, and returned by Append,
	// when Size is not 0, 1, 2, 4 or 8.
	ErrPrefixSize error = &winsock.OpError{Op: "framing.LengthPrefixed", Code: winsock.WSAEINVAL, Detail: "prefix size must be 1, 2, 4 or 8"}
	// ErrEmptyDelim is yielded by Delimited and HeaderBody when their
	// Delim is empty.
	ErrEmptyDelim error = &winsock.OpError{Op: "framing", Code: winsock.WSAEINVAL, Detail: "empty delimiter"}
	// ErrHeaderTooLarge is yielded by HeaderBody for a header over its
	// MaxHeader, as soon as it is known (possibly before the delimiter has
	// arrived). The stream cannot be resynchronised after it (the body's
	// length is unknown): answer if the protocol says so (HTTP 431) and
	// close the connection.
	ErrHeaderTooLarge error = &winsock.OpError{Op: "framing.HeaderBody", Code: winsock.WSAEMSGSIZE, Detail: "header too large"}
	// ErrBodyTooLarge is yielded by HeaderBody when BodyLen gives a length
	// over its MaxBody, or a negative one. The stream cannot be
	// resynchronised after it: answer if the protocol says so (HTTP 413)
	// and close the connection.
	ErrBodyTooLarge error = &winsock.OpError{Op: "framing.HeaderBody", Code: winsock.WSAEMSGSIZE, Detail: "body length out of range"}
)
