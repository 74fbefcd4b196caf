// Package winsock provides the Winsock error codes that sockactor reports
// (docs/SEMANTICS.md §2) as Go error values: Code, whose numbers are
// Winsock's (10057 is WSAENOTCONN) so they read the same on the wire, in
// logs and in a Winsock programmer's head; the named errors (ErrNotConn,
// ErrShutdown, ...) for errors.Is; and OpError, the error of one socket
// operation, which unwraps to its Code and its cause.
//
// It is a leaf: it imports only the standard library, so application code
// that matches reply codes (errors.Is(err, winsock.ErrWouldBlock), or
// winsock.Code(reply.Code).Err()) needs neither the transport (netio) nor
// the actor packages. A Code also matches its POSIX twin with errors.Is
// (WSAENOTCONN and syscall.ENOTCONN), and the timeout code satisfies
// net.Error with Timeout() true. Every value is immutable and safe to share
// between goroutines.
package winsock
