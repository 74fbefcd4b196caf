// Package actors makes every socket an actor. Two kinds of "send" meet
// here: Context.Write and the Send message (actors.Send) put bytes on the
// wire for the peer, while Context.Send hands an actor message to a PID and
// never touches the network.
//
// Each TCP connection, accepted or dialled, becomes a socket actor: an
// actor.Process registered in protoactor's process registry under
// "sock/<id>", whose mailbox drains on the gnet event loop that owns the
// connection. Its messages (Send, RecvDisconnect, SendDisconnect, Close,
// Abort, Subscribe, Info, SuspendReading, ...; protobuf, so they cross
// protoactor remote unchanged) therefore run serialized with the socket's
// I/O, with no goroutine of their own and no lock on the data path. Each
// listener is an actor too. The package also holds the Handler API that runs
// user behaviour inside the socket actor, and Caller, the request helpers for
// code that is not an actor.
//
// Goroutines: the control path (socket messages) and Inline handlers run on
// the connection's event loop; Pooled handlers run on the runtime's worker
// pool (reused goroutines, bounded by runtime.Options.PoolSize) from a small
// per-socket queue (one message at a time, no actor per socket) and
// receive copies of the bytes. A handler call's stream writes leave in one
// system call when it returns (Context.Write). The receive ban
// is enforced below this package, in netio's read path; this package extends
// it to bytes already queued for a pooled handler, which are dropped (and
// reset the connection under the reset policy) instead of being delivered.
// A remote subscriber (a PID of another node) is handed to the hub's watch
// when it subscribes, so it is dropped when it stops or its node is lost;
// Caller works against remote PIDs as against local ones, and
// Caller.Snapshot asks a runtime's node actor for a snapshot.
// Events are published through events.Hub from the loop (a failed dial's
// FD_CONNECT from the dialling goroutine, before any loop owns the socket),
// which keeps them in order per socket and makes FD_CLOSE the last one.
// The files split the socket actor by role: socket.go (its state),
// mailbox.go, operations.go, lifecycle.go, dispatch.go, ban.go (the receive
// ban above the transport) and door.go (its goroutines and timers).
// names.go gives applications the transport's names (BanPolicy, Reason,
// ReasonOf, ParseAddr), so they never import package netio. Host
// (runtimehost.go) is the socket table, for package runtime's use only.
package actors
