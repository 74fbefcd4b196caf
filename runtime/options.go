package runtime

import (
	"log/slog"
	"strconv"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"go.opentelemetry.io/otel/metric"

	"github.com/sockactor/sockactor/actors"
	"github.com/sockactor/sockactor/fleet"
	"github.com/sockactor/sockactor/netio"
	"github.com/sockactor/sockactor/winsock"
)

// Options configure a Runtime. The zero value works: one event loop per
// processor the process may use (GOMAXPROCS), ban policy reset, a 2 s
// linger, a fresh actor system.
type Options struct {
	// EventLoops is the number of gnet event loops (a runtime with a UDP
	// listener runs as many again for it). 0 means runtime.GOMAXPROCS(0)
	// as New finds it, not runtime.NumCPU: Go's default follows a
	// container's CPU quota (Go 1.25 and later, when the main module says
	// go 1.25 or later), and a GOMAXPROCS the process set counts as its
	// choice. The count is taken before any raise (KeepGOMAXPROCS): while
	// another runtime has raised GOMAXPROCS, New counts the value from
	// before that raise, so a raise never inflates the loop count. A
	// process that sets GOMAXPROCS above its CPUs to give the loops spare
	// processors should set EventLoops too.
	EventLoops int
	// BanPolicy is the default receive-ban policy of every listener and
	// dial (actors.BanDefault, the zero value, means actors.BanReset).
	BanPolicy actors.BanPolicy
	// Linger is how long a socket whose circuit closed by itself keeps
	// answering before it releases itself (actors.DefaultLinger if 0,
	// immediate release if negative; the release comes up to Linger/16,
	// at most 10 ms, after the linger ends, so that one timer wake-up
	// releases every socket whose linger ends in that slack). A socket still at work lingers
	// again: one whose application took bytes with Recv, or whose send side
	// moved (written, or taken by the peer), during the linger, and a
	// pooled one whose handler has not yet returned from its FD_CLOSE
	// (docs/SEMANTICS.md §5).
	Linger time.Duration
	// MaxSend bounds one Send payload (actors.DefaultMaxSend if 0).
	MaxSend int
	// RequestTimeout bounds the helper requests (actors.DefaultTimeout if 0).
	RequestTimeout time.Duration

	// Limits (docs/SEMANTICS.md §5). Each has a default; hitting one closes the
	// socket with FD_CLOSE 10055 "limit" (or refuses a Send with
	// WSAEWOULDBLOCK), and Stats counts it.

	// MaxConns bounds open connections, accepted and dialled
	// (65536 if 0; negative: no limit). Over it an
	// accepted connection gets FD_ACCEPT, then FD_CLOSE 10055 (RST), and
	// its socket is released at once (no Linger).
	MaxConns int
	// MaxInbound bounds received bytes waiting per socket, for a pooled
	// handler or unread in pull mode (actors.DefaultMaxInbound = 256 KiB).
	// A stream socket that reaches it stops being read (TCP's flow control
	// holds its peer) until its application has taken it down to a quarter;
	// nothing is closed or dropped. A datagram over it is dropped and
	// counted (UDP has no flow control).
	MaxInbound int
	// MaxBuffered bounds the sum of received bytes waiting in all sockets
	// (actors.DefaultMaxBuffered = 256 MiB). Over it, a stream socket that
	// receives while holding at least its fair share (MaxBuffered over the
	// sockets holding bytes) stops being read, so the largest holders pause
	// first; all resume once the sum is under three quarters of it.
	// Datagrams over it are dropped and counted.
	MaxBuffered int64
	// PoolSize bounds the goroutines that run pooled handlers
	// (actors.DefaultPoolSize = 10,000 if 0): so many handler calls run at
	// once, each on a worker the pool reuses from read to read; when all of
	// them are busy (handlers that block), other pooled sockets' messages
	// wait for the first to return. Workers are started when needed; one
	// left unused for 10 s ends when another is done, and all of them at
	// Shutdown.
	PoolSize int
	// SendHighWater bounds outbound bytes queued per socket
	// (actors.DefaultSendHighWater = 4 MiB); SendLowWater is where FD_WRITE
	// is posted after a refusal (a quarter of the high-water mark if 0; New
	// refuses one above the high-water mark).
	SendHighWater, SendLowWater int
	// IdleTimeout closes a socket with FD_CLOSE 10060 "timeout" after that
	// long without a byte in either direction. 0 (the default) disables it.
	IdleTimeout time.Duration
	// DisableReuseAddr turns SO_REUSEADDR off on the listeners. By default
	// it is on, so a restarted runtime can listen again at once on a port
	// whose old connections are still in TIME_WAIT; without it Start fails
	// with WSAEADDRINUSE until they expire.
	DisableReuseAddr bool
	// ReusePort sets SO_REUSEPORT on TCP and tls:// listeners: several
	// processes (or runtimes) can listen on one port and the kernel
	// spreads new connections over them, e.g. a new version started
	// beside the old one before the old one stops. Such a listener binds
	// in Listen, before or after Start, so an address another process
	// holds without SO_REUSEPORT fails Listen with WSAEADDRINUSE; it is
	// served by an accept goroutine that hands each connection to an
	// event loop. Two listeners of one runtime on one address are still
	// refused. Off by default: a second process on the same port is then
	// an error, not a silent split of the traffic.
	ReusePort bool
	// Transport tuning (gnet's options).

	// ReadBufferCap is each event loop's read buffer in bytes (gnet's
	// default, 64 KiB, if 0): the most one read hands a handler.
	ReadBufferCap int
	// DisableTCPNoDelay lets the kernel coalesce small writes (Nagle's
	// algorithm); by default TCP_NODELAY is set on every TCP connection.
	DisableTCPNoDelay bool
	// TCPKeepAlive turns TCP keepalive on for every TCP connection, with
	// this idle time and probe interval (0: off, the default).
	TCPKeepAlive time.Duration
	// LoadBalancing spreads connections over the event loops:
	// "least-connections" (the default, also "") or "source-addr-hash"
	// (a peer's connections share a loop).
	LoadBalancing string

	// TLSHandshakeTimeout bounds one TLS handshake of a tls:// socket,
	// accepted or dialled (10 s if 0). A handshake over it closes the
	// connection and is counted (Stats.TLS.HandshakeFailed); a dial ends
	// with FD_CONNECT 10053.
	TLSHandshakeTimeout time.Duration
	// MaxTLSHandshakes bounds the TLS handshakes of accepted connections
	// in progress at once (1024 if 0): each holds a goroutine and its
	// socket until it completes or times out. A connection accepted over
	// it makes room by resetting the oldest handshake still running
	// (counted in Stats.TLS.HandshakeEvicted): a flood of stalled
	// handshakes costs bounded memory, and a real client, whose handshake
	// takes a round trip or two, still gets through.
	MaxTLSHandshakes int
	// KeepGOMAXPROCS stops Start from raising GOMAXPROCS. By default, when
	// the GOMAXPROCS environment variable is unset, Start raises
	// GOMAXPROCS for the runtime's life: gnet's loops block in epoll_wait
	// and each needs a spare P, or event latency reaches the scheduler's
	// 10 ms (see SuggestedGOMAXPROCS). The raise is computed from the
	// process's GOMAXPROCS before it (by default Go's, from the CPU quota),
	// never from runtime.NumCPU: that value plus one per event loop of
	// every runtime that raised it plus one. Shutdown takes the runtime's
	// loops out again, and the last such runtime puts the value from before
	// back (handing it back to Go's own quota tracking when it was Go's
	// default; Go stops following quota changes while a value is set). A
	// value the process set itself is never changed: GOMAXPROCS in the
	// environment, or a runtime.GOMAXPROCS call after Start (the raise then
	// leaves GOMAXPROCS alone, Shutdown too).
	KeepGOMAXPROCS bool
	// Logger gets anomalies such as handler panics; nil means slog.Default().
	// protoactor's own lines go to it too, at ActorLogLevel and up.
	Logger *slog.Logger
	// ActorLogLevel is the least level of protoactor's own log lines that
	// reach Logger (nil: slog.LevelWarn, so "actor system started" and
	// dead-letter lines stay out). See runtime/logging.go.
	ActorLogLevel slog.Leveler
	// MeterProvider receives the runtime's metrics (runtime/metrics.go);
	// nil means the global one, otel.GetMeterProvider().
	MeterProvider metric.MeterProvider
	// ActorSystem lets the caller bring a configured system (for example
	// with protoactor remote already started); nil means the runtime makes
	// and owns one.
	ActorSystem *actor.ActorSystem
	// Remote, if set, starts protoactor remote on the runtime's system so
	// that its sockets and its node actor are reachable from other nodes
	// (docs/SEMANTICS.md §7; remote.go).
	Remote *RemoteOptions
	// Snapshots keeps the table of open sockets that Snapshot lists (about
	// 100 bytes per open socket). Always on for a runtime with remote.
	Snapshots bool
	// Fleet, if set, registers the node in etcd (package fleet; needs
	// Remote): once Start has bound the listeners and the node actor
	// answers, under a lease kept alive, with its listeners, kept current
	// as listeners are added or closed while it runs; Shutdown revokes it
	// first (docs/SEMANTICS.md §7, fleet.go).
	Fleet *fleet.Config
}

// Validate reports the first option that makes no sense: a negative event
// loop count, Send size, inbound limit, water mark, request or idle timeout;
// a low-water mark above the high-water mark (either given or defaulted);
// an unknown ban policy. The error wraps WSAEINVAL (winsock.ErrInvalid) and
// names the field. Zero values always mean the documented default.
func (o Options) Validate() error {
	bad := func(field, why string) error {
		return &winsock.OpError{Op: "New", Code: winsock.WSAEINVAL, Detail: "Options." + field + " " + why}
	}
	for _, f := range []struct {
		name     string
		negative bool
	}{
		{"EventLoops", o.EventLoops < 0},
		{"MaxSend", o.MaxSend < 0},
		{"MaxInbound", o.MaxInbound < 0},
		{"MaxBuffered", o.MaxBuffered < 0},
		{"PoolSize", o.PoolSize < 0},
		{"SendHighWater", o.SendHighWater < 0},
		{"SendLowWater", o.SendLowWater < 0},
		{"RequestTimeout", o.RequestTimeout < 0},
		{"IdleTimeout", o.IdleTimeout < 0},
		{"ReadBufferCap", o.ReadBufferCap < 0},
		{"TCPKeepAlive", o.TCPKeepAlive < 0},
		{"TLSHandshakeTimeout", o.TLSHandshakeTimeout < 0},
		{"MaxTLSHandshakes", o.MaxTLSHandshakes < 0},
	} {
		if f.negative {
			return bad(f.name, "is negative")
		}
	}
	if _, ok := loadBalancing(o.LoadBalancing); !ok {
		return bad("LoadBalancing", "is not least-connections or source-addr-hash")
	}
	if !o.BanPolicy.Valid() {
		return bad("BanPolicy", "is not BanDefault, BanReset or BanDiscard")
	}
	if err := o.Remote.validate(); err != nil {
		return err
	}
	if err := o.validateFleet(); err != nil {
		return err
	}
	high := o.SendHighWater
	if high == 0 {
		high = actors.DefaultSendHighWater
	}
	if o.SendLowWater > high {
		return bad("SendLowWater", "is above the high-water mark ("+strconv.Itoa(high)+" bytes)")
	}
	return nil
}

// loadBalancing parses Options.LoadBalancing.
func loadBalancing(s string) (netio.LoadBalancing, bool) {
	switch s {
	case "", "least-connections":
		return netio.LeastConnections, true
	case "source-addr-hash":
		return netio.SourceAddrHash, true
	}
	return netio.LeastConnections, false
}
