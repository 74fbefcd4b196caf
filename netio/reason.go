package netio

import (
	"github.com/sockactor/sockactor/winsock"
)

// Reason says why a connection ended. It is the payload of FD_CLOSE: its
// String is the docs/SEMANTICS.md §4 word, Code the Winsock code and Local whether
// this side ended the connection. Reason values are immutable.
type Reason uint8

// The close reasons of docs/SEMANTICS.md §4.
const (
	ReasonNone       Reason = iota // still open
	ReasonPeerClose                // FIN from the peer
	ReasonPeerReset                // RST from the peer (or a write error)
	ReasonLocalClose               // graceful Close
	ReasonLocalAbort               // Abort (RST)
	ReasonRecvBan                  // receive-ban violation under the reset policy
	ReasonTimeout                  // the idle timeout, or the kernel's ETIMEDOUT
	ReasonLimit                    // a memory or connection limit
	ReasonShutdown                 // the engine stopped with the socket open
	ReasonTruncated                // TLS: the peer's FIN came without close_notify
	ReasonProtocol                 // TLS: a bad record or an alert broke the stream

	// ReasonLast is the last reason: a table indexed by Reason has
	// ReasonLast+1 entries, and a loop over the reasons ends at it.
	ReasonLast = ReasonProtocol
)

var reasonWords = [...]string{
	ReasonNone:       "",
	ReasonPeerClose:  "peer-close",
	ReasonPeerReset:  "peer-reset",
	ReasonLocalClose: "local-close",
	ReasonLocalAbort: "local-abort",
	ReasonRecvBan:    "recv-ban",
	ReasonTimeout:    "timeout",
	ReasonLimit:      "limit",
	ReasonShutdown:   "shutdown",
	ReasonTruncated:  "truncated",
	ReasonProtocol:   "protocol-error",
}

var reasonCodes = [...]winsock.Code{
	ReasonNone:       winsock.OK,
	ReasonPeerClose:  winsock.OK,
	ReasonPeerReset:  winsock.WSAECONNRESET,
	ReasonLocalClose: winsock.OK,
	ReasonLocalAbort: winsock.WSAECONNABORTED,
	ReasonRecvBan:    winsock.WSAECONNABORTED,
	ReasonTimeout:    winsock.WSAETIMEDOUT,
	ReasonLimit:      winsock.WSAENOBUFS,
	ReasonShutdown:   winsock.WSAENETDOWN,
	ReasonTruncated:  winsock.WSAECONNABORTED,
	ReasonProtocol:   winsock.WSAECONNABORTED,
}

// String returns the docs/SEMANTICS.md §4 word ("peer-close", "recv-ban",
// ...). Reason is a value: its methods are safe from any goroutine.
func (r Reason) String() string {
	if int(r) < len(reasonWords) {
		return reasonWords[r]
	}
	return "unknown"
}

// Code returns the Winsock code FD_CLOSE carries for r.
func (r Reason) Code() winsock.Code {
	if int(r) < len(reasonCodes) {
		return reasonCodes[r]
	}
	return winsock.WSAECONNABORTED
}

// Local reports whether this side ended the connection.
func (r Reason) Local() bool {
	return r != ReasonPeerClose && r != ReasonPeerReset && r != ReasonTruncated && r != ReasonNone
}

// abortive reports whether the reason closes with RST (SO_LINGER 0).
func (r Reason) abortive() bool {
	switch r {
	case ReasonLocalAbort, ReasonRecvBan, ReasonLimit, ReasonTimeout:
		return true
	}
	return false
}
