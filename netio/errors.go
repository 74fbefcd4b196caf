package netio

import (
	"errors"
	"fmt"
	"io"
	"os"
	"syscall"
)

// Code is a Winsock error code (SEMANTICS §2). The zero value means success.
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
	WSAENETDOWN       Code = 10050
	WSAECONNABORTED   Code = 10053
	WSAECONNRESET     Code = 10054
	WSAENOBUFS        Code = 10055
	WSAENOTCONN       Code = 10057
	WSAESHUTDOWN      Code = 10058
	WSAETIMEDOUT      Code = 10060
	WSAECONNREFUSED   Code = 10061
	WSANOTINITIALISED Code = 10093
	WSAEDISCON        Code = 10101
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
	ErrNetDown        error = WSAENETDOWN
	ErrConnAborted    error = WSAECONNABORTED
	ErrConnReset      error = WSAECONNRESET
	ErrNoBufs         error = WSAENOBUFS
	ErrNotConn        error = WSAENOTCONN
	ErrShutdown       error = WSAESHUTDOWN
	ErrTimedOut       error = WSAETIMEDOUT
	ErrConnRefused    error = WSAECONNREFUSED
	ErrNotInitialised error = WSANOTINITIALISED
	ErrDiscon         error = WSAEDISCON
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
	WSAENETDOWN:       {"WSAENETDOWN", syscall.ENETDOWN, "network subsystem is down"},
	WSAECONNABORTED:   {"WSAECONNABORTED", syscall.ECONNABORTED, "connection aborted locally"},
	WSAECONNRESET:     {"WSAECONNRESET", syscall.ECONNRESET, "connection reset by peer"},
	WSAENOBUFS:        {"WSAENOBUFS", syscall.ENOBUFS, "no buffer space: limit reached"},
	WSAENOTCONN:       {"WSAENOTCONN", syscall.ENOTCONN, "socket is not connected"},
	WSAESHUTDOWN:      {"WSAESHUTDOWN", syscall.ESHUTDOWN, "socket has been shut down in that direction"},
	WSAETIMEDOUT:      {"WSAETIMEDOUT", syscall.ETIMEDOUT, "timed out"},
	WSAECONNREFUSED:   {"WSAECONNREFUSED", syscall.ECONNREFUSED, "connection refused"},
	WSANOTINITIALISED: {"WSANOTINITIALISED", 0, "runtime not started or already stopped"},
	WSAEDISCON:        {"WSAEDISCON", 0, "graceful shutdown in progress"},
}

// Name returns the Winsock name ("WSAENOTCONN"), "" for OK, and
// "WSA<number>" for a code outside the table.
func (c Code) Name() string {
	if c == OK {
		return ""
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

// Err returns nil for OK and c otherwise, so a reply's code can be returned
// directly as a Go error.
func (c Code) Err() error {
	if c == OK {
		return nil
	}
	return c
}

// OpError is the error returned by socket operations: the operation, the
// socket's numeric id (0 when unknown) and the Winsock code. It unwraps to its
// Code, so errors.Is works through it.
type OpError struct {
	Op     string // "RecvDisconnect", "Send", ...
	Socket uint64 // numeric socket id, 0 when the socket is unknown
	Code   Code
	Detail string // optional human detail; never parse it
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

// Unwrap returns the Code.
func (e *OpError) Unwrap() error { return e.Code }

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

// closeCauseOf classifies the error gnet reports in OnClose.
// It never looks at error text.
func closeCauseOf(err error) Reason {
	switch {
	case err == nil:
		return ReasonLocalClose
	case errors.Is(err, io.EOF):
		return ReasonPeerClose
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE):
		return ReasonPeerReset
	case errors.Is(err, syscall.ETIMEDOUT):
		return ReasonTimeout
	case errors.Is(err, os.ErrDeadlineExceeded):
		return ReasonTimeout
	default:
		return ReasonPeerReset
	}
}
