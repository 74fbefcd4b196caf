package actors

// WithState returns a Handler that gives every socket a state of its own,
// typed: newState makes it on the socket's first message (an accepted
// socket's FD_ACCEPT, a dialled one's FD_CONNECT, or its first Received
// when it subscribed to no events), and receive gets it with every message,
// the first included. It is the socket's Context.State, so a handler may
// still replace it with SetState (with another *S: a value of another type
// is replaced by a fresh one). It is dropped with the socket when the
// socket is released.
//
// The state belongs to the socket's handler: newState and receive run on
// the handler's goroutine (the socket's event loop under Inline dispatch,
// a worker under Pooled), never concurrently for one socket, so *S needs
// no lock for what only the handler touches. The returned Handler is safe
// to share between listeners and sockets.
func WithState[S any](newState func(c *Context) *S, receive func(c *Context, st *S)) Handler {
	return stateHandler[S]{newState: newState, receive: receive}
}

// stateHandler is WithState's Handler.
type stateHandler[S any] struct {
	newState func(c *Context) *S
	receive  func(c *Context, st *S)
}

// Receive finds or makes the socket's *S and calls receive with it.
func (h stateHandler[S]) Receive(c *Context) {
	slot := c.s.state()
	st, _ := (*slot).(*S)
	if st == nil {
		st = h.newState(c)
		*slot = st
	}
	h.receive(c, st)
}
