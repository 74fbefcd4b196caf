package actors

import (
	"github.com/sockactor/sockactor/events"
	"github.com/sockactor/sockactor/netio"
)

// The transport's names an application uses, so that it never imports
// package netio: the ban policy, the close reasons and address parsing.

// BanPolicy says what happens to data after RecvDisconnect
// (docs/SEMANTICS.md §3.3). A value: safe from any goroutine.
type BanPolicy = netio.BanPolicy

// The ban policies (docs/SEMANTICS.md §3.3). BanDefault, the zero value,
// inherits: a listener's or dial's sockets take the runtime's policy, and a
// runtime's default is BanReset.
const (
	BanDefault = netio.BanDefault
	BanReset   = netio.BanReset
	BanDiscard = netio.BanDiscard
)

// ParseBanPolicy parses "reset" (or "") and "discard"; anything else is
// refused with WSAEINVAL.
func ParseBanPolicy(s string) (BanPolicy, error) { return netio.ParseBanPolicy(s) }

// Reason says why a socket closed (docs/SEMANTICS.md §4): its String is the
// word an FD_CLOSE event carries in Event.Reason, Code the Winsock code in
// Event.Code, Local whether this side ended the connection. A value: safe
// from any goroutine.
type Reason = netio.Reason

// The close reasons of docs/SEMANTICS.md §4.
const (
	ReasonNone       = netio.ReasonNone       // still open, or not a close
	ReasonPeerClose  = netio.ReasonPeerClose  // FIN from the peer ("peer-close")
	ReasonPeerReset  = netio.ReasonPeerReset  // RST from the peer ("peer-reset")
	ReasonLocalClose = netio.ReasonLocalClose // graceful Close ("local-close")
	ReasonLocalAbort = netio.ReasonLocalAbort // Abort ("local-abort")
	ReasonRecvBan    = netio.ReasonRecvBan    // receive-ban violation ("recv-ban")
	ReasonTimeout    = netio.ReasonTimeout    // idle timeout ("timeout")
	ReasonLimit      = netio.ReasonLimit      // a memory or connection limit ("limit")
	ReasonShutdown   = netio.ReasonShutdown   // the runtime shut down ("shutdown")
	ReasonTruncated  = netio.ReasonTruncated  // TLS: FIN without close_notify ("truncated")
	ReasonProtocol   = netio.ReasonProtocol   // TLS: a bad record or a fatal alert ("protocol-error")
)

// ReasonOf returns the close reason of an FD_CLOSE event, so a handler
// compares ReasonOf(ev) == ReasonPeerClose rather than words. It is
// ReasonNone for any other event or an unknown word. It allocates nothing;
// safe from any goroutine.
func ReasonOf(ev *events.Event) Reason {
	if ev.EventKind() != events.FDClose {
		return ReasonNone
	}
	w := ev.GetReason()
	for r := ReasonPeerClose; r <= netio.ReasonLast; r++ {
		if r.String() == w {
			return r
		}
	}
	return ReasonNone
}

// ParseAddr splits "tcp://host:port" (or "host:port"), "tcp4://",
// "tcp6://", "udp://", "udp4://", "udp6://" and "unix:///path" into a
// network and an address, as Runtime.Listen and Dial read them; anything
// else is refused with WSAEINVAL. Safe from any goroutine.
func ParseAddr(protoAddr string) (network, address string, err error) {
	return netio.ParseAddr(protoAddr)
}
