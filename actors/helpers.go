package actors

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
// force when it returns, so it runs at once and returns its result.

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
