package actors

import (
	"github.com/sockactor/sockactor/winsock"
)

// Helpers that spare a handler the message plumbing of its own socket. Each
// is a request to the socket itself, exactly as
// c.Request(c.Self(), &Close{}) would be: it goes through the socket's
// mailbox (after whatever the handler already wrote, in both dispatch
// modes), runs on the connection's event loop, and its reply comes back to
// the handler as an ordinary message. None of them blocks, so they are
// correct under Inline dispatch. Like every Context method, they are for
// the goroutine running the handler, during Receive.
//
// RecvDisconnect (handler.go) is the exception: the receive ban must be in
// force when it returns, so it runs at once and returns its result. Under
// Inline dispatch, where the handler already runs on the socket's loop,
// SuspendReading and ResumeReading also return their result at once (see
// each).

// Close closes the socket gracefully once what the handler wrote before it
// has been queued: flush, FIN, release (the Close message). The handler's
// last message is then FD_CLOSE "local-close"; the CloseResult reply is not
// delivered, since the socket is released as it is sent.
//
// Call it from the handler's goroutine, during Receive (as every Context
// method); it never blocks.
func (c *Context) Close() { c.Request(c.Self(), &Close{}) }

// Abort resets the connection (RST, SO_LINGER 0) and releases the socket
// (the Abort message); what is still queued is dropped. The handler's last
// message is FD_CLOSE "local-abort"; no CloseResult reaches it.
//
// Call it from the handler's goroutine, during Receive (as every Context
// method); it never blocks.
func (c *Context) Abort() { c.Request(c.Self(), &Abort{}) }

// SendDisconnect sends FIN once the bytes written before it have gone out
// (the SendDisconnect message); receiving goes on. The reply arrives as a
// *SendDisconnectResult; later Writes fail with ErrShutdown.
//
// Call it from the handler's goroutine, during Receive (as every Context
// method); it never blocks.
func (c *Context) SendDisconnect() { c.Request(c.Self(), &SendDisconnect{}) }

// Recv pulls at most max buffered bytes of a pull-mode socket (the Recv
// message, docs/SEMANTICS.md §2), typically on FD_READ. The bytes arrive as
// a *RecvResult: its Data (owned by the handler), or an Err() such as
// ErrWouldBlock when nothing is buffered (always, on a push-mode socket)
// or ErrShutdown after RecvDisconnect. After the peer's FIN, a RecvResult
// with no data and a nil Err() says the stream has ended.
//
// Call it from the handler's goroutine, during Receive (as every Context
// method); it never blocks.
func (c *Context) Recv(max int) { c.Request(c.Self(), &Recv{Max: int64(max)}) }

// SuspendReading stops reading this socket's connection (the SuspendReading
// message, docs/SEMANTICS.md §5): the peer is held by flow control until
// ResumeReading; nothing is closed or dropped. Idempotent.
//
// Under Inline dispatch it applies at once, on the loop the handler runs
// on: no *Received follows until ResumeReading, and it returns the outcome
// (nil, or an error matching ErrNotConn, ErrNoProtoOpt on a datagram
// socket, ErrShutdown after RecvDisconnect); no reply message follows.
// Under Pooled dispatch it is a request to the socket itself, like Close:
// it returns nil at once and the outcome arrives as a
// *SuspendReadingResult; bytes read before the socket handled it (already
// in the handler's queue) are still delivered, before that reply.
//
// Call it from the handler's goroutine, during Receive (as every Context
// method); it never blocks.
func (c *Context) SuspendReading() error {
	s := c.s
	if s.prof.dispatch != Inline {
		c.Request(c.Self(), &SuspendReading{})
		return nil
	}
	if s.conn == nil {
		return &winsock.OpError{Op: "SuspendReading", Socket: s.id, Code: winsock.WSAENOTCONN}
	}
	if s.x != nil {
		s.x.resumeOwed = false // a ResumeReading not yet run is undone: the last call wins
	}
	r := s.suspendReading() // event loop goroutine
	return replyErr("SuspendReading", s.id, r.Code, r.Detail)
}

// ResumeReading undoes SuspendReading (the ResumeReading message): the
// connection is read again unless the runtime's inbound limits still hold
// it. Idempotent.
//
// Under Inline dispatch it returns the outcome at once (nil, or an error
// matching ErrNotConn or ErrNoProtoOpt) and takes effect on the loop as
// soon as this Receive has returned, in order with the messages already
// sent to the socket, so the bytes read while paused never reach the
// handler inside this call; a SuspendReading before it has run (later in
// this Receive, typically) cancels it: the last call wins. No reply message
// follows. Under Pooled dispatch it is a
// request to the socket itself: it returns nil and the outcome arrives as
// a *ResumeReadingResult.
//
// Call it from the handler's goroutine, during Receive (as every Context
// method); it never blocks.
func (c *Context) ResumeReading() error {
	s := c.s
	if s.prof.dispatch != Inline {
		c.Request(c.Self(), &ResumeReading{})
		return nil
	}
	if s.conn == nil {
		return &winsock.OpError{Op: "ResumeReading", Socket: s.id, Code: winsock.WSAENOTCONN}
	}
	if code, detail := s.pauseRefusal(); code != winsock.OK { // event loop goroutine
		return replyErr("ResumeReading", s.id, uint32(code), detail)
	}
	s.ext().resumeOwed = true
	s.post(inlineResume{})
	return nil
}
