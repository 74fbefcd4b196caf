// Package h1 is the HTTP/1.1 wire protocol of examples/http, usable over any
// byte stream: a zero-copy request parser (Parse), a response writer with a
// per-second Date cache (AppendResponse), and Conn, one connection's
// pipeline (framing.HeaderBody cuts the requests, a route answers each,
// every reply of one read goes into one buffer). It imports neither
// net/http nor sockactor: examples/http runs it on socket actors and the
// bench's raw gnet HTTP server on gnet directly.
//
// What it does not do, on purpose: chunked request bodies (501, then
// close), obsolete line folding, bare-LF line ends (a request must use
// CRLF), absolute-form targets beyond passing them to the route, and
// HTTP/2. Limits: a header block over MaxHeader is 431, a body over
// MaxBody is 413; both close the connection.
package h1

import (
	"bytes"
	"errors"
	"math"
)

var (
	// ErrBadRequest is a malformed request line or header field (400).
	ErrBadRequest = errors.New("h1: malformed request")
	// ErrNotImplemented is a request body with a Transfer-Encoding
	// (chunked): not implemented here (501).
	ErrNotImplemented = errors.New("h1: transfer-encoded request bodies are not implemented")
)

// Request is one parsed request head. Method and Target are views of the
// header block it was parsed from, valid as long as that block is.
type Request struct {
	Method []byte // "GET", "POST", ...
	Target []byte // the request target as sent: "/plaintext?x=1"
	Minor  int    // 1 for HTTP/1.1, 0 for HTTP/1.0
	// ContentLength is the Content-Length, -1 when the request has none.
	ContentLength int
	// Close is set when the connection ends after this request's
	// response: HTTP/1.1 with "Connection: close", HTTP/1.0 without
	// "Connection: keep-alive".
	Close bool
	// Continue is set when an HTTP/1.1 request asks "Expect: 100-continue":
	// the client waits for "100 Continue" before it sends the body.
	Continue bool

	// the offsets of Method and Target in the header block
	methodEnd, targetStart, targetEnd int
}

// Path is Target without its query.
func (r *Request) Path() []byte {
	if i := bytes.IndexByte(r.Target, '?'); i >= 0 {
		return r.Target[:i]
	}
	return r.Target
}

// rebind points Method and Target into header, a copy of the block the
// request was parsed from.
func (r *Request) rebind(header []byte) {
	r.Method = header[:r.methodEnd]
	r.Target = header[r.targetStart:r.targetEnd]
}

// tchar reports the token characters of RFC 9110 §5.6.2.
var tchar = func() (t [256]bool) {
	for c := 'a'; c <= 'z'; c++ {
		t[c] = true
	}
	for c := 'A'; c <= 'Z'; c++ {
		t[c] = true
	}
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for _, c := range "!#$%&'*+-.^_`|~" {
		t[c] = true
	}
	return t
}()

// Parse parses a request head, header: the request line and the header
// fields, without the blank line that ends them. It allocates nothing. It
// fails with ErrBadRequest on anything malformed (a bad request line, a
// version other than HTTP/1.0 or 1.1, a field without a colon or with a
// space before it, control characters, a folded line, a bad or repeated
// Content-Length) and ErrNotImplemented on a Transfer-Encoding.
func Parse(header []byte, r *Request) error {
	*r = Request{ContentLength: -1}
	line, rest, more := bytes.Cut(header, crlf)
	// request-line = method SP request-target SP HTTP-version
	m := 0
	for m < len(line) && tchar[line[m]] {
		m++
	}
	if m == 0 || m >= len(line) || line[m] != ' ' {
		return ErrBadRequest
	}
	ts := m + 1
	te := ts
	for te < len(line) && line[te] > ' ' && line[te] != 0x7f {
		te++
	}
	if te == ts || te >= len(line) || line[te] != ' ' {
		return ErrBadRequest
	}
	v := line[te+1:]
	if len(v) != 8 || string(v[:7]) != "HTTP/1." || (v[7] != '0' && v[7] != '1') {
		return ErrBadRequest
	}
	r.Minor = int(v[7] - '0')
	r.methodEnd, r.targetStart, r.targetEnd = m, ts, te
	r.rebind(header)

	keepAlive, closeConn := false, false
	for more {
		line, rest, more = bytes.Cut(rest, crlf)
		colon := 0
		for colon < len(line) && tchar[line[colon]] {
			colon++
		}
		if colon == 0 || colon >= len(line) || line[colon] != ':' {
			return ErrBadRequest // also a folded line (it starts with a space)
		}
		name, value := line[:colon], trimOWS(line[colon+1:])
		for _, c := range value {
			if (c < ' ' && c != '\t') || c == 0x7f {
				return ErrBadRequest
			}
		}
		switch {
		case len(name) == 14 && bytes.EqualFold(name, []byte("Content-Length")):
			n, ok := parseLength(value)
			if !ok || (r.ContentLength >= 0 && r.ContentLength != n) {
				return ErrBadRequest
			}
			r.ContentLength = n
		case len(name) == 17 && bytes.EqualFold(name, []byte("Transfer-Encoding")):
			return ErrNotImplemented
		case len(name) == 6 && bytes.EqualFold(name, []byte("Expect")):
			r.Continue = r.Minor == 1 && bytes.EqualFold(value, []byte("100-continue"))
		case len(name) == 10 && bytes.EqualFold(name, []byte("Connection")):
			for opts, more := value, true; more; {
				var opt []byte
				opt, opts, more = bytes.Cut(opts, []byte(","))
				opt = trimOWS(opt)
				closeConn = closeConn || bytes.EqualFold(opt, []byte("close"))
				keepAlive = keepAlive || bytes.EqualFold(opt, []byte("keep-alive"))
			}
		}
	}
	r.Close = closeConn || (r.Minor == 0 && !keepAlive)
	return nil
}

var crlf = []byte("\r\n")

// trimOWS trims the optional white space (SP, HTAB) around a field value.
func trimOWS(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t') {
		b = b[1:]
	}
	for len(b) > 0 && (b[len(b)-1] == ' ' || b[len(b)-1] == '\t') {
		b = b[:len(b)-1]
	}
	return b
}

// parseLength parses a Content-Length: decimal digits only. A length too
// large for an int is math.MaxInt, which the framer refuses as too large
// (413) rather than as malformed.
func parseLength(b []byte) (int, bool) {
	if len(b) == 0 {
		return 0, false
	}
	n := 0
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		if n > (math.MaxInt-9)/10 {
			n = math.MaxInt
			continue
		}
		n = n*10 + int(c-'0')
	}
	return n, true
}
