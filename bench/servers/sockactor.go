package servers

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	goruntime "runtime"
	"strings"
	"sync"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"go.opentelemetry.io/otel/metric"

	"github.com/sockactor/sockactor/actors"
	"github.com/sockactor/sockactor/events"
	sockrt "github.com/sockactor/sockactor/runtime"
	"github.com/sockactor/sockactor/winsock"
)

func init() {
	Register("sockactor-inline", 30, "sockactor echo, actors.Inline dispatch (handler on the gnet event loop)",
		func() Server { return &sockactorServer{dispatch: actors.Inline} })
	Register("sockactor-pooled", 40, "sockactor echo, actors.Pooled dispatch (handler on the runtime's worker pool, RecycleReads)",
		func() Server { return &sockactorServer{dispatch: actors.Pooled} })
}

// sockactorServer is the sockactor echo server: one runtime, one listener
// whose handler writes back what it receives. With a Control it also runs
// FD_CLOSE subscriber actors; with a ban policy it keeps per-socket byte
// counters for the receive-ban scenario.
type sockactorServer struct {
	dispatch actors.Dispatch
	rt       *sockrt.Runtime
	fanIn    *CloseFanIn
	// track is set when the ban scenario's accounting is on: the echo
	// scenarios run the bare handler so the figures are the runtime's own.
	track bool
	// meterProvider, when set, receives the runtime's metrics
	// (sockactor-inline-metrics); nil leaves the global no-op one.
	meterProvider metric.MeterProvider

	// flood is the bytes the flood-writer handler writes to each socket.
	flood int
	// period is the slow consumer's time per ConsumeChunk; consumed its
	// counters (slow-consumer mode).
	period   time.Duration
	consumed consumerCounts

	mu      sync.Mutex
	sockets map[uint64]*banState
}

// Start builds the runtime, declares the listener, subscribes the FD_CLOSE
// subscribers and starts.
func (s *sockactorServer) Start(ctx context.Context, cfg Config) (net.Addr, error) {
	if err := checkMode("sockactor", cfg, ModeFloodWriter, ModeSlowConsumer); err != nil {
		return nil, err
	}
	opts := sockrt.Options{
		Logger:        slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
		MeterProvider: s.meterProvider,
		SendHighWater: cfg.SendHighWater,
		MaxInbound:    cfg.MaxInbound,
		// As many loops as the raw gnet server (WithMulticore: one per
		// CPU): the harness sets GOMAXPROCS above the CPU count for every
		// server, which would otherwise be the runtime's default.
		EventLoops: goruntime.NumCPU(),
	}
	switch cfg.BanPolicy {
	case "":
	case "reset":
		opts.BanPolicy, s.track = actors.BanReset, true
	case "discard":
		opts.BanPolicy, s.track = actors.BanDiscard, true
	default:
		return nil, fmt.Errorf("unknown ban policy %q (reset or discard)", cfg.BanPolicy)
	}
	if cfg.Remote != "" {
		opts.Remote = &sockrt.RemoteOptions{Listen: cfg.Remote}
		opts.Fleet = cfg.Fleet
	}
	s.sockets = make(map[uint64]*banState)
	rt, err := sockrt.New(opts)
	if err != nil {
		return nil, err
	}
	s.rt = rt
	handler := actors.HandlerFunc(s.echo)
	switch {
	case cfg.Mode == ModeFloodWriter:
		s.flood, handler = cfg.floodBytes(), s.floodWriter
	case cfg.Mode == ModeSlowConsumer && s.dispatch == actors.Pooled:
		s.period, handler = cfg.consumePeriod(), s.slowPooled
	case cfg.Mode == ModeSlowConsumer:
		s.period, handler = cfg.consumePeriod(), s.pullReader
	case s.track:
		handler = s.echoTracked
	}
	network := cfg.network()
	lopts := actors.ListenOptions{Dispatch: s.dispatch, RecycleReads: true} // no handler here keeps Received.Data
	// An Inline handler must not block: its slow consumer pulls on a timer.
	lopts.Pull = cfg.Mode == ModeSlowConsumer && s.dispatch == actors.Inline
	if network == NetUDP {
		lopts = udpListenOptions(lopts, cfg.MaxPeers, cfg.PeerIdleTimeout)
	}
	ln, err := rt.Listen(network+"://"+cfg.Listen, handler, lopts)
	if err != nil {
		_ = rt.Shutdown(ctx)
		if isUnsupportedNetwork(err) {
			return nil, unsupported("the runtime refuses %s:// (%v)", network, err)
		}
		return nil, err
	}
	if cfg.Control != nil {
		s.fanIn = NewCloseFanIn(cfg.Subscribers, cfg.Control)
		n := max(cfg.Subscribers, 1)
		for range n {
			pid := rt.System().Root.Spawn(actor.PropsFromFunc(s.subscriber))
			if err := rt.Subscribe(pid, events.MaskOf(events.FDClose)); err != nil {
				return nil, fmt.Errorf("subscribe: %w", err)
			}
		}
	}
	if err := rt.Start(ctx); err != nil {
		return nil, err
	}
	addr, err := listenerAddr(network, ln.Listener.Addr(), cfg.Listen)
	if err != nil {
		_ = rt.Shutdown(ctx)
		return nil, err
	}
	return addr, nil
}

// listenerAddr turns the listener's bound address (host:port, or the path
// of a unix socket) into the net.Addr of its network. A unix listener
// that reports no address is at the path it was given.
func listenerAddr(network, bound, asked string) (net.Addr, error) {
	if bound == "" && network != NetUnix {
		return nil, errors.New("listener has no address after Start")
	}
	switch network {
	case NetUDP:
		return net.ResolveUDPAddr("udp", bound)
	case NetUnix:
		if bound == "" {
			bound = asked
		}
		return &net.UnixAddr{Name: strings.TrimPrefix(bound, "unix://"), Net: "unix"}, nil
	}
	return net.ResolveTCPAddr("tcp", bound)
}

// isUnsupportedNetwork reports whether err is the runtime refusing the
// address's network (WSAEINVAL "unsupported network"), as the runtime
// refuses udp:// and unix:// until it serves them.
func isUnsupportedNetwork(err error) bool {
	return errors.Is(err, winsock.ErrInvalid) && strings.Contains(err.Error(), "unsupported network")
}

// udpListenOptions returns the options of a UDP listener: base with the
// listener's peer table bounded at maxPeers peers and each peer ended
// (FD_CLOSE 10060) after peerIdle without a datagram either way; 0 leaves
// the runtime's default for either (65,536 peers, 60 s).
func udpListenOptions(base actors.ListenOptions, maxPeers int, peerIdle time.Duration) actors.ListenOptions {
	base.MaxPeers, base.PeerIdleTimeout = maxPeers, peerIdle
	return base
}

// PeerStats implements PeerCounter: the runtime's socket counters, UDP
// peers included.
func (s *sockactorServer) PeerStats(context.Context) (PeerStats, error) {
	st := s.rt.Stats()
	return PeerStats{Open: st.Sockets.Open, Accepted: st.Sockets.Accepted, Closed: st.Sockets.Closed,
		SendsRefused: st.Sockets.SendsRefused, Peers: st.Conns.Peers}, nil
}

// RemoteAddr returns the runtime's remote address ("nonhost" without
// remote).
func (s *sockactorServer) RemoteAddr() string { return s.rt.Address() }

// echo is the handler of the echo scenarios: the echo, and a close once
// the peer has closed (its socket would otherwise stay half-open, writable,
// for the linger: docs/SEMANTICS.md §5).
func (s *sockactorServer) echo(c *actors.Context) {
	switch m := c.Message().(type) {
	case *actors.Received:
		_, _ = c.Write(m.Data)
	case *events.Event:
		closeOnPeerClose(c, m)
	}
}

// closeOnPeerClose closes a socket whose peer sent FIN, after what the
// handler already wrote (the Close goes through the socket's mailbox).
func closeOnPeerClose(c *actors.Context, ev *events.Event) {
	if actors.ReasonOf(ev) == actors.ReasonPeerClose {
		c.Send(c.Self(), &actors.Close{})
	}
}

// subscriber is the Receive of each FD_CLOSE subscriber actor.
func (s *sockactorServer) subscriber(ctx actor.Context) {
	ev, ok := ctx.Message().(*events.Event)
	if !ok || events.Kind(ev.Kind) != events.FDClose {
		return
	}
	now := time.Now().UnixNano()
	s.fanIn.Deliver(ev.SocketId, ev.RemoteAddr, now, ev.TimeUnixNano)
}

// Stop shuts the runtime down.
func (s *sockactorServer) Stop(ctx context.Context) error {
	return s.rt.Shutdown(ctx)
}
