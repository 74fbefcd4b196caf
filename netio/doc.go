// Package netio is sockactor's binding to gnet v2: it runs the event loops,
// accepts connections on its listeners (TCP, unix and UDP), enrolls the
// ones Engine.Dial opens, and owns the read and write paths of every
// connection. It is the transport under package actors; applications do
// not import it (package actors re-exports the names they need).
//
// The read path is gnet's OnTraffic callback (on an unexported type, so
// gnet's callbacks are not part of Engine's API), and the receive ban of
// docs/SEMANTICS.md §3 is enforced there as one branch per read, on the
// loop that owns the connection: once Conn.ShutdownRecv has run, received
// bytes never reach the Handler again and are either answered with a reset
// (BanReset, ReasonRecvBan) or read, counted and dropped (BanDiscard). The
// close reasons of docs/SEMANTICS.md §4 are Reason, with its word, its
// Winsock code and whether this side closed. The Winsock codes themselves
// are package winsock's; netio only uses them.
//
// netio knows gnet but nothing of actors or events: it reports upward only
// through the small Handler interface (OnOpen, OnData, OnClose), and the
// upper layer keeps its own record in Conn.Owner and Listener.Owner.
//
// Conn is the one handle for every socket, whatever its kind: a TCP, unix
// or TLS stream, a UDP listener's peer, or a dialled UDP socket. Each kind
// keeps its own state in a part of its own (an unexported type behind the
// unexported transport interface, transport.go), and what every kind does
// in its own way (write, close, shut down a side, read, report a close) is
// a method of that interface; only the stream and the dialled UDP socket
// hold a gnet connection.
//
// Goroutines: Engine.Start runs gnet on a goroutine of its own and returns
// once the listeners are bound; every Handler method, and every function
// passed to Conn.Wake, runs on the event loop goroutine that owns the
// connection. Each exported method says who may call it: "loop only"
// methods need no lock and must not block; "any goroutine" methods are
// safe concurrently (Conn.WriteDirect once the loop has called
// Conn.EnableDirectWrite: a write from the caller's goroutine, serialized
// with the loop's own writes by a per-connection lock, direct.go).
// Engine.Dial and Engine.Stop block and must be called from the caller's
// own goroutine, never from an event loop. Stop closes every open
// connection with ReasonShutdown, and Handler.OnClose has run for each
// before it returns.
package netio
