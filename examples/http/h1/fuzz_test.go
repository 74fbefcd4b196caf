package h1

import (
	"bytes"
	"errors"
	"testing"
)

// FuzzParse: Parse never panics, fails only with its two errors, and what
// it accepts is consistent (views of the header, a sane length).
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"GET /plaintext HTTP/1.1\r\nHost: x",
		"POST /echo HTTP/1.1\r\nContent-Length: 5",
		"GET / HTTP/1.0\r\nConnection: keep-alive",
		"POST / HTTP/1.1\r\nTransfer-Encoding: chunked",
		"GET / HTTP/1.1\r\n folded",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, head []byte) {
		var r Request
		err := Parse(head, &r)
		if err != nil {
			if !errors.Is(err, ErrBadRequest) && !errors.Is(err, ErrNotImplemented) {
				t.Fatalf("error %v", err)
			}
			return
		}
		if len(r.Method) == 0 || len(r.Target) == 0 || !bytes.HasPrefix(head, r.Method) || !bytes.Contains(head, r.Target) ||
			r.ContentLength < -1 || (r.Minor != 0 && r.Minor != 1) {
			t.Fatalf("Parse(%q) = %+v", head, r)
		}
	})
}

// FuzzConn: a Conn fed any stream, cut anywhere, never panics and answers
// the same, reply for reply, as when fed it whole.
func FuzzConn(f *testing.F) {
	f.Add([]byte("GET /a HTTP/1.1\r\n\r\nPOST /b HTTP/1.1\r\nContent-Length: 2\r\n\r\nhiGET /c HTTP/1.0\r\n\r\n"), uint(7))
	f.Add([]byte("BAD\r\n\r\n"), uint(2))
	f.Fuzz(func(t *testing.T, wire []byte, cut uint) {
		route := func(c *Conn, r *Request, body []byte) { c.Reply(200, "", body) }
		whole, wholeClose := NewConn(route).Serve(wire)
		whole = bytes.Clone(whole)
		c := NewConn(route)
		at := int(cut % uint(len(wire)+1))
		a, aClose := c.Serve(wire[:at])
		got := bytes.Clone(a)
		if !aClose {
			b, bClose := c.Serve(wire[at:])
			got, aClose = append(got, b...), bClose
		}
		if stripDates(got) != stripDates(whole) || aClose != wholeClose {
			t.Fatalf("cut at %d: %q (close %v), whole: %q (close %v)", at, got, aClose, whole, wholeClose)
		}
	})
}

// stripDates blanks the Date headers' values (the second may turn).
func stripDates(b []byte) string {
	out := bytes.Clone(b)
	for i := 0; ; {
		j := bytes.Index(out[i:], []byte("\r\nDate: "))
		if j < 0 {
			return string(out)
		}
		i += j + 8
		for k := i; k < i+29 && k < len(out); k++ {
			out[k] = 'x'
		}
	}
}
