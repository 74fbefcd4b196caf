package runtime

import (
	"context"
	"log/slog"
	"slices"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/sockactor/sockactor/fleet"
	"github.com/sockactor/sockactor/winsock"
)

// fleetStopWait bounds the revoke of the lease in Shutdown: past it (etcd
// unreachable) the registration ends when its TTL runs out.
const fleetStopWait = 2 * time.Second

// fleetNode is a runtime's membership of a fleet (Options.Fleet): the
// listeners it declares, its incarnation, the node actor's alias for that
// incarnation and, once started, the registration. listeners holds the
// listeners Listen made that no request has closed, in the order they were
// made (kept with or without Fleet, so it never grows with closed ones);
// it is written by Listen and by a listener's close (listenerClosed) and
// read by Start, all under rt.mu. The rest is written once in New (alias,
// incarnation) or Start (reg) and read by shutdown after.
type fleetNode struct {
	listeners   []*Listener
	incarnation string
	started     time.Time
	alias       *actor.PID
	reg         *fleet.Registration
}

func (o Options) validateFleet() error {
	if o.Fleet == nil {
		return nil
	}
	if o.Remote == nil {
		return &winsock.OpError{Op: "New", Code: winsock.WSAEINVAL, Detail: "Options.Fleet needs Options.Remote"}
	}
	if err := o.Fleet.Validate(); err != nil {
		return &winsock.OpError{Op: "New", Code: winsock.WSAEINVAL, Detail: "Options.Fleet: " + err.Error(), Err: err}
	}
	return nil
}

// addFleetAlias registers the node actor a second time, under
// fleet.NodeActorName(incarnation): watchers send their snapshot requests
// there, so a request meant for this incarnation never reaches a later
// process on the same address. Run by startNode.
func (rt *Runtime) addFleetAlias(opts Options) {
	if opts.Fleet == nil {
		return
	}
	rt.fleet.started = time.Now()
	rt.fleet.incarnation = fleet.NewIncarnation(rt.fleet.started)
	rt.fleet.alias, _ = rt.system.ProcessRegistry.Add(nodeProcess{rt}, fleet.NodeActorName(rt.fleet.incarnation))
}

// startFleet starts the registration once Start has bound the listeners.
// No etcd request is made here: the registration's goroutine asks the
// node actor, then writes the key (fleet.Register). Goroutine: Start's,
// under rt.mu.
func (rt *Runtime) startFleet() {
	if rt.opts.Fleet == nil {
		return
	}
	m := fleet.Member{Address: rt.Address(), Incarnation: rt.fleet.incarnation, Started: rt.fleet.started.UTC(),
		Listeners: rt.fleetListeners()}
	alias := rt.fleet.alias
	ready := func(ctx context.Context) error {
		_, err := rt.Caller.Snapshot(ctx, alias, nil, 0)
		return err
	}
	cfg := *rt.opts.Fleet
	if cfg.Logger == nil {
		cfg.Logger = rt.opts.Logger
	}
	reg, err := fleet.Register(cfg, m, ready)
	if err != nil { // validated in New: not expected
		rt.fleetLog().Error("fleet: not registered", "err", err)
		return
	}
	rt.fleet.reg = reg
}

// fleetListeners is the Member's list of listeners: rt.fleet.listeners,
// in the order Listen made them, each with its bound address. The one
// format of startFleet and publishListeners. Under rt.mu.
func (rt *Runtime) fleetListeners() []fleet.Listener {
	var out []fleet.Listener
	for _, l := range rt.fleet.listeners {
		a := ""
		if addr := l.Addr(); addr != nil {
			a = addr.String()
		}
		out = append(out, fleet.Listener{ID: l.ID(), Network: l.Network(), Addr: a})
	}
	return out
}

// trackListener adds a listener Listen made to rt.fleet.listeners, with a
// hook that takes it out when a request closes it, and, while running,
// publishes the new list (before Start, startFleet publishes it). A
// listener closed already (a Close to its PID raced Listen) is not added.
// Listen sets the hook only once the listener serves: Listen closes a
// listener that failed to serve while it holds rt.mu, so that close must
// not run the hook. Goroutine: Listen's, under rt.mu.
func (rt *Runtime) trackListener(l *Listener) {
	if !l.OnClose(func() { rt.listenerClosed(l) }) {
		return
	}
	rt.fleet.listeners = append(rt.fleet.listeners, l)
	rt.publishListeners()
}

// listenerClosed takes a listener closed by a request (Close, Abort or
// Stop to its PID) out of rt.fleet.listeners and, while running, publishes
// the new list. Goroutine: the one that closed the listener (its OnClose
// hook), which holds no lock of the runtime: no path of the runtime closes
// a tracked listener under rt.mu (release at shutdown runs no hook).
func (rt *Runtime) listenerClosed(l *Listener) {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	i := slices.Index(rt.fleet.listeners, l)
	if i < 0 {
		return
	}
	rt.fleet.listeners = slices.Delete(rt.fleet.listeners, i, i+1)
	rt.publishListeners()
}

// publishListeners hands the registration the current list of listeners
// while the runtime runs; it returns at once (SetListeners makes no etcd
// request: the registration's goroutine writes the key). Nothing is
// published before Start (startFleet publishes the list then) nor from
// Shutdown on (the state is stopped before stopFleet closes the
// registration, and SetListeners on a closed one is ErrClosed anyway).
// Under rt.mu.
func (rt *Runtime) publishListeners() {
	reg := rt.fleet.reg
	if reg == nil || rt.state != stateRunning {
		return
	}
	if err := reg.SetListeners(rt.fleetListeners()); err != nil {
		rt.fleetLog().Debug("fleet: listeners not published", "err", err)
	}
}

// stopFleet revokes the registration (at most fleetStopWait) and takes the
// alias out of the registry. Goroutine: shutdown's, first.
func (rt *Runtime) stopFleet() {
	if reg := rt.fleet.reg; reg != nil {
		ctx, cancel := context.WithTimeout(context.Background(), fleetStopWait)
		defer cancel()
		if err := reg.Close(ctx); err != nil {
			rt.fleetLog().Info("fleet: lease not revoked; it ends with its TTL", "err", err)
		}
	}
}

// removeFleetAlias takes the incarnation's alias of the node actor out of
// the registry. Run by stopNode.
func (rt *Runtime) removeFleetAlias() {
	if rt.fleet.alias != nil {
		rt.system.ProcessRegistry.Remove(rt.fleet.alias)
	}
}

// Fleet returns the runtime's fleet registration: nil without
// Options.Fleet or before Start. Safe for concurrent use after Start.
func (rt *Runtime) Fleet() *fleet.Registration {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	return rt.fleet.reg
}

func (rt *Runtime) fleetLog() *slog.Logger {
	if rt.opts.Logger != nil {
		return rt.opts.Logger
	}
	return slog.Default()
}
