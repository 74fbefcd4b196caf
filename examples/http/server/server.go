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

// Handler returns the handler of the HTTP listener: each socket keeps an
// h1.Conn in its state and feeds it every Received; the replies of one
// read (pipelined requests) are one Write. After a reply that ends the
// connection (Connection: close, HTTP/1.0, an error) it closes lingering,
// as HTTP servers do: SendDisconnect (the replies, then a FIN), then what
// the client still sends is read and dropped until it closes too, or for
// Linger at most; a plain Close with unread bytes would reset the
// connection and could destroy the replies before the client read them.
// It closes once the peer has half-closed (FD_CLOSE peer-close: the
// replies of what it sent are written first, the Close going through the
// mailbox).
// It works under both dispatch modes: under Inline a request whole in the
// read is parsed in the event loop's buffer without a copy.
func Handler() actors.Handler { return actors.HandlerFunc(receive) }

func receive(c *actors.Context) {
	switch m := c.Message().(type) {
	case *actors.Received:
		hc, _ := c.State().(*h1.Conn)
		if hc == nil {
			hc = h1.NewConn(Route)
			c.SetState(hc)
		}
		out, closeAfter := hc.Serve(m.Data)
		if len(out) > 0 {
			_, _ = c.Write(out)
		}
		if closeAfter && out != nil { // once: after it, Serve answers nil
			c.SendDisconnect()
			c.After(Linger, lingerDone{})
		}
	case lingerDone:
		c.Close()
	case *events.Event:
		if events.Kind(m.Kind) == events.FDClose && m.Reason == "peer-close" {
			c.Close()
		}
	}
}
