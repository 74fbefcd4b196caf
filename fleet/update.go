package fleet

import (
	"fmt"

	"github.com/sockactor/sockactor/events"
)

// Kind says what an Update reports (a value; String is safe for
// concurrent use).
type Kind uint8

const (
	// Join: a gateway registered (a key appeared). Its Snapshot follows
	// once its node actor answered.
	Join Kind = iota + 1
	// Snapshot: the gateway's node actor answered a snapshot request:
	// Update.Snapshot lists its open sockets and the seq they reflect;
	// the gateway's events with a higher seq follow, each once.
	Snapshot
	// Event: one FD_* event of a followed gateway (Update.Event), in the
	// order it arrived, with a seq above its Snapshot's: each socket's
	// events in the order the socket produced them; events of sockets on
	// different event loops may arrive with their seqs out of order.
	Event
	// Gone: synthetic, never an FD_CLOSE: the watcher stopped following
	// the gateway (Update.Reason says why) and reports one socket it had
	// in its table (Update.Socket) as gone. Its real FD_CLOSE, if the
	// gateway ever emits one, is not reported.
	Gone
	// Lost: the connection to a gateway still registered was lost
	// (protoactor's EndpointTerminatedEvent) or its snapshot request
	// timed out, after its Gone records; the watcher tries to snapshot
	// it again while its key stays.
	Lost
	// Leave: the gateway's key went (lease revoked by its Shutdown, or
	// expired: dead, hung, or cut off from etcd past its TTL), or the
	// gateway said events.Leaving (its Shutdown, right after the revoke,
	// ahead of its sockets' FD_CLOSEs); after its Gone records.
	Leave
	// Restart: a new incarnation registered on a followed address, after
	// the old incarnation's Gone records; its Snapshot follows.
	Restart
	// Change: a registered gateway's key was written again by the same
	// incarnation with another Member: its listeners changed (a runtime's
	// Listen while it runs, or a listener closed; Registration.
	// SetListeners). Update.Gateway is the new Member, as View has it
	// from then on; the gateway's table and its sync are untouched (it
	// may come before its Snapshot). The same Member written again (a
	// registration made again after a lost lease) is not reported.
	Change
)

var kindNames = [...]string{Join: "JOIN", Snapshot: "SNAPSHOT", Event: "EVENT", Gone: "GONE", Lost: "LOST", Leave: "LEAVE", Restart: "RESTART", Change: "CHANGE"}

// String returns JOIN, SNAPSHOT, EVENT, GONE, LOST, LEAVE, RESTART or
// CHANGE.
func (k Kind) String() string {
	if int(k) < len(kindNames) && kindNames[k] != "" {
		return kindNames[k]
	}
	return fmt.Sprintf("Kind(%d)", uint8(k))
}

// Reasons of Gone records (Update.Reason).
const (
	ReasonLeave   = "leave"   // the key went
	ReasonRestart = "restart" // a new incarnation replaced it
	ReasonLost    = "lost"    // the connection was lost or the gateway did not answer
)

// Update is one thing a Watcher reports, in order. Its pointers are the
// receiver's to keep (the watcher does not touch them again).
type Update struct {
	Kind Kind
	// Gateway is the gateway's registration (for Restart and Change, the
	// new one).
	Gateway Member
	// Snapshot, for Snapshot updates.
	Snapshot *events.Snapshot
	// Event, for Event updates.
	Event *events.Event
	// Socket and Reason, for Gone updates: the socket as the watcher's
	// table had it.
	Socket *events.SocketEntry
	Reason string
}

// GatewayView is a Watcher's view of one registered gateway: a copy the
// caller owns (the entries are shared with no one once View returned, and
// must not be modified while OnUpdate may still hold them).
type GatewayView struct {
	Member Member
	// Synced: a snapshot of this incarnation was applied and its events
	// are followed; Sockets is then exact as of Seq.
	Synced bool
	// Seq is the highest seq applied (the snapshot's or an event's):
	// events of different sockets may arrive with their seqs out of
	// order, so an event with a lower seq may still be applied later.
	Seq uint64
	// Sockets is the table, ordered by socket id.
	Sockets []*events.SocketEntry
}
