package actors

import (
	"context"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/sockactor/sockactor/events"
)

// NewSnapshotRequest builds the events.SnapshotRequest of docs/SEMANTICS.md
// §7 for subscriber and mask (0: the snapshot alone, no subscription).
func NewSnapshotRequest(subscriber *actor.PID, mask events.Mask) *events.SnapshotRequest {
	if subscriber == nil {
		return &events.SnapshotRequest{Mask: uint32(mask)}
	}
	return &events.SnapshotRequest{SubscriberAddress: subscriber.Address, SubscriberId: subscriber.Id, Mask: uint32(mask)}
}

// Snapshot asks a runtime's node actor (node, local or on another node:
// runtime.NodePID(address)) for the sockets whose FD_CLOSE has not been
// emitted and the seq of the last event they reflect; with a mask it also
// subscribes subscriber runtime-wide from that seq on (docs/SEMANTICS.md
// §7). The events with a higher seq may reach subscriber before Snapshot
// returns: apply the snapshot, then the events whose seq is higher than
// its Seq. Errors as for every Caller method, and the Snapshot's code
// (WSAEINVAL for a bad request or a runtime without a socket table).
// Safe for concurrent use.
func (c Caller) Snapshot(ctx context.Context, node, subscriber *actor.PID, mask events.Mask) (*events.Snapshot, error) {
	m, err := request[*events.Snapshot](ctx, c, "Snapshot", node, NewSnapshotRequest(subscriber, mask))
	if err != nil {
		return nil, err
	}
	return m, nil
}
