package runtime

import (
	"context"
	"net"
	"sync"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/sockactor/sockactor/actors"
	"github.com/sockactor/sockactor/events"
	"github.com/sockactor/sockactor/netio"
	"github.com/sockactor/sockactor/winsock"
)

type state uint8

const (
	stateNew state = iota
	stateRunning
	stateStopped
)

// Runtime is one sockactor runtime: one protoactor ActorSystem, one gnet
// engine, and the socket actors between them. Declare listeners with Listen,
// then Start; Shutdown stops everything.
//
// The embedded actors.Caller gives request helpers (RecvDisconnect, Send,
// SendDisconnect, SuspendReading, ResumeReading, Close, Info, ...) for code
// that is not an actor.
//
// All methods are safe for concurrent use.
type Runtime struct {
	actors.Caller

	system    *actor.ActorSystem
	ownSystem bool
	hub       *events.Hub
	host      *actors.Host
	eng       *netio.Engine
	metrics   *metricSet
	remote    *remoteNode // nil without remote (remote.go)
	node      *actor.PID  // the node actor (node.go)
	funcSubs  funcSubs    // SubscribeFunc's actors (subscribe.go)
	fleet     fleetNode   // the fleet registration (fleet.go)

	opts        Options
	procsRaised int // the event loops Start counted in the GOMAXPROCS raise (procs.go), 0 if none; Shutdown takes them out

	mu       sync.Mutex
	state    state
	stopDone chan struct{}
	stopErr  error
}

// New builds a Runtime. It opens no socket until Start.
//
// It returns an error wrapping WSAEINVAL (winsock.ErrInvalid) for options that
// make no sense (see Options.Validate); it never rewrites them silently.
func New(opts Options) (*Runtime, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	rt := &Runtime{system: opts.ActorSystem, opts: opts, stopDone: make(chan struct{})}
	if rt.system == nil {
		rt.system = actor.NewActorSystem(
			ActorSystemLogging(opts.Logger, opts.ActorLogLevel),
			// Requests to released sockets end in protoactor's dead-letter
			// process, whose log throttle holds a goroutine for one
			// interval; keep it short so nothing outlives Shutdown for long.
			actor.WithDeadLetterThrottleInterval(100*time.Millisecond),
		)
		rt.ownSystem = true
		compactRegistry(rt.system) // protoactorinternal.go: fewer, shared map groups per socket
	}
	if err := rt.startRemote(opts); err != nil { // before any PID is made
		return nil, err
	}
	rt.hub = events.NewHub(rt.system, "sockactor/events-"+rt.system.ProcessRegistry.NextId())
	rt.host = actors.NewHost(rt.system, rt.hub, actors.HostOptions{
		BanPolicy:     opts.BanPolicy,
		Linger:        opts.Linger,
		MaxSend:       opts.MaxSend,
		Logger:        opts.Logger,
		MaxInbound:    opts.MaxInbound,
		PoolSize:      opts.PoolSize,
		MaxBuffered:   opts.MaxBuffered,
		SendHighWater: opts.SendHighWater,
		SendLowWater:  opts.SendLowWater,
	})
	loops := opts.EventLoops
	if loops == 0 {
		loops = baseGOMAXPROCS() // before Start's raise (procs.go)
	}
	lb, _ := loadBalancing(opts.LoadBalancing) // checked by Validate
	rt.eng = netio.NewEngine(rt.host.Transport(), netio.Options{
		EventLoops:          loops,
		Logger:              opts.Logger,
		MaxConns:            opts.MaxConns,
		IdleTimeout:         opts.IdleTimeout,
		DisableReuseAddr:    opts.DisableReuseAddr,
		ReusePort:           opts.ReusePort,
		ReadBufferCap:       opts.ReadBufferCap,
		DisableTCPNoDelay:   opts.DisableTCPNoDelay,
		TCPKeepAlive:        opts.TCPKeepAlive,
		LoadBalancing:       lb,
		TLSHandshakeTimeout: opts.TLSHandshakeTimeout,
		MaxTLSHandshakes:    opts.MaxTLSHandshakes,
	})
	rt.Caller = actors.Caller{System: rt.system, Timeout: opts.RequestTimeout}
	if err := rt.startNode(opts); err != nil {
		rt.hub.Close()
		rt.stopRemote()
		return nil, err
	}
	if err := rt.startMetrics(opts.MeterProvider); err != nil {
		rt.stopNode()
		rt.hub.Close()
		rt.stopRemote()
		return nil, err
	}
	return rt, nil
}

// Listen declares a listener on addr ("tcp://host:port", "unix:///path",
// "tls://host:port" with opts.TLS set, see docs/SEMANTICS.md §8, or
// "udp://host:port" for a UDP listener whose peers are sockets, see
// docs/SEMANTICS.md §6; port 0 picks a free one) whose sockets run h.
// Before Start it is bound by Start; on a running runtime a TCP, unix or
// TLS listener is bound and serving when Listen returns, and so is a UDP
// one (on an engine of its own). Closing a TCP, unix or
// TLS listener (Close to its PID) stops it accepting, frees its address at
// once and leaves its sockets alone.
//
// A listener gets the address it asked for or an error; it never moves to
// another port. An address this runtime already listens on (the same
// protocol and host:port once resolved, or the same unix path; port 0 is
// never a duplicate, and TCP and UDP on one port are two addresses) is
// refused here with WSAEADDRINUSE, errors.Is(err, syscall.EADDRINUSE)
// holding. An address another process holds, or two listeners of the
// runtime the kernel will not let share a port (a wildcard and a specific
// address on one port), make Start fail with WSAEADDRINUSE, leaving no
// listener bound.
//
// With Options.Fleet, the runtime's fleet registration lists the listeners
// Listen made that no request has closed: one added or closed while the
// runtime runs is published at once (fleet.Registration.SetListeners; the
// key is written again, and watchers report CHANGE).
func (rt *Runtime) Listen(addr string, h actors.Handler, opts actors.ListenOptions) (*Listener, error) {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	if rt.state == stateStopped {
		return nil, &winsock.OpError{Op: "Listen", Code: winsock.WSAENETDOWN, Detail: "runtime shut down or shutting down"}
	}
	if h == nil {
		return nil, &winsock.OpError{Op: "Listen", Code: winsock.WSAEINVAL, Detail: "nil handler"}
	}
	var nl *netio.Listener
	var err error
	if opts.TLS != nil {
		nl, err = rt.eng.ListenTLS(addr, opts.TLS)
	} else {
		nl, err = rt.eng.Listen(addr)
	}
	if err != nil {
		return nil, err
	}
	al, err := rt.host.AddListener(nl, h, opts)
	if err != nil {
		_ = nl.Close()
		return nil, err
	}
	// While running: accepting (or a UDP listener's engine) starts now
	// that its actor exists.
	if err := nl.Serve(rt.eng); err != nil {
		_ = rt.Close(context.Background(), al.PID())
		return nil, err
	}
	l := &Listener{Listener: al}
	rt.trackListener(l) // fleet.go: the fleet's Member lists it from now on
	return l, nil
}

// Listener is a declared listener: its actor (PID, ID, Info through the
// socket messages) and, once the runtime runs, its bound address.
type Listener struct {
	*actors.Listener
}

// Addr returns the bound address (the real port when port 0 was asked): a
// *net.TCPAddr, a *net.UDPAddr for a UDP listener, or for a unix listener
// its path as a *net.UnixAddr; nil before Start.
func (l *Listener) Addr() net.Addr {
	s := l.Listener.Addr()
	if l.Network() == "unix" {
		return &net.UnixAddr{Name: s, Net: "unix"}
	}
	if s == "" {
		return nil
	}
	var a net.Addr
	var err error
	if l.Listener.Datagram() {
		a, err = net.ResolveUDPAddr("udp", s)
	} else {
		a, err = net.ResolveTCPAddr("tcp", s)
	}
	if err != nil {
		return nil
	}
	return a
}

// Start boots the event loops and binds every declared listener; it returns
// once connections are accepted. ctx bounds the boot only. A bind failure
// (WSAEADDRINUSE, WSAEADDRNOTAVAIL, ...; see Listen) leaves no descriptor
// or goroutine behind; Shutdown then releases the rest of the runtime.
func (rt *Runtime) Start(ctx context.Context) error {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	if rt.state != stateNew {
		return &winsock.OpError{Op: "Start", Code: winsock.WSAEINVAL, Detail: "already started"}
	}
	if err := rt.eng.Start(ctx); err != nil {
		return err
	}
	if loops := rt.loops(); !rt.opts.KeepGOMAXPROCS && raiseGOMAXPROCS(loops) {
		rt.procsRaised = loops
	}
	rt.state = stateRunning
	rt.startFleet()
	return nil
}

// loops is the number of gnet event loops the runtime runs: one set for TCP
// and unix, another when it has a UDP listener.
func (rt *Runtime) loops() int {
	n := rt.eng.EventLoops()
	if rt.eng.HasUDP() {
		n *= 2
	}
	return n
}

// Shutdown stops the runtime gracefully: every open socket is closed with
// FD_CLOSE 10050 "shutdown" (delivered to subscribers before Shutdown
// returns), lingering sockets and listeners are released, and the actor
// system (if the runtime made it) is shut down. It returns ctx.Err() if ctx
// ends first; calling it again waits for the same completion. Idempotent.
func (rt *Runtime) Shutdown(ctx context.Context) error {
	rt.mu.Lock()
	first := rt.state != stateStopped
	rt.state = stateStopped
	rt.mu.Unlock()
	if first {
		go rt.shutdown()
	}
	select {
	case <-rt.stopDone:
		return rt.stopErr
	case <-ctx.Done():
		return ctx.Err()
	}
}

// CloseNow is the hard stop beside Shutdown (named so because Close(ctx,
// pid), from the embedded Caller, closes one socket). It stops the runtime
// at once: like Shutdown, every open socket gets
// FD_CLOSE 10050 "shutdown" before CloseNow returns, but connections are reset
// (RST) instead of closed gracefully, and nothing waits on a peer: queued
// bytes, including a half-open socket's, are dropped and counted in
// Stats().Conns.SendDropped. Calling it during or after Shutdown cuts a
// graceful stop short. Idempotent; safe for concurrent use.
func (rt *Runtime) CloseNow() error {
	rt.eng.SetAbortive()
	return rt.Shutdown(context.Background())
}

// shutdown is the one stop sequence. Goroutine: its own, started by the
// first Shutdown or CloseNow.
func (rt *Runtime) shutdown() {
	defer close(rt.stopDone)
	rt.stopFleet() // first: the fleet sees the node leave at once
	rt.host.SetDown()
	// Before any socket closes: a snapshot subscriber (a fleet watcher)
	// hears Leaving ahead of every FD_CLOSE of this stop, on the same
	// ordered path as the events, and gets none after it.
	rt.hub.Leave(rt.Address())
	// No new dial, linger or After timer from here on; dials in progress
	// end (FD_CONNECT WSAENETDOWN), pending timers are dropped (the release
	// below covers the lingering sockets).
	rt.host.StopTasks()
	rt.stopErr = rt.eng.Stop(context.Background())
	rt.host.ReleaseAll()
	_ = rt.host.WaitTasks(context.Background()) // each ends promptly now
	rt.stopFuncSubs()                           // after the last FD_CLOSE was queued to them
	rt.hub.Close()
	rt.stopNode()
	rt.stopRemote()
	if rt.ownSystem {
		rt.system.Shutdown()
	}
	rt.stopMetrics()
	if rt.procsRaised > 0 {
		lowerGOMAXPROCS(rt.procsRaised)
	}
}

// Dial connects to addr ("tcp://host:port") on the runtime's event loops and
// returns the new socket's PID at once; FD_CONNECT (to h, to
// opts.Subscribers and to runtime-wide subscribers) ends the dial with 0 or
// WSAECONNREFUSED, WSAETIMEDOUT, WSAHOST_NOT_FOUND, WSAEADDRNOTAVAIL or
// WSAENETDOWN. ctx bounds only this call; DialOptions.Timeout (default 10 s)
// bounds the connect, which a cancel of ctx after Dial returned does not
// abort. Errors: ctx.Err() when ctx is already done (errors.Is(err,
// context.Canceled) or context.DeadlineExceeded holds; no socket is made),
// WSAEINVAL for a bad address or handler, WSANOTINITIALISED before Start or
// after Shutdown.
func (rt *Runtime) Dial(ctx context.Context, addr string, h actors.Handler, opts actors.DialOptions) (*actor.PID, error) {
	rt.mu.Lock()
	running := rt.state == stateRunning
	rt.mu.Unlock()
	if !running {
		return nil, &winsock.OpError{Op: "Dial", Code: winsock.WSANOTINITIALISED}
	}
	return rt.host.Dial(ctx, rt.eng, addr, h, opts)
}

// System returns the runtime's actor system.
func (rt *Runtime) System() *actor.ActorSystem { return rt.system }

// Subscribe subscribes pid, runtime-wide, to the events in mask of every
// socket. Subscribing again replaces the mask. A subscriber that stops is
// dropped. Errors: WSAEINVAL for a nil PID or an invalid mask,
// WSANOTINITIALISED after Shutdown.
func (rt *Runtime) Subscribe(pid *actor.PID, mask events.Mask) error {
	if rt.stopped() {
		return &winsock.OpError{Op: "Subscribe", Code: winsock.WSANOTINITIALISED}
	}
	if !rt.hub.Subscribe(pid, mask) {
		return &winsock.OpError{Op: "Subscribe", Code: winsock.WSAEINVAL, Detail: "nil subscriber or invalid mask"}
	}
	return nil
}

// Unsubscribe removes a runtime-wide subscription; it reports whether there
// was one.
func (rt *Runtime) Unsubscribe(pid *actor.PID) bool { return rt.hub.Unsubscribe(pid) }

// SocketPID returns the PID of socket id (which may be released).
func (rt *Runtime) SocketPID(id uint64) *actor.PID { return rt.host.SocketPID(id) }

func (rt *Runtime) stopped() bool {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	return rt.state == stateStopped
}

// Stats is a snapshot of the runtime's counters.
type Stats struct {
	// Sockets: open (not yet released), accepted, FD_CLOSE by reason,
	// refused by closed listeners.
	Sockets actors.HostStats
	// Conns: connections open at the transport and limit hits (connection,
	// inbound and outbound limits).
	Conns netio.EngineStats
	// Events: deliveries, subscribers dropped because they were dead or
	// their node was lost, the last seq.
	Events events.HubStats
	// Remote: the node's address, connections to other nodes lost,
	// inbound messages refused (remote.go).
	Remote RemoteStats
	// TLS: handshakes completed, failed, evicted over MaxTLSHandshakes,
	// running now, and established streams broken by a bad record.
	TLS netio.TLSStats
}

// Stats returns the counters. Safe for concurrent use.
func (rt *Runtime) Stats() Stats {
	return Stats{Sockets: rt.host.Stats(), Conns: rt.eng.Stats(), Events: rt.hub.Stats(), Remote: rt.remote.stats(rt.system), TLS: rt.eng.TLSStats()}
}
