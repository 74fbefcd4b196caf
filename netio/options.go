package netio

import (
	"log/slog"
	"time"

	"github.com/panjf2000/gnet/v2"
)

// Options configure an Engine. The zero value works.
type Options struct {
	// EventLoops is the number of event loops of each gnet engine (the
	// UDP listeners' has as many again); 0 means runtime.GOMAXPROCS(0)
	// when NewEngine runs: Go's default follows the CPU quota of a
	// container since Go 1.25, where runtime.NumCPU counts the host's.
	EventLoops int
	// ReadBufferCap is the per-loop read buffer in bytes; 0 means gnet's
	// default (64 KiB).
	ReadBufferCap int
	// Logger receives gnet's warnings and errors; nil means slog.Default().
	Logger *slog.Logger
	// MaxConns bounds the open connections of the engine (accepted and
	// dialled). Over it a new connection is opened and closed at once
	// with ReasonLimit. 0 means defaultMaxConns; negative means no limit.
	MaxConns int
	// IdleTimeout closes a connection with ReasonTimeout after that long
	// without a byte read or written. 0 (the default) means no timeout.
	IdleTimeout time.Duration
	// DisableReuseAddr turns SO_REUSEADDR off on the listeners. By default
	// it is on, so a runtime can listen again right away on a port whose
	// old connections are still in TIME_WAIT (a restart); it never lets
	// two live listeners share an address.
	DisableReuseAddr bool
	// ReusePort sets SO_REUSEPORT on TCP and tls:// listeners, so that
	// several processes (or engines) can listen on one port and the kernel
	// spreads new connections over them: a restart that overlaps the old
	// process, one process per core. Such a listener is bound by Listen
	// itself, before or after Start (an address another process holds
	// without SO_REUSEPORT fails Listen with WSAEADDRINUSE), and served by
	// an accept goroutine, as listeners added while the engine runs are.
	// Two listeners of one engine on one address are still refused. UDP
	// listeners always have it (gnet's); unix ones have no such option.
	ReusePort bool
	// DisableTCPNoDelay lets the kernel coalesce small writes (Nagle's
	// algorithm). By default TCP_NODELAY is set on every TCP connection.
	DisableTCPNoDelay bool
	// TCPKeepAlive turns TCP keepalive on for every TCP connection, with
	// this idle time and probe interval; 0 (the default) leaves it off.
	TCPKeepAlive time.Duration
	// LoadBalancing spreads connections over the loops: LeastConnections
	// (the default) or SourceAddrHash. (gnet's round robin is left out:
	// its counter is not safe beside the Register calls of Dial and of
	// the accept goroutines.)
	LoadBalancing LoadBalancing
	// TLSHandshakeTimeout bounds one TLS handshake, server or client
	// side; 0 means DefaultTLSHandshakeTimeout (10 s).
	TLSHandshakeTimeout time.Duration
	// MaxTLSHandshakes bounds the server-side TLS handshakes in progress
	// at once (each holds a goroutine and its socket until it completes);
	// a connection accepted over it makes room by resetting the oldest
	// one still running (TLSStats.HandshakeEvicted). 0 means
	// DefaultMaxTLSHandshakes (1024).
	MaxTLSHandshakes int
}

// LoadBalancing is how an engine spreads accepted connections over its
// event loops.
type LoadBalancing uint8

// The load-balancing policies (gnet's).
const (
	LeastConnections LoadBalancing = iota // the loop with the fewest connections
	SourceAddrHash                        // by a hash of the peer's address
)

func (lb LoadBalancing) gnet() gnet.LoadBalancing {
	switch lb {
	case SourceAddrHash:
		return gnet.SourceAddrHash
	}
	return gnet.LeastConnections
}

// defaultMaxConns is the connection limit when Options.MaxConns is 0.
const defaultMaxConns = 65536

// EngineStats counts connections at the transport level.
type EngineStats struct {
	Open int64 `json:"open"` // connections holding a descriptor now, half-open ones included
	// LimitHits counts limit hits at the transport: connections refused by
	// MaxConns (ConnLimitHits), datagrams dropped over MaxPeers
	// (PeerLimitHits), plus connections closed by a limit above the
	// transport (countLimitHit).
	LimitHits     uint64 `json:"limit_hits"`
	ConnLimitHits uint64 `json:"conn_limit_hits"` // of LimitHits, refused by MaxConns
	PeerLimitHits uint64 `json:"peer_limit_hits"` // of LimitHits, datagrams from new addresses dropped over a listener's MaxPeers
	// HalfOpen is the number of connections whose peer sent FIN and whose
	// send side the application still holds (docs/SEMANTICS.md §5).
	HalfOpen int64 `json:"half_open"`
	// SendDropped counts bytes that a Send or Write accepted and that never
	// reached the peer: the peer reset a half-open connection, a close's
	// flush ran out of time, or the connection was already gone.
	SendDropped uint64 `json:"send_dropped"`
	// RecvDropped counts received bytes a paused socket never delivered:
	// read while paused and lost to a reset or an abort, or left unread in
	// the kernel at a graceful close (dropped, so the close sends FIN, not
	// RST).
	RecvDropped uint64 `json:"recv_dropped"`
	// Peers is the number of live UDP peers of the engine's listeners
	// (they hold no descriptor, so Open does not count them).
	Peers int64 `json:"udp_peers"`
}
