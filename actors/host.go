package actors

import (
	"context"
	"log/slog"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/sockactor/sockactor/events"
	"github.com/sockactor/sockactor/netio"
	"github.com/sockactor/sockactor/winsock"
)

// Defaults of the runtime options (runtime.Options documents each) and of
// DialOptions.
const (
	DefaultLinger        = 2 * time.Second
	DefaultMaxSend       = 16 << 20
	DefaultMaxInbound    = 256 << 10 // four reads of gnet's 64 KiB buffer; the kernel's receive buffer holds the rest
	DefaultSendHighWater = 4 << 20
	DefaultDialTimeout   = 10 * time.Second
)

// pidPrefix starts the registry id of every socket actor: "sock/42".
const pidPrefix = "sock/"

// HostStats is a snapshot of the socket counters of a runtime: the Sockets
// part of runtime.Stats. A plain value: safe to copy and keep.
type HostStats struct {
	Open     int64             `json:"open"`     // sockets not yet released (listeners excluded)
	Accepted uint64            `json:"accepted"` // connections accepted since start
	Closed   map[string]uint64 `json:"closed"`   // FD_CLOSE emitted, by reason word
	Refused  uint64            `json:"refused"`  // connections refused by a closed listener
	// SendsRefused counts Send messages and handler Writes refused with an
	// error code (WSAEWOULDBLOCK, WSAESHUTDOWN, WSAENOTCONN, ...), whether or
	// not a reply told anyone: a fire-and-forget Send is never lost unseen.
	SendsRefused uint64 `json:"sends_refused"`
	// LimitHits counts, of those refusals, the ones a per-socket limit
	// caused: "send_high_water" (WSAEWOULDBLOCK) and "max_send"
	// (WSAEMSGSIZE); and the inbound limits' pauses and dropped datagrams:
	// "max_inbound", "max_buffered". See limits.go.
	LimitHits map[string]uint64 `json:"limit_hits"`
	// Buffered is the received bytes waiting for applications now (pooled
	// queues and pull buffers), the sum MaxBuffered bounds.
	Buffered int64 `json:"buffered"`
	// InboundDropped counts bytes of datagrams dropped because they would
	// pass MaxInbound or MaxBuffered (UDP cannot be paused).
	InboundDropped uint64 `json:"inbound_dropped"`
}

// host is the socket table of one runtime: through Transport (the
// netio.Handler it gives the engine) it turns each connection into a socket
// actor registered in the actor system, and it releases them. Package
// runtime builds and drives it through Host (runtimehost.go).
//
// Goroutine-safety: the Transport's methods run on event loops (as netio
// documents); every other method is safe for concurrent use.
type host struct {
	system *actor.ActorSystem
	hub    *events.Hub
	opts   HostOptions
	log    *slog.Logger

	nextID atomic.Uint64

	mu        sync.Mutex // guards listeners
	listeners []*Listener
	lingerQ   lingerQueue // closed sockets waiting out their linger (linger.go)

	open         atomic.Int64
	accepted     atomic.Uint64
	refused      atomic.Uint64
	sendsRefused atomic.Uint64
	closedBy     [netio.ReasonLast + 1]atomic.Uint64
	limits       limitCounters // per-socket limit hits (limits.go)
	inbound      inboundBook   // waiting inbound bytes, runtime-wide (inbound.go)
	down         atomic.Bool   // set once the engine is stopping

	door    *door       // every goroutine and timer the sockets start
	ctxPool sync.Pool   // *Context: one per handler call in flight
	pool    *workerPool // runs pooled handlers (pool.go)
}

// newHost returns a host whose sockets live in system and publish through
// hub, with the defaults applied to the zero fields of opts (the one place
// they are applied; runtime.Options.Validate has refused bad values).
func newHost(system *actor.ActorSystem, hub *events.Hub, opts HostOptions) *host {
	if opts.BanPolicy == BanDefault {
		opts.BanPolicy = BanReset
	}
	if opts.Linger == 0 {
		opts.Linger = DefaultLinger
	}
	if opts.MaxSend <= 0 {
		opts.MaxSend = DefaultMaxSend
	}
	if opts.MaxInbound <= 0 {
		opts.MaxInbound = DefaultMaxInbound
	}
	if opts.MaxBuffered <= 0 {
		opts.MaxBuffered = DefaultMaxBuffered
	}
	if opts.SendHighWater <= 0 {
		opts.SendHighWater = DefaultSendHighWater
	}
	if opts.SendLowWater <= 0 || opts.SendLowWater > opts.SendHighWater {
		opts.SendLowWater = opts.SendHighWater / 4
	}
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	h := &host{system: system, hub: hub, opts: opts, log: log}
	h.ctxPool.New = func() any { return new(Context) }
	h.door = newDoor()
	h.pool = newWorkerPool(opts.PoolSize, h.door)
	return h
}

// SocketPID returns the PID that socket id has or had. Messages to a PID
// whose socket was released get WSAENOTSOCK (through the helpers) or a
// protoactor DeadLetterResponse (raw requests).
func (h *host) SocketPID(id uint64) *actor.PID {
	return actor.NewPID(h.system.Address(), pidPrefix+strconv.FormatUint(id, 10))
}

// Stats returns the counters.
func (h *host) Stats() HostStats {
	st := HostStats{
		Open:         h.open.Load(),
		Accepted:     h.accepted.Load(),
		Refused:      h.refused.Load(),
		SendsRefused: h.sendsRefused.Load(),
		Closed:       map[string]uint64{},
		LimitHits:    h.limits.snapshot(),

		Buffered:       h.inbound.total.Load(),
		InboundDropped: h.limits.inboundDropped.Load(),
	}
	for r := netio.ReasonPeerClose; r <= netio.ReasonLast; r++ {
		if n := h.closedBy[r].Load(); n > 0 {
			st.Closed[r.String()] = n
		}
	}
	return st
}

// SetDown marks the engine as stopping: requests that can no longer reach
// an event loop are answered WSAENETDOWN. Safe from any goroutine.
func (h *host) SetDown() { h.down.Store(true) }

// StopTasks refuses new dials, linger timers and Context.After timers,
// stops the pending ones and cancels dials in progress (they end with
// FD_CONNECT WSAENETDOWN). Idempotent; safe from any goroutine.
func (h *host) StopTasks() { h.door.Close() }

// WaitTasks waits until every goroutine and timer the sockets started has
// ended, or ctx is done: the pooled handlers' workers end once no drain is
// left. Call it after StopTasks and ReleaseAll.
func (h *host) WaitTasks(ctx context.Context) error {
	h.pool.close()
	return h.door.Wait(ctx)
}

// ReleaseAll releases every socket that is closed but still lingering, and
// every listener. Call it after the engine has stopped (no event loop runs).
func (h *host) ReleaseAll() {
	socks := h.lingering()
	h.mu.Lock()
	lns := slices.Clone(h.listeners) // release takes each out of h.listeners
	h.mu.Unlock()
	for _, s := range socks {
		s.release()
	}
	for _, l := range lns {
		l.release()
	}
}

func (h *host) newID() uint64 { return h.nextID.Add(1) }

// replyHeader marks a handler's Respond so that the receiving handler does
// not take the reply for an unanswered request. Shared and never modified.
var replyHeader = map[string]string{replyHeaderKey: "1"}

const replyHeaderKey = "sockactor-reply"

// respond delivers a handler's reply: like replyFrom, tagged as a reply.
// Goroutine: any.
func (h *host) respond(from, pid *actor.PID, msg any) {
	h.deliver(pid, &actor.MessageEnvelope{Header: replyHeader, Message: msg, Sender: from})
}

// isTaggedReply reports whether envelope m carries the reply tag.
func isTaggedReply(m any) bool {
	if env, ok := m.(*actor.MessageEnvelope); ok && env.Header != nil {
		return env.Header.Get(replyHeaderKey) != ""
	}
	return false
}

// replyFrom delivers msg to pid without blocking, with from as its sender
// (as protoactor's Respond does), so an actor talking to many sockets knows
// which one answered. Goroutine: any.
func (h *host) replyFrom(from, pid *actor.PID, msg any) {
	if from == nil {
		h.deliver(pid, msg)
		return
	}
	h.deliver(pid, &actor.MessageEnvelope{Message: msg, Sender: from})
}

// deliver hands m to pid's process without blocking (dead letters for a
// PID that names nothing). Goroutine: any.
func (h *host) deliver(pid *actor.PID, m any) {
	if pid == nil {
		return
	}
	proc, _ := h.system.ProcessRegistry.Get(pid)
	proc.SendUserMessage(pid, m)
}

// Transport returns the netio.Handler through which the engine reports to
// this host (pass it to netio.NewEngine). Safe from any goroutine.
func (h *host) Transport() netio.Handler { return transport{h} }

// transport is the host's netio.Handler, kept off the host's methods: the
// crossing from the hot path. Every method below runs on the event loop
// goroutine that owns the connection.
type transport struct{ h *host }

// OnOpen turns an accepted connection into a socket actor, or completes a
// dialled one.
func (t transport) OnOpen(c *netio.Conn) {
	h := t.h
	if s, ok := c.Dialed().(*socket); ok {
		s.attach(c)
		s.connected()
		return
	}
	l, _ := c.Listener().Owner.(*Listener)
	if l == nil || l.isClosed() {
		h.refused.Add(1)
		c.Close(netio.ReasonLocalAbort)
		return
	}
	s := newSocket(h, &l.prof, l.subsSnapshot(), false)
	s.attach(c)
	h.open.Add(1)
	h.accepted.Add(1)
	if c.Reason() == netio.ReasonLimit {
		// Over MaxConns: netio closes it (RST) as this returns. FD_ACCEPT
		// then FD_CLOSE 10055, and the socket is released with its
		// FD_CLOSE (socket.closed): an accept storm leaves nothing behind.
		s.refused = true
		s.emit(events.FDAccept, winsock.OK, "accept", false)
		return
	}
	s.opened()
}

// OnData hands received bytes to the socket's handler (netio has already
// checked the receive ban).
func (transport) OnData(c *netio.Conn, data []byte) {
	c.Owner.(*socket).received(data)
}

// OnClose emits FD_CLOSE for the socket.
func (t transport) OnClose(c *netio.Conn, r netio.Reason) {
	s, ok := c.Owner.(*socket)
	if !ok {
		return
	}
	t.h.closedBy[r].Add(1)
	s.closed(r)
}
