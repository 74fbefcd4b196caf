package actors

import (
	"context"
	"log/slog"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/sockactor/sockactor/events"
	"github.com/sockactor/sockactor/netio"
)

// Host is the socket table of one runtime: through Transport (the
// netio.Handler it gives the engine) it turns each connection into a socket
// actor registered in the actor system, and it releases them.
//
// Host is for package runtime's use only: a Runtime builds one (NewHost)
// and drives its lifecycle. Applications reach sockets through a Runtime,
// never through a Host. Every method is safe for concurrent use; the
// Transport's methods run on event loops, as netio documents.
type Host struct{ h *host }

// HostOptions configure a Host. runtime.Options documents each field and
// validates them (runtime.Options.Validate); the zero value of each means
// the default this package documents (DefaultLinger, ...).
type HostOptions struct {
	BanPolicy     BanPolicy     // BanDefault means BanReset
	Linger        time.Duration // 0: DefaultLinger; negative: release at once
	MaxSend       int           // 0: DefaultMaxSend
	MaxInbound    int           // 0: DefaultMaxInbound
	MaxBuffered   int64         // 0: DefaultMaxBuffered
	SendHighWater int           // 0: DefaultSendHighWater
	SendLowWater  int           // 0: a quarter of SendHighWater
	PoolSize      int           // 0: DefaultPoolSize
	Logger        *slog.Logger  // nil: slog.Default()
}

// NewHost builds the socket table of one runtime whose sockets live in
// system and publish through hub. Runtime's use only.
func NewHost(system *actor.ActorSystem, hub *events.Hub, opts HostOptions) *Host {
	return &Host{h: newHost(system, hub, opts)}
}

// Transport returns the netio.Handler through which the engine reports to
// this host (pass it to netio.NewEngine). Any goroutine.
func (h *Host) Transport() netio.Handler { return h.h.Transport() }

// AddListener makes the listener actor of nl, a listener declared on the
// engine before Start. Any goroutine.
func (h *Host) AddListener(nl *netio.Listener, handler Handler, opts ListenOptions) (*Listener, error) {
	return h.h.AddListener(nl, handler, opts)
}

// Dial opens a socket to addr on eng (see Runtime.Dial). It returns the
// socket's PID at once; the connect runs on a goroutine of the host's.
// Any goroutine.
func (h *Host) Dial(ctx context.Context, eng *netio.Engine, addr string, handler Handler, opts DialOptions) (*actor.PID, error) {
	return h.h.Dial(ctx, eng, addr, handler, opts)
}

// SocketPID returns the PID that socket id has or had. Any goroutine.
func (h *Host) SocketPID(id uint64) *actor.PID { return h.h.SocketPID(id) }

// Stats returns the socket counters. Any goroutine.
func (h *Host) Stats() HostStats { return h.h.Stats() }

// The shutdown sequence, in this order (Runtime.Shutdown): SetDown as the
// loops begin to stop, StopTasks, then, once no loop runs, ReleaseAll and
// WaitTasks.

// SetDown marks the engine as stopping: requests that can no longer reach
// an event loop are answered WSAENETDOWN. Any goroutine.
func (h *Host) SetDown() { h.h.SetDown() }

// StopTasks refuses new dials, linger timers and Context.After timers,
// stops the pending ones and cancels dials in progress (they end with
// FD_CONNECT WSAENETDOWN). Idempotent; any goroutine.
func (h *Host) StopTasks() { h.h.StopTasks() }

// ReleaseAll releases every socket that is closed but still lingering, and
// every listener. Call it once the engine has stopped (no event loop runs).
func (h *Host) ReleaseAll() { h.h.ReleaseAll() }

// WaitTasks waits until every goroutine and timer the sockets started has
// ended, or ctx is done. Call it after StopTasks.
func (h *Host) WaitTasks(ctx context.Context) error { return h.h.WaitTasks(ctx) }
