package actors

import (
	"crypto/tls"
	"fmt"
	"time"

	"github.com/sockactor/sockactor/events"
	"github.com/sockactor/sockactor/winsock"
)

// The options a socket takes from its listener or its Dial: where its
// handler runs (Dispatch), its ban policy, pull mode, UDP peer limits, TLS.

// Dispatch says where a listener's handler runs.
type Dispatch uint8

const (
	// Inline runs the handler on the event loop goroutine that owns the
	// connection: zero-copy received bytes, writes straight into gnet's
	// buffer, and the handler must never block.
	Inline Dispatch = iota
	// Pooled runs the handler on the runtime's worker pool (goroutines
	// reused from read to read, at most runtime.Options.PoolSize at once),
	// one message at a time per socket, from a small per-socket queue (no
	// actor per socket): received bytes are copied, writes go to the
	// socket from the worker in order with the socket's messages, and the
	// handler may block.
	Pooled
)

// String returns "inline" or "pooled".
func (d Dispatch) String() string {
	switch d {
	case Inline:
		return "inline"
	case Pooled:
		return "pooled"
	}
	return fmt.Sprintf("Dispatch(%d)", uint8(d))
}

// ParseDispatch parses "inline" or "pooled".
func ParseDispatch(s string) (Dispatch, error) {
	switch s {
	case "inline", "":
		return Inline, nil
	case "pooled":
		return Pooled, nil
	}
	return Inline, &winsock.OpError{Op: "ParseDispatch", Code: winsock.WSAEINVAL, Detail: "unknown dispatch " + s}
}

// SocketOptions are what every socket takes from the listener that accepted
// it or the Dial that made it. The zero value is push delivery, Inline
// dispatch and the runtime's ban policy. A value is copied at Listen or
// Dial; changing it later changes nothing.
type SocketOptions struct {
	// Dispatch says where the handler runs (Inline unless set).
	Dispatch Dispatch
	// BanPolicy overrides the runtime's ban policy; BanDefault inherits it.
	BanPolicy BanPolicy
	// Pull buffers received bytes in the socket instead of pushing them to
	// the handler: Recv pulls them, FD_READ says when there are some
	// (Winsock's re-enabling rule: no second FD_READ until a Recv).
	// On a UDP socket each Recv takes one datagram.
	Pull bool
	// MaxPeers bounds the live peer sockets of a UDP listener
	// (65536 if 0, negative: no limit). A datagram from a
	// new address while the listener has that many peers is dropped and
	// counted (limit "max_peers"): no peer socket, no event. Other sockets
	// ignore it.
	MaxPeers int
	// PeerIdleTimeout ends a UDP listener's peer after that long without a
	// datagram in or out, with FD_CLOSE 10060 "timeout"
	// (60 s if 0; negative: never). The
	// peer is ended within an eighth of the timeout (at most a second)
	// after it. Other sockets ignore it.
	PeerIdleTimeout time.Duration
	// RecycleReads, under Pooled dispatch, lends Received.Data for the
	// handler call only, as Inline does: the socket's copies of what it
	// reads come from a pool of buffers and go back to it when Receive
	// returns, so a read costs no allocation and the garbage collector no
	// work (bench/README.md has what that saves). The handler must keep no
	// view of Data after Receive returns: copy what it keeps (a handler
	// correct under Inline is correct with RecycleReads). Inline ignores
	// it. The default (false) gives the handler a copy it owns.
	RecycleReads bool
	// TLS configures a tls:// socket (docs/SEMANTICS.md §8): a listener's
	// certificates (Certificates or GetCertificate, which rotation goes
	// through), or a dial's roots and ServerName (the host when empty).
	// Required for tls:// and refused for any other address. The runtime
	// does not change it; do not change it after Listen or Dial.
	TLS *tls.Config
}

// policy resolves the socket's ban policy against the runtime's default.
func (o SocketOptions) policy(runtime BanPolicy) BanPolicy {
	if o.BanPolicy != BanDefault {
		return o.BanPolicy
	}
	return runtime
}

// validate reports the first option that makes no sense.
func (o SocketOptions) validate(op string) error {
	switch {
	case o.Dispatch != Inline && o.Dispatch != Pooled:
		return &winsock.OpError{Op: op, Code: winsock.WSAEINVAL, Detail: "unknown dispatch"}
	case !o.BanPolicy.Valid():
		return &winsock.OpError{Op: op, Code: winsock.WSAEINVAL, Detail: "unknown ban policy"}
	}
	return nil
}

// ListenOptions configure one listener and the sockets it accepts: exactly
// the SocketOptions.
type ListenOptions = SocketOptions

// DialOptions configure a dialled socket: the SocketOptions, plus the
// connect's bound and the subscribers that must see its FD_CONNECT. The zero
// value is push delivery, Inline dispatch, the runtime's ban policy,
// DefaultDialTimeout.
type DialOptions struct {
	SocketOptions
	// Timeout bounds the connect (DefaultDialTimeout if 0). The ctx given
	// to Dial bounds only the call, not the connect.
	Timeout time.Duration
	// Subscribers are subscribed to the socket before it connects, so they
	// see its FD_CONNECT.
	Subscribers events.Subs
}
