// Package runtime is sockactor's composition root: a Runtime owns one
// protoactor ActorSystem, one gnet engine (netio), the socket actors
// (actors) between them and the event hub (events). Declare listeners with
// Listen, call Start, and every accepted connection becomes a socket actor
// whose handler runs inline on its event loop or pooled on the runtime's
// worker pool (Options.PoolSize); Shutdown closes every socket with FD_CLOSE 10050 "shutdown"
// before it returns.
//
// A Runtime is safe for concurrent use. It keeps its state on the value, so
// several runtimes can live in one process; the exceptions belong to
// protoactor remote (remote.go, and internal/grpcorder): the nodes
// StartRemote started, and the barrier that orders remote starts in one
// process. Its embedded actors.Caller gives blocking request helpers
// (RecvDisconnect, Send, Close, Info, Snapshot, ...) for code that is not
// an actor; actors use the socket PIDs directly.
//
// Across nodes (docs/SEMANTICS.md §7): with Options.Remote the runtime
// starts protoactor remote on its system before it makes any PID, so every
// socket, listener, event and reply names the node's real address; its node
// actor (NodePID) answers runtime-wide subscriptions and snapshots from
// other nodes; StartRemote makes any other protoactor system a node with
// the same settings (keepalive, retries, and a guard against message types
// this process does not link).
package runtime
