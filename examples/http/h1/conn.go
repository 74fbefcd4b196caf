package h1

import (
	"errors"

	"github.com/sockactor/sockactor/framing"
)

// The default limits of a Conn.
const (
	// DefaultMaxHeader bounds the request line and header fields
	// together, in bytes, without the blank line: over it, 431.
	DefaultMaxHeader = 8 << 10
	// DefaultMaxBody bounds a request body (its Content-Length), in
	// bytes: over it, 413.
	DefaultMaxBody = 1 << 20
)

// A Route answers one request by calling one of c's Reply methods. body
// is the request's body (empty without one); r and body are valid during
// the call only.
type Route func(c *Conn, r *Request, body []byte)

// Conn is one HTTP/1.1 connection's pipeline, over any byte stream: Serve
// is fed what the connection reads and returns the replies to write, in
// request order, all the replies of one read in one buffer. A request
// whole in the read is parsed where it lies (no copy); framing.HeaderBody
// keeps an unfinished one for the next read. A Conn is not safe for
// concurrent use: it belongs to its connection's handler.
type Conn struct {
	route   Route
	f       framing.HeaderBody
	req     Request
	out     []byte
	closing bool
}

// NewConn returns the state of one connection, whose requests route
// answers, with the default limits.
func NewConn(route Route) *Conn {
	c := &Conn{route: route}
	c.f = framing.HeaderBody{Delim: []byte("\r\n\r\n"), BodyLen: c.bodyLen,
		MaxHeader: DefaultMaxHeader, MaxBody: DefaultMaxBody}
	return c
}

// bodyLen parses each request head as soon as it is complete and tells
// the framer its body's length. A request that expects 100-continue, with
// a body the framer will take, gets "100 Continue" now, in order with the
// replies before it: the client sends its body only then (curl waits a
// second for it).
func (c *Conn) bodyLen(header []byte) (int, error) {
	if err := Parse(header, &c.req); err != nil {
		return 0, err
	}
	n := max(c.req.ContentLength, 0)
	if c.req.Continue && n > 0 && n <= c.f.MaxBody && !c.closing {
		c.out = append(c.out, "HTTP/1.1 100 Continue\r\n\r\n"...)
	}
	return n, nil
}

// Serve feeds the bytes the connection read and returns the replies to
// write (nil when no request was completed; valid until the next call),
// and whether to close the connection once they are written: after a
// request that asked for it, after an error reply (400, 413, 431, 501), or
// when the route called CloseAfter. Once it has said close, later calls
// return nothing.
func (c *Conn) Serve(data []byte) (out []byte, closeAfter bool) {
	if c.closing {
		return nil, true
	}
	c.out = c.out[:0]
	for fr, err := range c.f.Frames(data) {
		if err != nil {
			c.closing = true
			c.ReplyError(StatusOf(err), "")
			break
		}
		c.req.rebind(fr.Header)
		c.route(c, &c.req, fr.Body)
		if c.closing {
			break // the rest of the read is not answered
		}
	}
	return c.out, c.closing
}

// StatusOf maps the error of a request stream to its status: 431 for a
// header block over its bound, 413 for a body over its bound, 501 for a
// transfer-encoded body, 400 for the rest.
func StatusOf(err error) int {
	switch {
	case errors.Is(err, framing.ErrHeaderTooLarge):
		return 431
	case errors.Is(err, framing.ErrBodyTooLarge):
		return 413
	case errors.Is(err, ErrNotImplemented):
		return 501
	}
	return 400
}

// CloseAfter closes the connection after the reply the route is about to
// write (which then says "Connection: close"); the requests after it in
// the read are not answered.
func (c *Conn) CloseAfter() { c.closing = true }

// head appends a response head for the current request.
func (c *Conn) head(status int, contentType, extra string, n int) {
	c.closing = c.closing || c.req.Close
	c.out = AppendResponse(c.out, status, contentType, extra, n, c.closing, c.req.Minor == 0)
}

// headOnly reports whether the current request is a HEAD: its response
// is the head a GET would get (the same Content-Length), without the body
// (RFC 9110 §9.3.2).
func (c *Conn) headOnly() bool { return string(c.req.Method) == "HEAD" }

// Reply appends a response with body (the head only, for a HEAD request).
func (c *Conn) Reply(status int, contentType string, body []byte) {
	c.head(status, contentType, "", len(body))
	if !c.headOnly() {
		c.out = append(c.out, body...)
	}
}

// ReplyString appends a response with body (the head only, for a HEAD
// request).
func (c *Conn) ReplyString(status int, contentType, body string) {
	c.head(status, contentType, "", len(body))
	if !c.headOnly() {
		c.out = append(c.out, body...)
	}
}

// ReplyError appends an error response: a text/plain body of the status
// and its reason phrase, with extra header lines (each ending in CRLF, e.g.
// "Allow: GET\r\n"; may be empty). A HEAD request gets the head only.
func (c *Conn) ReplyError(status int, extra string) {
	text := StatusText(status)
	c.head(status, "text/plain", extra, 5+len(text))
	if c.headOnly() {
		return
	}
	c.out = append(c.out, byte('0'+status/100), byte('0'+status/10%10), byte('0'+status%10), ' ')
	c.out = append(c.out, text...)
	c.out = append(c.out, '\n')
}
