package winsock

import (
	"errors"
	"fmt"
	"net"
	"slices"
	"syscall"
)

// Code is a Winsock error code (docs/SEMANTICS.md §2). The zero value means success.
//
// A non-zero Code is an error: errors.Is matches it against the named errors
// of this package (ErrNotConn, ...) and against its syscall twin
// (syscall.ENOTCONN, ...). Code values are immutable and safe to share.
type Code uint32

// The Winsock codes the runtime reports. Their numbers are Winsock's so that
// they read the same on the wire and in logs.
const (
	OK                Code = 0
	WSAEFAULT         Code = 10014
	WSAEINVAL         Code = 10022
	WSAEWOULDBLOCK    Code = 10035
	WSAEINPROGRESS    Code = 10036
	WSAENOTSOCK       Code = 10038
	WSAEMSGSIZE       Code = 10040
	WSAENOPROTOOPT    Code = 10042
	WSAEOPNOTSUPP     Code = 10045
	WSAEADDRINUSE     Code = 10048
	WSAEADDRNOTAVAIL  Code = 10049
	WSAENETDOWN       Code = 10050
	WSAECONNABORTED   Code = 10053
	WSAECONNRESET     Code = 10054
	WSAENOBUFS        Code = 10055
	WSAEISCONN        Code = 10056
	WSAENOTCONN       Code = 10057
	WSAESHUTDOWN      Code = 10058
	WSAETIMEDOUT      Code = 10060
	WSAECONNREFUSED   Code = 10061
	WSANOTINITIALISED Code = 10093
	WSAEDISCON        Code = 10101
	WSAHOST_NOT_FOUND Code = 11001 // Winsock spells it with an underscore
)

// Named errors for errors.Is. Each is the Code itself, so
// errors.Is(err, ErrNotConn) and errors.Is(err, syscall.ENOTCONN) both hold
// for any error that wraps WSAENOTCONN.
var (
	ErrFault          error = WSAEFAULT
	ErrInvalid        error = WSAEINVAL
	ErrWouldBlock     error = WSAEWOULDBLOCK
	ErrInProgress     error = WSAEINPROGRESS
	ErrNotSock        error = WSAENOTSOCK
	ErrMsgSize        error = WSAEMSGSIZE
	ErrNoProtoOpt     error = WSAENOPROTOOPT
	ErrOpNotSupp      error = WSAEOPNOTSUPP
	ErrAddrInUse      error = WSAEADDRINUSE
	ErrAddrNotAvail   error = WSAEADDRNOTAVAIL
	ErrNetDown        error = WSAENETDOWN
	ErrConnAborted    error = WSAECONNABORTED
	ErrConnReset      error = WSAECONNRESET
	ErrNoBufs         error = WSAENOBUFS
	ErrIsConn         error = WSAEISCONN
	ErrNotConn        error = WSAENOTCONN
	ErrShutdown       error = WSAESHUTDOWN
	ErrTimedOut       error = WSAETIMEDOUT
	ErrConnRefused    error = WSAECONNREFUSED
	ErrNotInitialised error = WSANOTINITIALISED
	ErrDiscon         error = WSAEDISCON
	ErrHostNotFound   error = WSAHOST_NOT_FOUND
)

type codeInfo struct {
	name  string
	errno syscall.Errno // 0 when Winsock's code has no POSIX twin
	text  string
}

var codeTable = map[Code]codeInfo{
	WSAEFAULT:         {"WSAEFAULT", syscall.EFAULT, "buffer too small for the disconnect data"},
	WSAEINVAL:         {"WSAEINVAL", syscall.EINVAL, "invalid argument"},
	WSAEWOULDBLOCK:    {"WSAEWOULDBLOCK", syscall.EWOULDBLOCK, "operation would block"},
	WSAEINPROGRESS:    {"WSAEINPROGRESS", syscall.EINPROGRESS, "operation in progress"},
	WSAENOTSOCK:       {"WSAENOTSOCK", syscall.ENOTSOCK, "not a live socket"},
	WSAEMSGSIZE:       {"WSAEMSGSIZE", syscall.EMSGSIZE, "message too long"},
	WSAENOPROTOOPT:    {"WSAENOPROTOOPT", syscall.ENOPROTOOPT, "option not supported by the protocol"},
	WSAEOPNOTSUPP:     {"WSAEOPNOTSUPP", syscall.EOPNOTSUPP, "operation not supported on this socket"},
	WSAEADDRINUSE:     {"WSAEADDRINUSE", syscall.EADDRINUSE, "address already in use"},
	WSAEADDRNOTAVAIL:  {"WSAEADDRNOTAVAIL", syscall.EADDRNOTAVAIL, "address not available"},
	WSAENETDOWN:       {"WSAENETDOWN", syscall.ENETDOWN, "runtime shut down or shutting down (network down)"},
	WSAECONNABORTED:   {"WSAECONNABORTED", syscall.ECONNABORTED, "connection aborted locally"},
	WSAECONNRESET:     {"WSAECONNRESET", syscall.ECONNRESET, "connection reset by peer"},
	WSAENOBUFS:        {"WSAENOBUFS", syscall.ENOBUFS, "no buffer space: limit reached"},
	WSAEISCONN:        {"WSAEISCONN", syscall.EISCONN, "socket is already connected"},
	WSAENOTCONN:       {"WSAENOTCONN", syscall.ENOTCONN, "socket is not connected"},
	WSAESHUTDOWN:      {"WSAESHUTDOWN", syscall.ESHUTDOWN, "socket has been shut down in that direction"},
	WSAETIMEDOUT:      {"WSAETIMEDOUT", syscall.ETIMEDOUT, "timed out"},
	WSAECONNREFUSED:   {"WSAECONNREFUSED", syscall.ECONNREFUSED, "connection refused"},
	WSANOTINITIALISED: {"WSANOTINITIALISED", 0, "runtime not started or already stopped"},
	WSAEDISCON:        {"WSAEDISCON", 0, "graceful shutdown in progress"},
	WSAHOST_NOT_FOUND: {"WSAHOST_NOT_FOUND", 0, "host not found"},
}

// Code and *OpError are net.Errors, so code written against net (for
// example a check of Timeout()) works on the runtime's errors.
var (
	_ net.Error = WSAETIMEDOUT
	_ net.Error = (*OpError)(nil)
)

// Name returns the Winsock name ("WSAENOTCONN"), "NO_ERROR" for OK (Windows'
// name for code 0), and "WSA<number>" for a code outside the table.
func (c Code) Name() string {
	if c == OK {
		return "NO_ERROR"
	}
	if info, ok := codeTable[c]; ok {
		return info.name
	}
	return fmt.Sprintf("WSA%d", uint32(c))
}

// Known reports whether c is OK or one of the codes in the table above.
func (c Code) Known() bool {
	_, ok := codeTable[c]
	return ok || c == OK
}

// Errno returns the syscall twin of c, or 0 when there is none.
func (c Code) Errno() syscall.Errno { return codeTable[c].errno }

// Error implements error: "WSAENOTCONN (10057): socket is not connected".
func (c Code) Error() string {
	if c == OK {
		return "success (0)"
	}
	info, ok := codeTable[c]
	if !ok {
		return fmt.Sprintf("winsock error %d", uint32(c))
	}
	return fmt.Sprintf("%s (%d): %s", info.name, uint32(c), info.text)
}

// Is lets errors.Is match a Code against its syscall twin.
func (c Code) Is(target error) bool {
	var errno syscall.Errno
	if errors.As(target, &errno) {
		return errno != 0 && errno == c.Errno()
	}
	return false
}

// Timeout implements net.Error: true exactly for WSAETIMEDOUT.
func (c Code) Timeout() bool { return c == WSAETIMEDOUT }

// Temporary implements net.Error: true for WSAEWOULDBLOCK and WSAETIMEDOUT,
// the codes after which the same operation may succeed if retried.
//
// Deprecated: package net deprecates Temporary (its meaning is ill-defined);
// it is here only because net.Error requires it. Test for the code instead
// (errors.Is(err, ErrWouldBlock)), or call Timeout.
func (c Code) Temporary() bool { return c == WSAEWOULDBLOCK || c == WSAETIMEDOUT }

// Err returns nil for OK and c otherwise, so a reply's code can be returned
// directly as a Go error.
func (c Code) Err() error {
	if c == OK {
		return nil
	}
	return c
}

// OpError is the error returned by socket operations: the operation, the
// socket's numeric id (0 when unknown), the Winsock code and, optionally, the
// underlying cause. It unwraps to its Code and to Err, so errors.Is and
// errors.As work through it for both: errors.Is(err, ErrAddrInUse) and
// errors.Is(err, syscall.EADDRINUSE) for a bind error, errors.As(err,
// &dnsErr) for a *net.DNSError, errors.Is(err, context.Canceled) for a
// cancelled call. The Code comes first, so CodeOf and errors.As(err, &code)
// see the OpError's own code.
type OpError struct {
	Op     string // "RecvDisconnect", "Send", ...
	Socket uint64 // numeric socket id, 0 when the socket is unknown
	Code   Code
	Detail string // optional human detail; never parse it
	Err    error  // optional underlying cause (an errno, a *net.DNSError, ctx.Err()); nil when none
}

// Error implements error.
func (e *OpError) Error() string {
	s := fmt.Sprintf("sockactor: %s", e.Op)
	if e.Socket != 0 {
		s += fmt.Sprintf(" socket %d", e.Socket)
	}
	s += ": " + e.Code.Error()
	if e.Detail != "" {
		s += ": " + e.Detail
	}
	return s
}

// Unwrap returns the Code, followed by Err when it is set.
func (e *OpError) Unwrap() []error {
	if e.Err == nil {
		return []error{e.Code}
	}
	return []error{e.Code, e.Err}
}

// Timeout implements net.Error: the Code's Timeout (true exactly for
// WSAETIMEDOUT).
func (e *OpError) Timeout() bool { return e.Code.Timeout() }

// Temporary implements net.Error: the Code's Temporary.
//
// Deprecated: see Code.Temporary.
func (e *OpError) Temporary() bool { return e.Code.Temporary() }

// CodeOf extracts the Winsock code of err: OK for nil, the Code of a wrapped
// Code, the twin of a wrapped syscall errno, and fallback otherwise.
func CodeOf(err error, fallback Code) Code {
	if err == nil {
		return OK
	}
	var c Code
	if errors.As(err, &c) {
		return c
	}
	var errno syscall.Errno
	if errors.As(err, &errno) && errno != 0 {
		for code, info := range codeTable {
			if info.errno == errno {
				return code
			}
		}
	}
	return fallback
}

// Codes returns every non-zero code this package knows, in numeric order.
// The slice is new on every call.
func Codes() []Code {
	out := make([]Code, 0, len(codeTable))
	for c := range codeTable {
		out = append(out, c)
	}
	slices.Sort(out)
	return out
}
