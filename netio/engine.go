package netio

import (
	"context"
	"log/slog"
	goruntime "runtime"
	"sync"
	"sync/atomic"

	"github.com/panjf2000/gnet/v2"
	"github.com/panjf2000/gnet/v2/pkg/logging"

	"github.com/sockactor/sockactor/winsock"
)

// Handler receives the connection events of an Engine. It is the only way
// netio reports upward; it knows nothing of what implements it.
//
// Goroutine: every method runs on the event loop goroutine that owns the
// connection, so it must not block. Calls for one connection are serialized.
type Handler interface {
	// OnOpen runs once per connection, accepted or dialled, before any
	// other call for it. It sets c.Owner (a dialled connection arrives
	// with c.Dialed() set) and may set the ban policy.
	OnOpen(c *Conn)
	// OnData hands over bytes read from the peer. data is a view into the
	// loop's read buffer, valid only until OnData returns. It is never
	// called once the receive ban is in force.
	OnData(c *Conn, data []byte)
	// OnClose runs exactly once per opened connection, after which c is
	// closed for receiving and Stats keeps its last counts. r says why.
	// After ReasonPeerClose the send side stays usable (c.HalfOpen: Write,
	// ShutdownSend and Close act on it); after any other reason Write and
	// the shutdown methods fail.
	OnClose(c *Conn, r Reason)
}

// Engine runs one gnet engine (a set of event loops) and the listeners
// declared before Start. It is the transport under a runtime.
//
// Goroutine-safety: Listen before Start from one goroutine; Start, Stop,
// Stopping and Stats are safe for concurrent use.
type Engine struct {
	ev *gnetEvents // immutable: gnet's callbacks (callbacks.go)

	h     Handler
	opts  Options
	loops int // immutable: the event loops of each gnet engine (Options.EventLoops resolved)

	mu        sync.Mutex     // guards listeners before start, and state changes
	listeners []*Listener    // gnet's own, bound at Start
	acceptors []*Listener    // mu: served by an accept goroutine (acceptor.go), until closed
	accWG     sync.WaitGroup // the accept goroutines and their handshake goroutines
	started   bool
	held      []int // mu: ports reserved by Listen, bound until gnet has bound them (reservePort)

	geng     gnet.Engine   // set in OnBoot (loop goroutine), read after booted is closed
	booted   chan struct{} // closed by the first OnTick: the loops are registered and running
	tickOnce sync.Once
	done     chan struct{} // closed when gnet.Rotate returns
	stopped  chan struct{} // closed when Stop's helpers have finished too
	runErr   error         // written before done is closed
	stopping atomic.Bool
	abortive atomic.Bool // Stop resets connections instead of closing them gracefully
	stopOnce sync.Once

	open        atomic.Int64
	limitHits   atomic.Uint64 // limit closes decided above the transport (countLimitHit)
	connHits    atomic.Uint64 // connections refused by MaxConns
	peerHits    atomic.Uint64 // datagrams from new addresses dropped over MaxPeers
	sendDropped atomic.Uint64
	recvDropped atomic.Uint64
	traffic     trafficBook // the byte totals (traffic.go)
	tlsStat     tlsStats    // TLS handshakes and broken streams (tls.go)
	hs          hsSlots     // the server handshakes in progress (tls.go)
	internal    *Listener   // bound when no listener was declared (gnet needs one to dial)

	halfMu   sync.Mutex             // guards halfs and detached
	halfs    map[*halfOpen]struct{} // half-open connections not yet closed
	halfWG   sync.WaitGroup         // their writer goroutines
	detached map[*Conn]struct{}     // dialled UDP sockets being enrolled again (udpdial.go)

	udp     *udpSide   // the UDP listeners' engine (udp.go); nil without one
	udpLate []*udpSide // mu: UDP listeners declared while running, an engine each (udplate.go)

	wwMu   sync.Mutex                 // serializes making and stopping ww
	ww     atomic.Pointer[writeWatch] // the writability watch (writable.go), made on first use
	wwDown bool                       // wwMu: stopped; no watch is made any more
}

// Stats returns the transport counters. Safe from any goroutine.
func (e *Engine) Stats() EngineStats {
	e.halfMu.Lock()
	half := int64(len(e.halfs))
	e.halfMu.Unlock()
	conn := e.connHits.Load()
	var peers int64
	for _, u := range e.udpSides() {
		for _, l := range u.lns {
			peers += l.peers.Load()
		}
	}
	peerHits := e.peerHits.Load()
	return EngineStats{Open: e.open.Load(), LimitHits: conn + peerHits + e.limitHits.Load(), ConnLimitHits: conn, PeerLimitHits: peerHits, HalfOpen: half, SendDropped: e.sendDropped.Load(), RecvDropped: e.recvDropped.Load(), Peers: peers}
}

// countLimitHit counts one limit close decided above the transport (inbound or
// outbound bytes). Safe from any goroutine.
func (e *Engine) countLimitHit() { e.limitHits.Add(1) }

// NewEngine returns an Engine that reports to h.
func NewEngine(h Handler, opts Options) *Engine {
	loops := opts.EventLoops
	if loops <= 0 {
		loops = goruntime.GOMAXPROCS(0)
	}
	e := &Engine{
		h:       h,
		opts:    opts,
		loops:   loops,
		booted:  make(chan struct{}),
		done:    make(chan struct{}),
		stopped: make(chan struct{}),
	}
	e.ev = &gnetEvents{e: e}
	return e
}

// EventLoops returns the number of event loops of the engine's gnet engine
// (Options.EventLoops, or its default); a UDP listeners' engine runs as
// many again. Safe from any goroutine.
func (e *Engine) EventLoops() int { return e.loops }

// Start boots the event loops and binds every declared listener. It returns
// once the engine accepts connections, or the bind error: WSAEADDRINUSE
// for an address taken by another process or by another listener of this
// engine (probeBinds), with nothing left bound. Any goroutine except an
// event loop; once.
func (e *Engine) Start(ctx context.Context) error {
	e.mu.Lock()
	if e.started {
		e.mu.Unlock()
		return &winsock.OpError{Op: "Start", Code: winsock.WSAEINVAL, Detail: "already started"}
	}
	if len(e.listeners) == 0 {
		// gnet runs no engine without a listener; a dial-only runtime gets
		// a private loopback one that refuses whatever reaches it.
		e.internal = &Listener{network: "tcp", address: "127.0.0.1:0", cfgKey: "127.0.0.1:0"}
		e.listeners = append(e.listeners, e.internal)
	}
	if e.opts.MaxConns == 0 {
		e.opts.MaxConns = defaultMaxConns
	}
	e.started = true
	addrs := make([]string, len(e.listeners))
	for i, l := range e.listeners {
		addrs[i] = l.network + "://" + l.address
	}
	e.mu.Unlock()

	nodelay := gnet.TCPNoDelay
	if e.opts.DisableTCPNoDelay {
		nodelay = gnet.TCPDelay
	}
	opts := e.gnetOptions(
		gnet.WithReusePort(false),
		gnet.WithTCPNoDelay(nodelay),
		gnet.WithLoadBalancing(e.opts.LoadBalancing.gnet()),
	)
	if e.opts.TCPKeepAlive > 0 {
		opts = append(opts, gnet.WithTCPKeepAlive(e.opts.TCPKeepAlive))
	}
	if e.opts.ReadBufferCap > 0 {
		opts = append(opts, gnet.WithReadBufferCap(e.opts.ReadBufferCap))
	}
	defer e.releaseReserved() // every way out of Start: gnet's listeners are bound, or will not be
	if err := e.probeBinds(ctx); err != nil {
		e.runErr = err
		close(e.done) // nothing runs: Stop returns at once
		return err
	}
	go func() {
		// The gnet engine's own goroutine: Rotate returns after shutdown.
		err := gnet.Rotate(e.ev, addrs, opts...)
		e.runErr = err
		close(e.done)
	}()
	select {
	case <-e.booted:
		e.mu.Lock()
		for _, l := range e.acceptors {
			e.startAccepting(l)
		}
		e.mu.Unlock()
		if e.udp == nil {
			return nil
		}
		if err := e.udp.start(ctx); err != nil {
			_ = e.Stop(context.Background())
			return err
		}
		return nil
	case <-e.done:
		if e.runErr == nil {
			return winsock.ErrNetDown
		}
		// gnet reports a bind failure as the *os.SyscallError of bind (or
		// listen), errno inside: it stays in Err for errors.Is, and the
		// code is its twin (WSAEADDRINUSE, WSAEADDRNOTAVAIL, ...).
		return &winsock.OpError{Op: "Start", Code: startCode(e.runErr), Detail: e.runErr.Error(), Err: e.runErr}
	case <-ctx.Done():
		_ = e.Stop(context.Background())
		return ctx.Err()
	}
}

// gnetOptions are the options of both gnet engines (this one and the UDP
// listeners', udp.go), followed by extra.
func (e *Engine) gnetOptions(extra ...gnet.Option) []gnet.Option {
	opts := []gnet.Option{
		gnet.WithReuseAddr(!e.opts.DisableReuseAddr),
		gnet.WithLogLevel(logging.ErrorLevel),
		gnet.WithLogger(gnetLogger{log: e.log()}),
		// gnet calls OnBoot before it registers its loops; its ticker starts
		// after, so the first OnTick is the "running" signal Start waits for.
		gnet.WithTicker(true),
	}
	// Always a count: gnet's WithMulticore would mean runtime.NumCPU()
	// loops, the host's CPUs rather than the process's quota.
	opts = append(opts, gnet.WithNumEventLoop(e.loops))
	return append(opts, extra...)
}

func (e *Engine) log() *slog.Logger {
	if e.opts.Logger != nil {
		return e.opts.Logger
	}
	return slog.Default()
}

// SetAbortive makes Stop (called before or after) reset every connection
// (RST) and drop queued bytes instead of flushing them, so it never waits on
// a peer. Safe from any goroutine.
func (e *Engine) SetAbortive() {
	e.abortive.Store(true)
	e.halfMu.Lock()
	hs := make([]*halfOpen, 0, len(e.halfs))
	for h := range e.halfs {
		hs = append(hs, h)
	}
	e.halfMu.Unlock()
	if e.stopping.Load() {
		for _, h := range hs {
			h.close(true) // a graceful stop in progress: cut its flushes short
		}
	}
}

// HasUDP reports whether a UDP listener was declared (its loops are a gnet
// engine of their own). Any goroutine, once the listeners are declared.
func (e *Engine) HasUDP() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.udp != nil || len(e.udpLate) > 0
}

// isStopping reports whether Stop has been called. Safe from any goroutine.
func (e *Engine) isStopping() bool { return e.stopping.Load() }

// Stop shuts the engine down: every open connection is closed (gracefully,
// with ReasonShutdown) and Handler.OnClose has run for each before Stop
// returns nil. It returns ctx.Err() if ctx ends first. Idempotent; safe from
// any goroutine except an event loop.
func (e *Engine) Stop(ctx context.Context) error {
	e.stopping.Store(true)
	e.mu.Lock()
	started := e.started
	e.mu.Unlock()
	e.closeAcceptors() // no connection is accepted or enrolled from here on
	if !started {
		e.releaseReserved() // never started: the reserved ports go too
		return nil
	}
	select {
	case <-e.booted:
	case <-e.done: // boot failed: nothing runs
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
	e.stopOnce.Do(func() {
		// A dialled UDP socket being enrolled again is in gnet's hands
		// (a worker holds a descriptor); let that finish first, or gnet
		// would drop the descriptor on the floor when its loops end.
		e.waitEnrolments(ctx)
		// gnet's Engine.Stop polls for the end every 500 ms; Rotate
		// returning (done) is the real signal, so cancel its wait then and
		// wait for the goroutine, leaving nothing behind.
		stopCtx, cancel := context.WithCancel(context.Background())
		stopped := make(chan struct{})
		go func() {
			_ = e.geng.Stop(stopCtx)
			close(stopped)
		}()
		udps := e.udpSides() // no UDP listener is added from here on (stopping)
		go func() {
			for _, u := range udps {
				u.stop()
			}
			<-e.done
			cancel()
			<-stopped
			// No loop runs now: close what outlived gnet (half-open
			// connections, UDP peers, dialled UDP sockets between two
			// enrolments), then report the engine stopped.
			e.closeHalfs()
			e.stopWatch()
			for _, u := range udps {
				u.closePeers()
			}
			e.closeDetachedAll()
			close(e.stopped)
		}()
	})
	select {
	case <-e.stopped:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
