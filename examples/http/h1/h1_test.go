package h1

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		head           string
		method, target string
		minor, length  int
		close          bool
		err            error
	}{
		{head: "GET /plaintext HTTP/1.1\r\nHost: x", method: "GET", target: "/plaintext", minor: 1, length: -1},
		{head: "GET / HTTP/1.1", method: "GET", target: "/", minor: 1, length: -1},
		{head: "POST /echo?a=1 HTTP/1.1\r\ncontent-length:  5 \r\nHost: x", method: "POST", target: "/echo?a=1", minor: 1, length: 5},
		{head: "GET / HTTP/1.1\r\nConnection: Keep-Alive, close", method: "GET", target: "/", minor: 1, length: -1, close: true},
		{head: "GET / HTTP/1.0", method: "GET", target: "/", length: -1, close: true},
		{head: "GET / HTTP/1.0\r\nConnection: keep-alive", method: "GET", target: "/", length: -1},
		{head: "POST / HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 3", method: "POST", target: "/", minor: 1, length: 3},
		{head: "POST / HTTP/1.1\r\nTransfer-Encoding: chunked", err: ErrNotImplemented},
		{head: "POST / HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 4", err: ErrBadRequest},
		{head: "POST / HTTP/1.1\r\nContent-Length: -1", err: ErrBadRequest},
		{head: "POST / HTTP/1.1\r\nContent-Length: 1x", err: ErrBadRequest},
		{head: "POST / HTTP/1.1\r\nContent-Length:", err: ErrBadRequest},
		{head: "", err: ErrBadRequest},
		{head: "GET", err: ErrBadRequest},
		{head: "GET /", err: ErrBadRequest},
		{head: "GET / ", err: ErrBadRequest},
		{head: "GET  / HTTP/1.1", err: ErrBadRequest},
		{head: "GET / HTTP/1.1 ", err: ErrBadRequest},
		{head: "GET / HTTP/2.0", err: ErrBadRequest},
		{head: "GET / http/1.1", err: ErrBadRequest},
		{head: "G(T / HTTP/1.1", err: ErrBadRequest},
		{head: "GET /\x01 HTTP/1.1", err: ErrBadRequest},
		{head: "GET / HTTP/1.1\r\nHost x", err: ErrBadRequest},
		{head: "GET / HTTP/1.1\r\nHost : x", err: ErrBadRequest},
		{head: "GET / HTTP/1.1\r\n: x", err: ErrBadRequest},
		{head: "GET / HTTP/1.1\r\nHost: x\r\n folded", err: ErrBadRequest},
		{head: "GET / HTTP/1.1\r\nHost: x\x00y", err: ErrBadRequest},
		{head: "GET / HTTP/1.1\r\n", err: ErrBadRequest},
		{head: "GET / HTTP/1.1\nHost: x", err: ErrBadRequest},
	} {
		var r Request
		err := Parse([]byte(tc.head), &r)
		if tc.err != nil {
			if !errors.Is(err, tc.err) {
				t.Errorf("Parse(%q) = %v, want %v", tc.head, err, tc.err)
			}
			continue
		}
		if err != nil || string(r.Method) != tc.method || string(r.Target) != tc.target || r.Minor != tc.minor ||
			r.ContentLength != tc.length || r.Close != tc.close {
			t.Errorf("Parse(%q) = %+v, %v", tc.head, r, err)
		}
	}
	var r Request
	if err := Parse([]byte("POST / HTTP/1.1\r\nContent-Length: 99999999999999999999999"), &r); err != nil || r.ContentLength < DefaultMaxBody {
		t.Errorf("huge length: %d, %v; want a length over any bound", r.ContentLength, err)
	}
	if p := (&Request{Target: []byte("/a?b")}).Path(); string(p) != "/a" {
		t.Errorf("Path = %q", p)
	}
}

// echoRoute answers each request with its method, target and body.
func echoRoute(c *Conn, r *Request, body []byte) {
	c.ReplyString(200, "text/plain", string(r.Method)+" "+string(r.Target)+" "+string(body))
}

func TestConnPipeline(t *testing.T) {
	c := NewConn(echoRoute)
	wire := "GET /a HTTP/1.1\r\n\r\nPOST /b HTTP/1.1\r\nContent-Length: 5\r\n\r\nhelloGET /c HTTP/1.1\r\nConnection: close\r\n\r\nGET /d HTTP/1.1\r\n\r\n"
	var all []byte
	closed := false
	for _, read := range []string{wire[:10], wire[10:40], wire[40:]} {
		out, cl := c.Serve([]byte(read))
		all = append(all, out...)
		closed = cl
	}
	got := string(all)
	for _, want := range []string{"GET /a ", "POST /b hello", "GET /c ", "Connection: close\r\n"} {
		if !strings.Contains(got, want) {
			t.Errorf("replies lack %q:\n%s", want, got)
		}
	}
	if strings.Contains(got, "/d") || !closed || strings.Count(got, "HTTP/1.1 200 OK") != 3 {
		t.Errorf("closed=%v replies:\n%s", closed, got)
	}
	if out, cl := c.Serve([]byte("GET /e HTTP/1.1\r\n\r\n")); out != nil || !cl {
		t.Errorf("after close: %q %v", out, cl)
	}
}

func TestConnErrors(t *testing.T) {
	for _, tc := range []struct {
		wire   string
		status string
	}{
		{"BAD\r\n\r\n", "400 Bad Request"},
		{"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n", "501 Not Implemented"},
		{"POST / HTTP/1.1\r\nContent-Length: 2000000\r\n\r\n", "413 Content Too Large"},
		{"GET / HTTP/1.1\r\nX: " + strings.Repeat("x", DefaultMaxHeader) + "\r\n\r\n", "431 Request Header Fields Too Large"},
	} {
		out, cl := NewConn(echoRoute).Serve([]byte(tc.wire))
		if !bytes.HasPrefix(out, []byte("HTTP/1.1 "+tc.status+"\r\n")) || !cl || !bytes.Contains(out, []byte("Connection: close\r\n")) {
			t.Errorf("%.40q: %q, close %v", tc.wire, out, cl)
		}
	}
}

func TestAppendDate(t *testing.T) {
	d := string(AppendDate(nil))
	if len(d) != 29 || !strings.HasSuffix(d, " GMT") || d[3] != ',' {
		t.Errorf("Date %q", d)
	}
}

// BenchmarkServe is the steady path: a read of 16 pipelined GET
// /plaintext requests (as wrk's pipeline script sends them) into one
// buffer of replies. It must not allocate.
func BenchmarkServe(b *testing.B) {
	req := "GET /plaintext HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nAccept: text/plain\r\nConnection: keep-alive\r\n\r\n"
	read := []byte(strings.Repeat(req, 16))
	c := NewConn(func(c *Conn, r *Request, _ []byte) {
		if string(r.Path()) == "/plaintext" && string(r.Method) == "GET" {
			c.ReplyString(200, "text/plain", "Hello, World!")
		}
	})
	c.Serve(read)
	b.ReportAllocs()
	b.SetBytes(int64(len(read)))
	b.ResetTimer()
	for range b.N {
		if out, _ := c.Serve(read); len(out) == 0 {
			b.Fatal("no reply")
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*16), "ns/req")
}

func BenchmarkParse(b *testing.B) {
	head := []byte("GET /plaintext HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nAccept: text/plain\r\nConnection: keep-alive")
	var r Request
	b.ReportAllocs()
	for range b.N {
		if err := Parse(head, &r); err != nil {
			b.Fatal(err)
		}
	}
}
