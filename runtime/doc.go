// Package runtime is sockactor's composition root: a Runtime owns one
// protoactor ActorSystem, one gnet engine (netio), the socket actors
// (actors) between them and the event hub (events). Declare listeners with
// Listen, call Start, and every accepted connection becomes a socket actor
// whose handler runs inline on its event loop or pooled on protoactor's
// dispatcher; Shutdown closes every socket with FD_CLOSE 10050 "shutdown"
// before it returns.
//
// A Runtime is safe for concurrent use. It keeps all of its state on the
// value (no process-wide registries), so several runtimes can live in one
// process. Its embedded actors.Caller gives blocking request helpers
// (RecvDisconnect, Send, Close, Info, ...) for code that is not an actor;
// actors use the socket PIDs directly.
package runtime
