// Package server is the application of examples/http: its routes (Route,
// on the h1 protocol package) and its socket-actor handler (Handler), in a
// package of their own so that the bench runs the very same server.
package server

import (
	"errors"
	"time"

	"github.com/sockactor/sockactor/actors"
	"github.com/sockactor/sockactor/events"
	"github.com/sockactor/sockactor/examples/http/h1"
	"github.com/sockactor/sockactor/winsock"
)

// The TechEmpower bodies.
const (
	Plaintext = "Hello, World!"
	JSON      = `{"message":"Hello, World!"}`
)

// Route answers one request:
//
//	GET  /plaintext  200 "Hello, World!" text/plain
//	GET  /json       200 {"message":"Hello, World!"} application/json
//	POST /echo       200 the request body (Content-Length), application/octet-stream
//	                 411 without a Content-Length, then close
//	another method on those paths: 405 with Allow; any other path: 404
//
// The query string is ignored. It allocates nothing.
func Route(c *h1.Conn, r *h1.Request, body []byte) {
	switch string(r.Path()) {
	case "/plaintext":
		if string(r.Method) != "GET" {
			c.ReplyError(405, "Allow: GET\r\n")
			return
		}
		c.ReplyString(200, "text/plain", Plaintext)
	case "/json":
		if string(r.Method) != "GET" {
			c.ReplyError(405, "Allow: GET\r\n")
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

// Linger is how long a connection the server ends is still read (and
// what it reads dropped) before it is closed, unless the peer closes
// first: a lingering close.
const Linger = time.Second

// lingerDone ends a lingering close.
type lingerDone struct{}

// retryWrite is the timer of a half-closed connection's refused write:
// after FD_CLOSE no FD_WRITE comes (docs/SEMANTICS.md §4, §5), so the
// handler tries again every retryEvery, until the socket takes the replies
// or its linger ends it.
type retryWrite struct{}

const retryEvery = 5 * time.Millisecond

// maxKeep is the largest held-reply buffer a connection keeps once it is
// written.
const maxKeep = 1 << 20

// Handler returns the handler of the HTTP listener: each socket keeps an
// h1.Conn in its state and feeds it every Received; the replies of one
// read (pipelined requests) are one Write.
//
// When a write is refused (WSAEWOULDBLOCK: the client sends faster than it
// reads its replies, over the socket's SendHighWater) the connection holds
// the replies, stops reading the client (SuspendReading: TCP holds it
// back) and writes them on FD_WRITE, then reads again: no reply is lost.
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
func Handler() actors.Handler { return actors.HandlerFunc(receive) }

// conn is one connection's state, touched only by its handler.
type conn struct {
	hc       *h1.Conn
	held     []byte // replies a refused write left, in order
	blocked  bool   // a write was refused: reads suspended, waiting for FD_WRITE
	ending   bool   // the server ends the connection once held is written
	lingered bool   // SendDisconnect is sent: the linger runs
	peerFIN  bool   // the client half-closed: close once held is written
}

func receive(c *actors.Context) {
	st, _ := c.State().(*conn)
	if st == nil {
		st = &conn{hc: h1.NewConn(Route)}
		c.SetState(st)
	}
	switch m := c.Message().(type) {
	case *actors.Received:
		out, closeAfter := st.hc.Serve(m.Data)
		if out == nil {
			return // nothing completed, or the connection is ending: dropped
		}
		st.send(c, out)
		st.ending = st.ending || closeAfter
		st.settle(c)
	case *events.Event:
		switch {
		case m.EventKind() == events.FDWrite && st.blocked:
			st.blocked = false
			st.send(c, nil)
			if !st.blocked {
				_ = c.ResumeReading() // also when ending: the linger drains what comes
			}
			st.settle(c)
		case actors.ReasonOf(m) == actors.ReasonPeerClose:
			st.peerFIN = true
			st.retry(c)
		}
	case retryWrite:
		st.retry(c)
	case lingerDone:
		c.Close()
	}
}

// send writes what is held, then p; when the socket refuses, what it did
// not take is held (p copied: it is valid until the next Serve) and reads
// are suspended until FD_WRITE.
func (st *conn) send(c *actors.Context, p []byte) {
	if st.blocked {
		st.held = append(st.held, p...)
		return
	}
	if len(st.held) > 0 {
		st.held = append(st.held, p...)
		p = st.held
	}
	if len(p) == 0 {
		return
	}
	_, err := c.Write(p)
	if errors.Is(err, winsock.ErrWouldBlock) { // nothing was queued
		if len(st.held) == 0 {
			st.held = append(st.held, p...)
		}
		st.blocked = true
		if !st.peerFIN {
			_ = c.SuspendReading()
		}
		return
	}
	// Written, or the connection is gone (its FD_CLOSE follows).
	st.held = st.held[:0]
	if cap(st.held) > maxKeep {
		st.held = nil
	}
}

// retry writes what is held on a half-closed connection, again after
// retryEvery while the socket refuses it, then closes.
func (st *conn) retry(c *actors.Context) {
	st.blocked = false
	if st.send(c, nil); st.blocked {
		c.After(retryEvery, retryWrite{})
		return
	}
	st.settle(c)
}

// settle ends the connection once nothing is held: a lingering close when
// the server ends it, a Close after the client's FIN.
func (st *conn) settle(c *actors.Context) {
	if st.blocked {
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
