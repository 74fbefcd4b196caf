package runtime

import (
	"github.com/asynkron/protoactor-go/actor"

	"github.com/sockactor/sockactor/actors"
	"github.com/sockactor/sockactor/events"
	"github.com/sockactor/sockactor/winsock"
)

// NodeName is the registry name of a runtime's node actor: the well-known
// actor that answers runtime-wide subscriptions and snapshots (§7). On a
// node with remote its PID is NodePID(address), so another node needs only
// the runtime's remote address.
const NodeName = "sockactor"

// NodePID returns the PID of the node actor of the runtime whose remote
// address is address (exactly as that runtime advertises it, see
// RemoteOptions.Advertise). Safe for concurrent use.
func NodePID(address string) *actor.PID { return actor.NewPID(address, NodeName) }

// nodeProcess is the node actor: a process in the registry that answers
// on the sender's goroutine (protoactor remote's reader, for a remote
// sender), like a listener. It understands:
//
//   - actors.Subscribe / actors.Unsubscribe: a runtime-wide subscription
//     (what Runtime.Subscribe does locally); reply SubscribeResult;
//   - events.SnapshotRequest: reply events.Snapshot (see Hub.Snapshot);
//     a subscriber it subscribes hears events.Leaving at Shutdown, before
//     any socket closes (Hub.Leave);
//
// and answers anything else sent as a request with actors.Error WSAEINVAL.
type nodeProcess struct{ rt *Runtime }

// startNode registers the node actor and, on a remote node or when asked,
// the socket table. It runs in New once the hub exists, before any event.
func (rt *Runtime) startNode(opts Options) error {
	if opts.Snapshots || rt.remote != nil {
		rt.hub.EnableSnapshots()
	}
	reg := rt.system.ProcessRegistry
	pid, ok := reg.Add(nodeProcess{rt}, NodeName)
	if !ok {
		if rt.remote != nil {
			return &winsock.OpError{Op: "New", Code: winsock.WSAEADDRINUSE,
				Detail: "the actor system already has a node actor named " + NodeName + ": one remote runtime per actor system"}
		}
		// A second runtime on a local system: a name of its own.
		pid, _ = reg.Add(nodeProcess{rt}, NodeName+"/"+reg.NextId())
	}
	rt.node = pid
	rt.addFleetAlias(opts) // fleet.go
	return nil
}

// stopNode removes the node actor: later requests get dead letters.
func (rt *Runtime) stopNode() {
	if rt.node != nil {
		rt.system.ProcessRegistry.Remove(rt.node)
	}
	rt.removeFleetAlias() // fleet.go
}

// NodePID returns the PID of this runtime's node actor (NodePID of its
// address on a remote node). Safe for concurrent use.
func (rt *Runtime) NodePID() *actor.PID { return rt.node }

// Snapshot is the local form of the snapshot request of §7: it returns the
// sockets whose FD_CLOSE has not been emitted and the seq of the last
// event it reflects, and, if mask is not 0, subscribes subscriber
// runtime-wide to mask in the same instant, so that it receives exactly the
// events with a higher seq. Those may reach subscriber before Snapshot
// returns: a watcher applies the snapshot, then the events whose seq is
// higher than Snapshot.Seq. (An actor that sends events.SnapshotRequest to
// NodePID itself, naming itself the subscriber, gets the reply in its
// mailbox before any of them.)
//
// Errors: WSAEINVAL for an invalid mask or a nil subscriber with a mask,
// or when the runtime keeps no socket table (Options.Snapshots off and no
// remote); WSANOTINITIALISED after Shutdown. Safe for concurrent use.
func (rt *Runtime) Snapshot(subscriber *actor.PID, mask events.Mask) (*events.Snapshot, error) {
	if rt.stopped() {
		return nil, &winsock.OpError{Op: "Snapshot", Code: winsock.WSANOTINITIALISED}
	}
	snap := rt.snapshot(subscriber, mask, nil)
	if snap.Code != 0 {
		return nil, &winsock.OpError{Op: "Snapshot", Code: winsock.Code(snap.Code), Detail: snap.Detail}
	}
	return snap, nil
}

func (rt *Runtime) snapshot(sub *actor.PID, mask events.Mask, first func(*events.Snapshot)) *events.Snapshot {
	if !rt.hub.SnapshotsEnabled() {
		return &events.Snapshot{Code: uint32(winsock.WSAEINVAL), Address: rt.Address(),
			Detail: "the runtime keeps no socket table (Options.Snapshots)"}
	}
	snap, ok := rt.hub.Snapshot(sub, mask, first)
	if !ok {
		return &events.Snapshot{Code: uint32(winsock.WSAEINVAL), Address: rt.Address(),
			Detail: "nil subscriber or invalid mask"}
	}
	return snap
}

// SendUserMessage answers one message on the sender's goroutine.
func (p nodeProcess) SendUserMessage(_ *actor.PID, m any) {
	_, msg, sender := actor.UnwrapEnvelope(m)
	rt := p.rt
	reply := func(r any) {
		if sender != nil {
			proc, _ := rt.system.ProcessRegistry.Get(sender)
			proc.SendUserMessage(sender, &actor.MessageEnvelope{Message: r, Sender: rt.node})
		}
	}
	down := rt.stopped()
	switch msg := msg.(type) {
	case *actors.Subscribe:
		code := winsock.OK
		switch {
		case down:
			code = winsock.WSAENETDOWN
		case msg == nil || !rt.hub.Subscribe(actor.NewPID(msg.SubscriberAddress, msg.SubscriberId), events.Mask(msg.Mask)):
			code = winsock.WSAEINVAL
		}
		reply(&actors.SubscribeResult{Code: uint32(code)})
	case *actors.Unsubscribe:
		code := winsock.OK
		if msg == nil || msg.SubscriberId == "" {
			code = winsock.WSAEINVAL
		} else {
			rt.hub.Unsubscribe(actor.NewPID(msg.SubscriberAddress, msg.SubscriberId))
		}
		reply(&actors.SubscribeResult{Code: uint32(code)})
	case *events.SnapshotRequest:
		if down {
			reply(&events.Snapshot{Code: uint32(winsock.WSAENETDOWN), Address: rt.Address()})
			return
		}
		var sub *actor.PID
		if msg != nil && msg.SubscriberId != "" {
			sub = actor.NewPID(msg.SubscriberAddress, msg.SubscriberId)
		}
		// The reply is enqueued from the hub's first callback, while the
		// subscriber's events with a higher seq are still held by the hub.
		sent := false
		snap := rt.snapshot(sub, events.Mask(msg.GetMask()), func(s *events.Snapshot) { sent = true; reply(s) })
		if !sent {
			reply(snap)
		}
	case *events.Event, *actor.DeadLetterResponse, *actors.Error, *actors.SubscribeResult, *events.Snapshot:
		// Notifications and replies are never answered.
	default:
		reply(&actors.Error{Code: uint32(winsock.WSAEINVAL), Detail: "not a message for the node actor"})
	}
}

// SendSystemMessage ignores system messages: the node actor is never
// stopped but by Shutdown.
func (nodeProcess) SendSystemMessage(*actor.PID, any) {}

// Stop does nothing (see SendSystemMessage).
func (nodeProcess) Stop(*actor.PID) {}
