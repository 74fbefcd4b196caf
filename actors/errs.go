package actors

import (
	"github.com/sockactor/sockactor/winsock"
)

// Err methods: a reply's code as a Go error, so a handler matches it with
// errors.Is (against winsock's named errors or their syscall twins) without
// converting codes itself:
//
//	case *actors.SendResult:
//		if errors.Is(m.Err(), winsock.ErrWouldBlock) { ... wait for FD_WRITE ... }
//
// Each returns nil for code 0 (and for a nil reply), else a *winsock.OpError
// (winsock.OpError) naming the request, whose Unwrap gives the
// winsock.Code. They only read the message: safe wherever the message may
// be read.

func replyErr(op string, socket uint64, code uint32, detail string) error {
	if code == 0 {
		return nil
	}
	return &winsock.OpError{Op: op, Socket: socket, Code: winsock.Code(code), Detail: detail}
}

// Err returns the Send's result as an error: nil, or WSAEWOULDBLOCK,
// WSAESHUTDOWN, WSAENOTCONN, WSAEMSGSIZE, ... (docs/SEMANTICS.md §2). It only reads
// the message: safe wherever the message may be read.
func (m *SendResult) Err() error { return replyErr("Send", 0, m.GetCode(), "") }

// Err returns the Recv's result as an error: nil, or WSAEWOULDBLOCK,
// WSAESHUTDOWN, WSAECONNRESET, WSAENOTCONN, ... It only reads
// the message: safe wherever the message may be read.
func (m *RecvResult) Err() error { return replyErr("Recv", 0, m.GetCode(), "") }

// Err returns the RecvDisconnect's result as an error: nil, or
// WSAENOTCONN, WSAENOTSOCK, WSAEINVAL, ... It only reads
// the message: safe wherever the message may be read.
func (m *RecvDisconnectResult) Err() error { return replyErr("RecvDisconnect", 0, m.GetCode(), "") }

// Err returns the SendDisconnect's result as an error. It only reads
// the message: safe wherever the message may be read.
func (m *SendDisconnectResult) Err() error { return replyErr("SendDisconnect", 0, m.GetCode(), "") }

// Err returns the Close's (or Abort's) result as an error. It only reads
// the message: safe wherever the message may be read.
func (m *CloseResult) Err() error { return replyErr("Close", 0, m.GetCode(), "") }

// Err returns the Subscribe's (or Unsubscribe's) result as an error. It only reads
// the message: safe wherever the message may be read.
func (m *SubscribeResult) Err() error { return replyErr("Subscribe", 0, m.GetCode(), "") }

// Err returns the Info's result as an error (WSAENOTSOCK for a released
// socket), naming the socket. It only reads
// the message: safe wherever the message may be read.
func (m *SocketInfo) Err() error { return replyErr("Info", m.GetSocket(), m.GetCode(), "") }

// Err returns the Connect's result as an error; it is never nil for a
// socket (sockets are not reused, docs/SEMANTICS.md §3.8). It only reads
// the message: safe wherever the message may be read.
func (m *ConnectResult) Err() error { return replyErr("Connect", 0, m.GetCode(), m.GetDetail()) }

// Err returns the SuspendReading's result as an error: nil, or
// WSAENOTCONN (a listener, a dial in progress, a closed circuit),
// WSAENOPROTOOPT (a datagram socket), WSAESHUTDOWN (after RecvDisconnect),
// WSAENOTSOCK, ... It only reads the message: safe wherever the message may
// be read.
func (m *SuspendReadingResult) Err() error {
	return replyErr("SuspendReading", 0, m.GetCode(), m.GetDetail())
}

// Err returns the ResumeReading's result as an error: nil, or WSAENOTCONN,
// WSAENOPROTOOPT, WSAENOTSOCK, ... It only reads the message: safe wherever
// the message may be read.
func (m *ResumeReadingResult) Err() error {
	return replyErr("ResumeReading", 0, m.GetCode(), m.GetDetail())
}

// Err returns the Error as a Go error (WSAEINVAL for an unhandled request). It only reads
// the message: safe wherever the message may be read.
func (m *Error) Err() error { return replyErr("Request", 0, m.GetCode(), m.GetDetail()) }
