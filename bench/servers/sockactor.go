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
	"sync/atomic"
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
	Register("sockactor-pooled", 40, "sockactor echo, actors.Pooled dispatch (handler on protoactor's dispatcher)",
		func() Server { return &sockactorServer{dispatch: actors.Pooled} })
}

// banConcurrency is how many RecvDisconnect calls BanAll keeps in flight.
const banConcurrency = 16

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

// banState is the ban bookkeeping of one socket.
type banState struct {
	pid       *actor.PID
	requested atomic.Bool            // RecvDisconnect sent
	closedBy  atomic.Pointer[string] // FD_CLOSE reason, once closed
	replied   atomic.Bool            // RecvDisconnect answered: the ban is in force
	bytes     atomic.Int64
	during    atomic.Int64
	after     atomic.Int64
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
	lopts := actors.ListenOptions{Dispatch: s.dispatch}
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

// floodLeft is a flood writer's count of bytes still to write to its
// socket (the handler's state).
type floodLeft struct{ n int }

// floodWriter is the handler of the flood-writer mode: on every FD_WRITE
// (the first follows FD_ACCEPT) it writes FloodChunk after FloodChunk
// until the socket's flood is written or a write is refused. A refusal
// (WSAEWOULDBLOCK, the queue over the high-water mark) owes an FD_WRITE
// once the queue drains below the low-water mark, and the writer goes on
// then; against a peer that never reads it waits for good, which is what
// the hostile scenario measures. What the peer sends is discarded.
func (s *sockactorServer) floodWriter(c *actors.Context) {
	ev, ok := c.Message().(*events.Event)
	if !ok {
		return
	}
	switch events.Kind(ev.Kind) {
	case events.FDWrite:
		left, _ := c.State().(*floodLeft)
		if left == nil {
			left = &floodLeft{n: s.flood}
			c.SetState(left)
		}
		for left.n > 0 {
			n := min(left.n, FloodChunk)
			if _, err := c.Write(floodBuf[:n]); err != nil {
				return // refused: FD_WRITE follows the drain; or the socket is going
			}
			left.n -= n
		}
	case events.FDClose:
		closeOnPeerClose(c, ev)
	}
}

// slowPooled is the pooled handler of the slow-consumer mode: it sleeps
// after every read, long enough to keep the socket at the consumer's rate
// (a pooled handler may block). The runtime pauses the socket's reads once
// MaxInbound bytes wait for it, so TCP's flow control holds the peer.
func (s *sockactorServer) slowPooled(c *actors.Context) {
	switch m := c.Message().(type) {
	case *actors.Received:
		p, _ := c.State().(*pacer)
		if p == nil {
			p = &pacer{period: s.period}
			c.SetState(p)
		}
		s.consumed.bytes.Add(int64(len(m.Data)))
		time.Sleep(p.after(len(m.Data)))
	case *events.Event:
		s.consumerEvent(c, m, true)
	}
}

// consumeTick is the pull reader's timer: Recv the next bite.
type consumeTick struct{}

// pullReader is the Inline handler of the slow-consumer mode, on a
// pull-mode listener: it Recvs up to ConsumeChunk once per period (a
// timer, c.After: an Inline handler must not block), from FD_ACCEPT until
// the stream has ended. The bytes wait in the socket meanwhile; the runtime
// pauses its reads once MaxInbound of them wait.
func (s *sockactorServer) pullReader(c *actors.Context) {
	switch m := c.Message().(type) {
	case *events.Event:
		if m.EventKind() == events.FDAccept {
			c.SetState(&pacer{period: s.period})
			c.Recv(ConsumeChunk)
		}
		s.consumerEvent(c, m, false)
	case *consumeTick:
		c.Recv(ConsumeChunk)
	case *actors.RecvResult:
		s.consumed.bytes.Add(int64(len(m.Data)))
		switch err := m.Err(); {
		case err == nil && len(m.Data) == 0:
			c.Close() // 0 bytes, code 0: the peer's FIN, every byte taken
		case err == nil || errors.Is(err, winsock.ErrWouldBlock):
			p := c.State().(*pacer)
			c.After(p.after(ConsumeChunk), &consumeTick{})
		}
		// Any other code: the socket is gone, and so is the timer's reason.
	}
}

// consumerEvent counts a slow consumer's accepted sockets and the ones
// that ended otherwise than by their peer's FIN (or the server's stop),
// and closes a push socket at its peer's FIN (a pull socket closes once
// Recv has said the stream ended).
func (s *sockactorServer) consumerEvent(c *actors.Context, ev *events.Event, push bool) {
	switch ev.EventKind() {
	case events.FDAccept:
		s.consumed.conns.Add(1)
	case events.FDClose:
		if ev.Reason != "peer-close" && ev.Reason != "shutdown" && ev.Reason != "local-close" {
			s.consumed.closed.Add(1)
		}
		if push {
			closeOnPeerClose(c, ev)
		}
	}
}

// ConsumerStats implements Consumer.
func (s *sockactorServer) ConsumerStats() ConsumerStats { return s.consumed.stats() }

// closeOnPeerClose closes a socket whose peer sent FIN, after what the
// handler already wrote (the Close goes through the socket's mailbox).
func closeOnPeerClose(c *actors.Context, ev *events.Event) {
	if events.Kind(ev.Kind) == events.FDClose && ev.Reason == "peer-close" {
		c.Send(c.Self(), &actors.Close{})
	}
}

// echoTracked is the handler of the ban scenario: the echo plus per-socket
// byte counters split by where the socket's ban stands.
func (s *sockactorServer) echoTracked(c *actors.Context) {
	st, _ := c.State().(*banState)
	if st == nil {
		// First message of the socket (its own FD_ACCEPT): register it.
		st = &banState{pid: c.Self()}
		c.SetState(st)
		s.mu.Lock()
		s.sockets[c.ID()] = st
		s.mu.Unlock()
	}
	switch m := c.Message().(type) {
	case *actors.Received:
		n := int64(len(m.Data))
		st.bytes.Add(n)
		switch {
		case st.replied.Load():
			st.after.Add(n)
		case st.requested.Load():
			st.during.Add(n)
		}
		_, _ = c.Write(m.Data)
	case *events.Event:
		if events.Kind(m.Kind) == events.FDClose {
			// Keep the counters (they are summed by BanStats) but stop
			// offering the socket to BanAll.
			if !st.requested.Load() {
				reason := m.Reason
				st.closedBy.Store(&reason)
			}
			st.requested.Store(true)
			closeOnPeerClose(c, m)
		}
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

// BanAll implements Banner: RecvDisconnect on every socket that has
// received data, banConcurrency calls at a time.
func (s *sockactorServer) BanAll(ctx context.Context) (BanReport, error) {
	if !s.track {
		return BanReport{}, errors.New("start the server with a ban policy to use the ban")
	}
	s.mu.Lock()
	todo := make([]*banState, 0, len(s.sockets))
	closedBefore := map[string]int{}
	for _, st := range s.sockets {
		switch r := st.closedBy.Load(); {
		case r != nil:
			closedBefore[*r]++
		case !st.requested.Load():
			todo = append(todo, st)
		}
	}
	s.mu.Unlock()
	rep := BanReport{Conns: len(todo), Concurrency: banConcurrency, RTTNanos: make([]int64, 0, len(todo)), ClosedBefore: closedBefore}
	var (
		mu   sync.Mutex
		wg   sync.WaitGroup
		next atomic.Int64
	)
	for range min(banConcurrency, len(todo)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= len(todo) {
					return
				}
				st := todo[i]
				st.requested.Store(true)
				t0 := time.Now()
				_, err := s.rt.RecvDisconnect(ctx, st.pid)
				rtt := time.Since(t0)
				if err == nil {
					st.replied.Store(true)
				}
				mu.Lock()
				if err != nil {
					rep.Errors++
					if rep.FirstError == "" {
						rep.FirstError = err.Error()
					}
				} else {
					rep.Banned++
					rep.RTTNanos = append(rep.RTTNanos, int64(rtt))
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return rep, nil
}

// BanStats implements Banner.
func (s *sockactorServer) BanStats(ctx context.Context) (BanStats, error) {
	s.mu.Lock()
	all := make([]*banState, 0, len(s.sockets))
	for _, st := range s.sockets {
		all = append(all, st)
	}
	s.mu.Unlock()
	var out BanStats
	for _, st := range all {
		out.HandlerBytes += st.bytes.Load()
		out.DuringBanBytes += st.during.Load()
		out.AfterBanBytes += st.after.Load()
		if !st.replied.Load() || out.BannedBytes < 0 {
			continue
		}
		info, err := s.rt.Info(ctx, st.pid)
		if err != nil {
			out.BannedBytes = -1 // released or unreachable: the sum would be partial
			continue
		}
		out.BannedBytes += int64(info.BannedBytes)
	}
	return out, nil
}

// Stop shuts the runtime down.
func (s *sockactorServer) Stop(ctx context.Context) error {
	return s.rt.Shutdown(ctx)
}
