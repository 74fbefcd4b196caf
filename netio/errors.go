package netio

import (
	"errors"
	"io"
	"os"
	"syscall"

	"github.com/sockactor/sockactor/winsock"
)

// The Winsock codes and errors live in package winsock, a leaf that users
// import without the transport; netio re-exports them under the names it
// has always had, so the transport and its callers read the same.

// Code is winsock.Code.
type Code = winsock.Code

// OpError is winsock.OpError.
type OpError = winsock.OpError

// The Winsock codes (winsock.OK, winsock.WSAEINVAL, ...).
const (
	OK                = winsock.OK
	WSAEFAULT         = winsock.WSAEFAULT
	WSAEINVAL         = winsock.WSAEINVAL
	WSAEWOULDBLOCK    = winsock.WSAEWOULDBLOCK
	WSAEINPROGRESS    = winsock.WSAEINPROGRESS
	WSAENOTSOCK       = winsock.WSAENOTSOCK
	WSAEMSGSIZE       = winsock.WSAEMSGSIZE
	WSAENOPROTOOPT    = winsock.WSAENOPROTOOPT
	WSAEADDRINUSE     = winsock.WSAEADDRINUSE
	WSAEADDRNOTAVAIL  = winsock.WSAEADDRNOTAVAIL
	WSAENETDOWN       = winsock.WSAENETDOWN
	WSAECONNABORTED   = winsock.WSAECONNABORTED
	WSAECONNRESET     = winsock.WSAECONNRESET
	WSAENOBUFS        = winsock.WSAENOBUFS
	WSAEISCONN        = winsock.WSAEISCONN
	WSAENOTCONN       = winsock.WSAENOTCONN
	WSAESHUTDOWN      = winsock.WSAESHUTDOWN
	WSAETIMEDOUT      = winsock.WSAETIMEDOUT
	WSAECONNREFUSED   = winsock.WSAECONNREFUSED
	WSANOTINITIALISED = winsock.WSANOTINITIALISED
	WSAEDISCON        = winsock.WSAEDISCON
	WSAHOST_NOT_FOUND = winsock.WSAHOST_NOT_FOUND
)

// The named errors (winsock.ErrNotConn, ...).
var (
	ErrFault          = winsock.ErrFault
	ErrInvalid        = winsock.ErrInvalid
	ErrWouldBlock     = winsock.ErrWouldBlock
	ErrInProgress     = winsock.ErrInProgress
	ErrNotSock        = winsock.ErrNotSock
	ErrMsgSize        = winsock.ErrMsgSize
	ErrNoProtoOpt     = winsock.ErrNoProtoOpt
	ErrAddrInUse      = winsock.ErrAddrInUse
	ErrAddrNotAvail   = winsock.ErrAddrNotAvail
	ErrNetDown        = winsock.ErrNetDown
	ErrConnAborted    = winsock.ErrConnAborted
	ErrConnReset      = winsock.ErrConnReset
	ErrNoBufs         = winsock.ErrNoBufs
	ErrIsConn         = winsock.ErrIsConn
	ErrNotConn        = winsock.ErrNotConn
	ErrShutdown       = winsock.ErrShutdown
	ErrTimedOut       = winsock.ErrTimedOut
	ErrConnRefused    = winsock.ErrConnRefused
	ErrNotInitialised = winsock.ErrNotInitialised
	ErrDiscon         = winsock.ErrDiscon
	ErrHostNotFound   = winsock.ErrHostNotFound
)

// CodeOf is winsock.CodeOf: the Winsock code of err, fallback if none.
func CodeOf(err error, fallback Code) Code { return winsock.CodeOf(err, fallback) }

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
