// Package netio is sockactor's binding to gnet v2: it runs the event loops,
// accepts TCP connections on its listeners, enrolls the ones Engine.Dial
// opens, and owns the read and write paths of every connection. The read
// path is OnTraffic, and the receive ban of docs/SEMANTICS.md §3 is enforced there
// as one branch per read, on the loop that owns the connection: once
// Conn.ShutdownRecv has run, received bytes never reach the Handler again
// and are either answered with a reset (BanReset, ReasonRecvBan) or read,
// counted and dropped (BanDiscard). The package also defines the Winsock
// error codes of docs/SEMANTICS.md §2 as Go errors (Code, the Err* names, OpError
// and CodeOf), which match both their named error and their syscall twin
// with errors.Is, and the close reasons of docs/SEMANTICS.md §4 (Reason, with its
// word, its code and whether this side closed).
//
// netio knows gnet but nothing of actors or events: it reports upward only
// through the small Handler interface (OnOpen, OnData, OnClose), and the
// upper layer keeps its own record in Conn.Owner and Listener.Owner.
// Goroutines: Engine.Start runs gnet on a goroutine of its own and returns
// once the listeners are bound; every Handler method, and every function
// passed to Conn.Execute or Conn.Wake, runs on the event loop goroutine that
// owns the connection, so Conn methods documented "loop only" need no lock
// and must not block. Conn.Execute, Conn.Wake, Conn.AsyncWrite,
// Conn.WriteDirect (once the loop has called Conn.EnableDirectWrite: a
// write from the caller's goroutine, serialized with the loop's own writes
// by a per-connection lock, direct.go), Conn.AddBanned, Conn.Closed and
// the address getters are safe from any goroutine; Engine.Dial and
// Engine.Stop block and must be called from the caller's own goroutine,
// never from an event loop. Stop closes every open connection with
// ReasonShutdown, and Handler.OnClose has run for each before it returns.
package netio
