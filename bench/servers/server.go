// Package servers holds the echo servers that the bench compares. Each one
// is run alone in its own process by the bench binary's server role, so that
// no two servers, and no server and the load generator, share a Go
// scheduler or a heap.
//
// A server registers itself under a name with Register; the sockactor
// servers do so from a file of their own, so that the harness can be built
// without them while the core packages are not ready.
package servers

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sort"
	"sync"
	"time"

	"github.com/sockactor/sockactor/fleet"
)

// Config is what the server role passes to a server's Start.
type Config struct {
	// Listen is the host:port to bind, normally 127.0.0.1:0.
	Listen string
	// Control, when not nil, is the side channel of the harness: the
	// server reports every connection close it observes through
	// Control.RecordClose, timestamped when its subscriber received it.
	Control *Control
	// Subscribers is the number of runtime-wide FD_CLOSE subscriber actors a
	// sockactor server spawns (default 1 when Control is set); a close is
	// recorded once the last subscriber has received it. The other servers
	// have no event system and ignore it.
	Subscribers int
	// BanPolicy is the receive-ban policy of a sockactor server: "reset"
	// (the runtime's default) or "discard". Others ignore it.
	BanPolicy string
	// Remote, when not empty, makes a sockactor server a protoactor remote
	// node listening there (docs/SEMANTICS.md §7); others ignore it.
	Remote string
	// Fleet, when not nil, registers a sockactor server that is a remote
	// node (Remote set) in a fleet in etcd (runtime Options.Fleet,
	// docs/SEMANTICS.md §7 "A fleet"); others ignore it.
	Fleet *fleet.Config
	// Network is the transport: "tcp" (the default when empty), "udp" or
	// "unix". For unix, Listen is the socket's path. A server that does
	// not serve the network returns an error wrapping ErrUnsupported from
	// Start.
	Network string
	// MaxPeers and PeerIdleTimeout configure a UDP listener of a sockactor
	// server (0: the runtime's defaults, 65,536 peers and 60 s); see
	// udpListenOptions. The raw gnet server keeps no per-peer state and
	// ignores them.
	MaxPeers        int
	PeerIdleTimeout time.Duration
	// Mode is what the server does with a connection: "" (ModeEcho) echoes
	// what it receives; ModeFloodWriter writes FloodBytes to every
	// accepted TCP connection, in FloodChunk writes, and reads nothing
	// back but discards (see flood.go); ModeSlowConsumer reads every
	// accepted TCP connection at ConsumeChunk bytes per ConsumePeriod and
	// writes nothing (see consume.go). A server that has no such mode
	// returns an *UnsupportedError from Start.
	Mode string
	// FloodBytes is what ModeFloodWriter writes to each connection
	// (DefaultFloodBytes if 0).
	FloodBytes int
	// ConsumePeriod is the time ModeSlowConsumer takes per ConsumeChunk,
	// on each connection (DefaultConsumePeriod if 0).
	ConsumePeriod time.Duration
	// SendHighWater is a sockactor server's Options.SendHighWater (0: the
	// runtime's default, 4 MiB); the other servers ignore it.
	SendHighWater int
	// MaxInbound is a sockactor server's Options.MaxInbound (0: the
	// runtime's default, 256 KiB); the other servers ignore it.
	MaxInbound int
}

// Network names.
const (
	NetTCP  = "tcp"
	NetUDP  = "udp"
	NetUnix = "unix"
)

// network returns cfg's network, tcp when empty.
func (cfg Config) network() string {
	if cfg.Network == "" {
		return NetTCP
	}
	return cfg.Network
}

// ErrUnsupported is wrapped by the error of a Start whose server (or the
// runtime under it) does not serve the configured network: the server
// role reports it as "unsupported ..." and the harness shows the server as
// unavailable for that scenario instead of failing the run.
var ErrUnsupported = errors.New("network not supported by this server")

// UnsupportedError is a Start refused for its network; it wraps
// ErrUnsupported and says why.
type UnsupportedError struct{ Reason string }

func (e *UnsupportedError) Error() string { return "unsupported: " + e.Reason }

// Is makes errors.Is(err, ErrUnsupported) hold.
func (e *UnsupportedError) Is(target error) bool { return target == ErrUnsupported }

// unsupported returns an *UnsupportedError.
func unsupported(format string, args ...any) error {
	return &UnsupportedError{Reason: fmt.Sprintf(format, args...)}
}

// PeerStats is what a PeerCounter answers to the side channel's peers
// command: the runtime's socket counters (UDP peers are sockets).
type PeerStats struct {
	// Open is the sockets not yet released (listeners excluded).
	Open int64 `json:"open"`
	// Accepted counts sockets accepted (UDP peers created) since start.
	Accepted uint64 `json:"accepted"`
	// Closed counts FD_CLOSE events by reason word ("timeout" for a peer
	// that reached its idle timeout).
	Closed map[string]uint64 `json:"closed"`
	// SendsRefused counts handler writes and Sends refused (a flood
	// writer's WSAEWOULDBLOCK once its queue is over the high-water mark).
	SendsRefused uint64 `json:"sends_refused"`
	// Peers is the live UDP peers of the runtime's listeners.
	Peers int64 `json:"udp_peers"`
}

// PeerCounter is implemented by servers that keep a socket per UDP peer
// and can count them: the sockactor servers. Raw gnet keeps no per-peer
// state.
type PeerCounter interface {
	PeerStats(ctx context.Context) (PeerStats, error)
}

// RemoteNode is a server that is a remote node: its remote address.
type RemoteNode interface {
	RemoteAddr() string
}

// Server is one echo server implementation.
type Server interface {
	// Start binds cfg.Listen, starts serving and returns the bound address.
	Start(ctx context.Context, cfg Config) (net.Addr, error)
	// Stop shuts the server down, closing every connection. It is safe to
	// call once after a successful Start.
	Stop(ctx context.Context) error
}

// BanReport is what a Banner answers to a ban command.
type BanReport struct {
	// Conns is the number of sockets the ban was requested on.
	Conns int `json:"conns"`
	// Banned is the number of RecvDisconnect calls that succeeded.
	Banned int `json:"banned"`
	// Errors counts RecvDisconnect calls that failed; FirstError is the first.
	Errors     int    `json:"errors"`
	FirstError string `json:"first_error,omitempty"`
	// RTTNanos holds the round-trip time of every successful call.
	RTTNanos []int64 `json:"rtt_ns"`
	// Concurrency is the number of calls that were in flight at once.
	Concurrency int `json:"concurrency"`
	// ClosedBefore counts, by FD_CLOSE reason, the sockets that had closed
	// before the ban was asked (they are not in Conns).
	ClosedBefore map[string]int `json:"closed_before,omitempty"`
}

// BanStats is what a Banner answers to a stats command.
type BanStats struct {
	// HandlerBytes is every byte the handler received.
	HandlerBytes int64 `json:"handler_bytes"`
	// DuringBanBytes is bytes the handler received on a socket after its
	// RecvDisconnect was sent and before the reply arrived: the ban may or
	// may not have taken effect yet, so they are no violation.
	DuringBanBytes int64 `json:"during_ban_bytes"`
	// AfterBanBytes is bytes the handler received on a socket after the
	// RecvDisconnect reply arrived. The runtime promises zero.
	AfterBanBytes int64 `json:"after_ban_bytes"`
	// BannedBytes is the runtime's own count of discarded bytes
	// (SocketInfo), summed over banned sockets, or -1 when unknown.
	BannedBytes int64 `json:"banned_bytes"`
}

// Banner is implemented by servers that can impose the receive ban
// (RecvDisconnect) on every live connection: the sockactor servers.
type Banner interface {
	// BanAll sends RecvDisconnect to every connection the handler has seen
	// data on and reports each round trip.
	BanAll(ctx context.Context) (BanReport, error)
	// BanStats returns the handler's byte counters.
	BanStats(ctx context.Context) (BanStats, error)
}

// Factory makes a fresh, unstarted server.
type Factory func() Server

type entry struct {
	name, desc string
	order      int
	factory    Factory
	optional   bool // run only when named (-servers), never by default
}

var (
	regMu    sync.Mutex
	registry = map[string]entry{}
	aliases  = map[string]string{"rawgnet": "gnet"}
)

// Register makes a server available under name. order sorts Names (the
// order servers run in within a round); desc is a one-line description for
// the report. Registering a name twice replaces the first registration.
func Register(name string, order int, desc string, f Factory) {
	regMu.Lock()
	defer regMu.Unlock()
	registry[name] = entry{name: name, desc: desc, order: order, factory: f}
}

// RegisterOptional is Register for a server that runs only when asked for
// by name (-servers): a variant measured against its base, not part of the
// default comparison.
func RegisterOptional(name string, order int, desc string, f Factory) {
	regMu.Lock()
	defer regMu.Unlock()
	registry[name] = entry{name: name, desc: desc, order: order, factory: f, optional: true}
}

// Names returns the registered server names in run order, without the
// optional ones: the default comparison.
func Names() []string { return names(false) }

// All returns every registered server name in run order, the optional
// ones included.
func All() []string { return names(true) }

func names(optional bool) []string {
	regMu.Lock()
	defer regMu.Unlock()
	es := make([]entry, 0, len(registry))
	for _, e := range registry {
		if e.optional && !optional {
			continue
		}
		es = append(es, e)
	}
	sort.Slice(es, func(i, j int) bool {
		if es[i].order != es[j].order {
			return es[i].order < es[j].order
		}
		return es[i].name < es[j].name
	})
	out := make([]string, len(es))
	for i, e := range es {
		out[i] = e.name
	}
	return out
}

// Describe returns the one-line description of a registered server.
func Describe(name string) string {
	regMu.Lock()
	defer regMu.Unlock()
	return registry[Canonical(name)].desc
}

// Canonical resolves an alias (rawgnet) to its registered name.
func Canonical(name string) string {
	if a, ok := aliases[name]; ok {
		return a
	}
	return name
}

// ErrUnknownServer is returned by New for a name nobody registered.
var ErrUnknownServer = errors.New("unknown server")

// New returns a fresh server registered under name (or an alias of it).
func New(name string) (Server, error) {
	regMu.Lock()
	e, ok := registry[Canonical(name)]
	regMu.Unlock()
	if !ok {
		return nil, fmt.Errorf("%w %q (have %v)", ErrUnknownServer, name, Names())
	}
	return e.factory(), nil
}
