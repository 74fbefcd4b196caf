// Package server is the application of examples/http: its routes (Route,
// on the h1 protocol package) and its socket-actor handler (Handler), in a
// package of their own so that the bench runs the very same server.
package server

import (
	"time"

	"github.com/sockactor/sockactor/actors"
	"github.com/sockactor/sockactor/events"
	"github.com/sockactor/sockactor/examples/http/h1"
)

// The TechEmpower bodies.
const (
	Plaintext = "Hello, World!"
	JSON      = `{"message":"Hello, World!"}`
)

// Route answers one request:
//
//	GET  /plaintext  200 "Hello, World!" text/plain (HEAD: its head)
//	GET  /json       200 {"message":"Hello, World!"} application/json (HEAD: its head)
//	POST /echo       200 the request body (Content-Length), application/octet-stream
//	                 411 without a Content-Length, then close
//	another method on those paths: 405 with Allow; any other path: 404
//
// The query string is ignored. It allocates nothing.
func Route(c *h1.Conn, r *h1.Request, body []byte) {
	switch string(r.Path()) {
	case "/plaintext":
		if !getOrHead(r) {
			c.ReplyError(405, "Allow: GET, HEAD\r\n")
			return
		}
		c.ReplyString(200, "text/plain", Plaintext)
	case "/json":
		if !getOrHead(r) {
			c.ReplyError(405, "Allow: GET, HEAD\r\n")
			return
		}
		c.ReplyString(200, "application/json", JSON)
	case "/echo":
		switch {
		case string(r.Method) != "POST":
			c.ReplyError(405, "Allow: POST\r\n")
		case r.ContentLength < 0:
			c.CloseAfter() // no length: whatever follows cannot be framed
			c.ReplyError(411, "")
		default:
			c.Reply(200, "application/octet-stream", body)
		}
	default:
		c.ReplyError(404, "")
	}
}

// getOrHead reports whether r is a GET or a HEAD (which h1.Conn answers
// with the GET's head, without the body).
func getOrHead(r *h1.Request) bool {
	m := string(r.Method)
	return m == "GET" || m == "HEAD"
}

// Linger is how long a connection the server ends is still read (and
// what it reads dropped) before it is closed, unless the peer closes
// first: a lingering close.
const Linger = time.Second

// lingerDone ends a lingering close.
type lingerDone struct{}

// Handler returns the handler of the HTTP listener: each socket keeps an
// h1.Conn in its state (actors.WithState) and feeds it every Received;
// the replies of one read (pipelined requests) are one Write.
//
// The replies go through the socket's actors.Outbox: when a write is
// refused (the client sends faster than it reads its replies, over the
// socket's SendHighWater) the Outbox keeps them, stops reading the client
// (TCP holds it back) and writes them on FD_WRITE, then reads again: no
// reply is lost.
//
// After a reply that ends the connection (Connection: close, HTTP/1.0, an
// error) it closes lingering, as HTTP servers do: SendDisconnect (the
// replies, then a FIN), then what the client still sends is read and
// dropped until it closes too, or for Linger at most; a plain Close with
// unread bytes would reset the connection and could destroy the replies
// before the client read them. It closes once the peer has half-closed
// (FD_CLOSE peer-close), after the replies of what it sent are written.
//
// It works under both dispatch modes: under Inline a request whole in the
// read is parsed in the event loop's buffer without a copy.
func Handler() actors.Handler { return actors.WithState(newConn, receive) }

// newConn is a socket's state, made on its first message.
func newConn(*actors.Context) *conn { return &conn{hc: h1.NewConn(Route)} }

// conn is one connection's state, touched only by its handler.
type conn struct {
	hc       *h1.Conn
	out      actors.Outbox // the replies the socket refused, until FD_WRITE
	ending   bool          // the server ends the connection once out is written
	lingered bool          // SendDisconnect is sent: the linger runs
	peerFIN  bool          // the client half-closed: close once out is written
}

func receive(c *actors.Context, st *conn) {
	switch m := c.Message().(type) {
	case *actors.Received:
		out, closeAfter := st.hc.Serve(m.Data)
		if out == nil {
			return // nothing completed, or the connection is ending: dropped
		}
		_ = st.out.Write(c, out) // an error: the connection is going, FD_CLOSE follows
		st.ending = st.ending || closeAfter
		st.settle(c)
	case *events.Event:
		switch {
		case m.EventKind() == events.FDWrite:
			_, _ = st.out.Flush(c) // reading resumes once all is out, also when ending: the linger drains what comes
			st.settle(c)
		case actors.ReasonOf(m) == actors.ReasonPeerClose:
			st.peerFIN = true
			st.retry(c)
		}
	case actors.OutboxRetry:
		st.retry(c)
	case lingerDone:
		c.Close()
	}
}

// retry writes what is kept on a half-closed connection, again after
// actors.Outbox.RetryDelay while the socket refuses it (no FD_WRITE comes
// after FD_CLOSE), then closes.
func (st *conn) retry(c *actors.Context) {
	if st.out.Retry(c) {
		st.settle(c)
	}
}

// settle ends the connection once nothing is kept: a lingering close when
// the server ends it, a Close after the client's FIN.
func (st *conn) settle(c *actors.Context) {
	if st.out.Held() > 0 {
		return // FD_WRITE (or the retry) comes back here
	}
	switch {
	case st.peerFIN:
		c.Close()
	case st.ending && !st.lingered:
		st.lingered = true
		c.SendDisconnect()
		c.After(Linger, lingerDone{})
	}
}
