package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptrace"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/sockactor/sockactor/examples/http/server"
	"github.com/sockactor/sockactor/internal/socktest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, socktest.LeakOptions()...)
}

// modes are the -dispatch values every test runs under.
var modes = []string{"inline", "pooled"}

// start runs the command on a free port under dispatch d.
func start(t *testing.T, d string) string {
	t.Helper()
	cmd := socktest.StartCommand(t, run, []string{"-listen", "127.0.0.1:0", "-dispatch", d, "-loops", "2"}, socktest.NewLines())
	t.Cleanup(func() { cmd.Stop(t) })
	return cmd.Addr
}

// eachMode runs body under each dispatch mode against a fresh server.
func eachMode(t *testing.T, body func(t *testing.T, addr string)) {
	for _, d := range modes {
		t.Run(d, func(t *testing.T) { body(t, start(t, d)) })
	}
}

// dateRE matches the Date header, whose value changes every second.
var dateRE = regexp.MustCompile(`\r\nDate: [^\r]*\r\n`)

// norm blanks the Date values.
func norm(s string) string { return dateRE.ReplaceAllString(s, "\r\nDate: -\r\n") }

// converse writes wire on a new connection, in the given pieces (a pause
// between them, so that each is a read of its own), then reads until the
// server closes; halfClose sends a FIN after the last piece. It returns
// what was read and the read error that ended it (nil for EOF).
func converse(t *testing.T, addr string, halfClose bool, pieces ...string) (string, error) {
	t.Helper()
	c := socktest.Dial(t, addr)
	for i, p := range pieces {
		if i > 0 {
			time.Sleep(time.Millisecond)
		}
		if _, err := c.Write([]byte(p)); err != nil {
			t.Fatal(err)
		}
	}
	if halfClose {
		_ = c.CloseWrite()
	}
	_ = c.SetReadDeadline(time.Now().Add(socktest.ConnTimeout))
	got, err := io.ReadAll(c)
	return string(got), err
}

// reply is the exact response of the server, Date blanked.
func reply(status, ctype, extra, body string, closing bool) string {
	s := "HTTP/1.1 " + status + "\r\nServer: sockactor\r\nDate: -\r\n"
	if ctype != "" {
		s += "Content-Type: " + ctype + "\r\n"
	}
	s += fmt.Sprintf("Content-Length: %d\r\n", len(body)) + extra
	if closing {
		s += "Connection: close\r\n"
	}
	return s + "\r\n" + body
}

func errReply(code int, text, extra string, closing bool) string {
	return reply(fmt.Sprintf("%d %s", code, text), "text/plain", extra, fmt.Sprintf("%d %s\n", code, text), closing)
}

// routes: each request alone on a connection with "Connection: close",
// and the exact reply.
var routes = []struct{ req, want string }{
	{"GET /plaintext HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", reply("200 OK", "text/plain", "", "Hello, World!", true)},
	{"GET /plaintext?x=1 HTTP/1.1\r\nConnection: close\r\n\r\n", reply("200 OK", "text/plain", "", "Hello, World!", true)},
	{"GET /json HTTP/1.1\r\nConnection: close\r\n\r\n", reply("200 OK", "application/json", "", `{"message":"Hello, World!"}`, true)},
	{"POST /echo HTTP/1.1\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello", reply("200 OK", "application/octet-stream", "", "hello", true)},
	{"POST /echo HTTP/1.1\r\nContent-Length: 0\r\nConnection: close\r\n\r\n", reply("200 OK", "application/octet-stream", "", "", true)},
	{"GET /nope HTTP/1.1\r\nConnection: close\r\n\r\n", errReply(404, "Not Found", "", true)},
	{"DELETE /plaintext HTTP/1.1\r\nConnection: close\r\n\r\n", errReply(405, "Method Not Allowed", "Allow: GET, HEAD\r\n", true)},
	{"POST /json HTTP/1.1\r\nContent-Length: 0\r\nConnection: close\r\n\r\n", errReply(405, "Method Not Allowed", "Allow: GET, HEAD\r\n", true)},
	{"GET /echo HTTP/1.1\r\nConnection: close\r\n\r\n", errReply(405, "Method Not Allowed", "Allow: POST\r\n", true)},
	// The errors close without being asked to.
	{"POST /echo HTTP/1.1\r\n\r\n", errReply(411, "Length Required", "", true)},
	{"POST /echo HTTP/1.1\r\nContent-Length: 1048577\r\n\r\n", errReply(413, "Content Too Large", "", true)},
	{"GET / HTTP/1.1\r\nX: " + strings.Repeat("x", 8<<10) + "\r\n\r\n", errReply(431, "Request Header Fields Too Large", "", true)},
	{"POST /echo HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n", errReply(501, "Not Implemented", "", true)},
	{"GET /plaintext\r\n\r\n", errReply(400, "Bad Request", "", true)},
	{"GET /plaintext HTTP/1.1\r\nBad Header\r\n\r\n", errReply(400, "Bad Request", "", true)},
	{"GET /plaintext HTTP/3.0\r\n\r\n", errReply(400, "Bad Request", "", true)},
	// HEAD: the head a GET gets (its Content-Length), no body; errors too.
	{"HEAD /plaintext HTTP/1.1\r\nConnection: close\r\n\r\n", strings.TrimSuffix(reply("200 OK", "text/plain", "", "Hello, World!", true), "Hello, World!")},
	{"HEAD /json HTTP/1.1\r\nConnection: close\r\n\r\n", strings.TrimSuffix(reply("200 OK", "application/json", "", `{"message":"Hello, World!"}`, true), `{"message":"Hello, World!"}`)},
	{"HEAD /echo HTTP/1.1\r\nConnection: close\r\n\r\n", strings.TrimSuffix(errReply(405, "Method Not Allowed", "Allow: POST\r\n", true), "405 Method Not Allowed\n")},
	{"HEAD /nope HTTP/1.1\r\nConnection: close\r\n\r\n", strings.TrimSuffix(errReply(404, "Not Found", "", true), "404 Not Found\n")},
	// HTTP/1.0 closes unless it asks for keep-alive.
	{"GET /plaintext HTTP/1.0\r\n\r\n", reply("200 OK", "text/plain", "", "Hello, World!", true)},
}

func TestRoutes(t *testing.T) {
	eachMode(t, func(t *testing.T, addr string) {
		for _, r := range routes {
			got, err := converse(t, addr, false, r.req)
			if err != nil || norm(got) != r.want {
				t.Errorf("%.50q:\ngot  %q (%v)\nwant %q", r.req, norm(got), err, r.want)
			}
		}
	})
}

// TestKeepAlive: requests one after the other on one connection, each
// answered before the next is sent; HTTP/1.0 with keep-alive stays open.
func TestKeepAlive(t *testing.T) {
	eachMode(t, func(t *testing.T, addr string) {
		c := socktest.Dial(t, addr)
		r := bufio.NewReader(c)
		for i := range 20 {
			req := "GET /plaintext HTTP/1.1\r\nHost: x\r\n\r\n"
			want := reply("200 OK", "text/plain", "", "Hello, World!", false)
			switch i % 3 {
			case 1:
				req = fmt.Sprintf("POST /echo HTTP/1.1\r\nContent-Length: %d\r\n\r\nmsg-%d", len(fmt.Sprint("msg-", i)), i)
				want = reply("200 OK", "application/octet-stream", "", fmt.Sprint("msg-", i), false)
			case 2:
				req = "GET /json HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"
				want = reply("200 OK", "application/json", "Connection: keep-alive\r\n", `{"message":"Hello, World!"}`, false)
			}
			if _, err := c.Write([]byte(req)); err != nil {
				t.Fatal(err)
			}
			_ = c.SetReadDeadline(time.Now().Add(socktest.ConnTimeout))
			got := readResponse(t, r)
			if norm(got) != want {
				t.Fatalf("request %d: %q, want %q", i, norm(got), want)
			}
		}
	})
}

// readResponse reads one response (its head, then Content-Length bytes).
func readResponse(t *testing.T, r *bufio.Reader) string {
	t.Helper()
	var head strings.Builder
	n := 0
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			t.Fatalf("reading a response: %v (so far %q)", err, head.String())
		}
		head.WriteString(line)
		if v, ok := strings.CutPrefix(line, "Content-Length: "); ok {
			_, _ = fmt.Sscanf(v, "%d", &n)
		}
		if line == "\r\n" {
			break
		}
	}
	body := make([]byte, n)
	if _, err := io.ReadFull(r, body); err != nil {
		t.Fatal(err)
	}
	return head.String() + string(body)
}

// pipeline is a stream of requests sent at once, and its replies.
var pipeline = func() (wire, want string) {
	for _, r := range []struct{ req, want string }{
		{"GET /plaintext HTTP/1.1\r\nHost: x\r\n\r\n", reply("200 OK", "text/plain", "", "Hello, World!", false)},
		{"POST /echo HTTP/1.1\r\nContent-Length: 11\r\n\r\nhello world", reply("200 OK", "application/octet-stream", "", "hello world", false)},
		{"GET /json HTTP/1.1\r\n\r\n", reply("200 OK", "application/json", "", `{"message":"Hello, World!"}`, false)},
		{"HEAD /plaintext HTTP/1.1\r\n\r\n", strings.TrimSuffix(reply("200 OK", "text/plain", "", "Hello, World!", false), "Hello, World!")},
		{"GET /nope HTTP/1.1\r\n\r\n", errReply(404, "Not Found", "", false)},
		{"PUT /plaintext HTTP/1.1\r\nContent-Length: 2\r\n\r\nhi", errReply(405, "Method Not Allowed", "Allow: GET, HEAD\r\n", false)},
		{"GET /plaintext HTTP/1.1\r\nConnection: close\r\n\r\n", reply("200 OK", "text/plain", "", "Hello, World!", true)},
		{"GET /never-answered HTTP/1.1\r\n\r\n", ""},
	} {
		wire += r.req
		want += r.want
	}
	return wire, want
}

func TestPipelined(t *testing.T) {
	wire, want := pipeline()
	eachMode(t, func(t *testing.T, addr string) {
		got, err := converse(t, addr, false, wire)
		if err != nil || norm(got) != want {
			t.Fatalf("got %q (%v)\nwant %q", norm(got), err, want)
		}
		// 16 at once, as wrk's pipeline script sends them, and a FIN.
		got, err = converse(t, addr, true, strings.Repeat("GET /plaintext HTTP/1.1\r\nHost: x\r\n\r\n", 16))
		if one := reply("200 OK", "text/plain", "", "Hello, World!", false); err != nil || norm(got) != strings.Repeat(one, 16) {
			t.Fatalf("16 pipelined: %q (%v)", norm(got), err)
		}
	})
}

// TestSlowReader pipelines POSTs of 1 MiB bodies, far more than the
// socket's send queue takes (SendHighWater, 4 MiB), and reads nothing for a
// while: the server's writes are refused, it stops reading the client and
// holds the replies until FD_WRITE, and then every reply comes, whole and
// in order. Then a FIN: the last replies are written before the close.
func TestSlowReader(t *testing.T) {
	eachMode(t, func(t *testing.T, addr string) {
		c := socktest.Dial(t, addr)
		const posts = 24
		bodies := make([]string, posts)
		done := make(chan error, 1)
		go func() { // one request per read, so that later replies find the queue full
			for i := range posts {
				bodies[i] = strings.Repeat(string(rune('a'+i%26)), 1<<20)
				req := fmt.Sprintf("POST /echo HTTP/1.1\r\nContent-Length: %d\r\n\r\n%s", len(bodies[i]), bodies[i])
				if _, err := c.Write([]byte(req)); err != nil {
					done <- err
					return
				}
				time.Sleep(time.Millisecond)
			}
			done <- c.CloseWrite()
		}()
		time.Sleep(300 * time.Millisecond)
		_ = c.SetReadDeadline(time.Now().Add(socktest.ConnTimeout))
		r := bufio.NewReaderSize(c, 1<<16)
		for i := range posts {
			resp, err := http.ReadResponse(r, nil)
			if err != nil {
				t.Fatalf("reply %d: %v", i, err)
			}
			body, err := io.ReadAll(resp.Body)
			if err != nil || resp.StatusCode != 200 || len(body) != 1<<20 || body[0] != byte('a'+i%26) || body[len(body)-1] != byte('a'+i%26) {
				t.Fatalf("reply %d: %d, %d bytes %.10q, %v", i, resp.StatusCode, len(body), body, err)
			}
		}
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		if rest, err := io.ReadAll(r); err != nil || len(rest) != 0 {
			t.Fatalf("after the last reply: %q, %v (want EOF)", rest, err)
		}
	})
}

// TestExpectContinue: a client that asks "Expect: 100-continue" gets
// "100 Continue" before it sends its body, then the reply; one whose body
// is over the bound gets 413 without it.
func TestExpectContinue(t *testing.T) {
	eachMode(t, func(t *testing.T, addr string) {
		c := socktest.Dial(t, addr)
		_ = c.SetDeadline(time.Now().Add(socktest.ConnTimeout))
		r := bufio.NewReader(c)
		if _, err := c.Write([]byte("POST /echo HTTP/1.1\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n")); err != nil {
			t.Fatal(err)
		}
		want := "HTTP/1.1 100 Continue\r\n\r\n"
		got := make([]byte, len(want))
		if _, err := io.ReadFull(r, got); err != nil || string(got) != want {
			t.Fatalf("before the body: %q, %v; want %q", got, err, want)
		}
		if _, err := c.Write([]byte("hello")); err != nil {
			t.Fatal(err)
		}
		if got := norm(readResponse(t, r)); got != reply("200 OK", "application/octet-stream", "", "hello", false) {
			t.Fatalf("reply: %q", got)
		}
		// Over MaxBody: no 100 Continue, the 413 and the close.
		all, err := converse(t, addr, false, "POST /echo HTTP/1.1\r\nContent-Length: 2000000\r\nExpect: 100-continue\r\n\r\n")
		if err != nil || norm(all) != errReply(413, "Content Too Large", "", true) {
			t.Fatalf("too large: %q, %v", norm(all), err)
		}
	})
}

// TestCuts writes the pipelined stream in two writes, cut at every byte
// boundary: the replies are the same every time.
func TestCuts(t *testing.T) {
	wire, want := pipeline()
	eachMode(t, func(t *testing.T, addr string) {
		for at := 1; at < len(wire); at++ {
			got, err := converse(t, addr, false, wire[:at], wire[at:])
			if err != nil || norm(got) != want {
				t.Fatalf("cut at %d: %q (%v)\nwant %q", at, norm(got), err, want)
			}
		}
	})
}

// TestMalformed: a client sending garbage gets 400 and is closed, while
// another client, kept alive, is served before and after.
func TestMalformed(t *testing.T) {
	eachMode(t, func(t *testing.T, addr string) {
		good := socktest.Dial(t, addr)
		r := bufio.NewReader(good)
		ask := func() {
			t.Helper()
			if _, err := good.Write([]byte("GET /plaintext HTTP/1.1\r\n\r\n")); err != nil {
				t.Fatal(err)
			}
			_ = good.SetReadDeadline(time.Now().Add(socktest.ConnTimeout))
			if got := readResponse(t, r); !strings.HasSuffix(got, "\r\n\r\nHello, World!") {
				t.Fatalf("the other client got %q", got)
			}
		}
		ask()
		for _, bad := range []string{"\x00\x01\x02\r\n\r\n", "GET / HTTP/1.1\r\nNo-Colon\r\n\r\nGET /plaintext HTTP/1.1\r\n\r\n", "GET /plaintext HTTP/1.1\r\n\tfolded: x\r\n\r\n"} {
			got, err := converse(t, addr, false, bad)
			if want := errReply(400, "Bad Request", "", true); err != nil || norm(got) != want {
				t.Errorf("%q: %q (%v), want %q", bad, norm(got), err, want)
			}
			ask()
		}
	})
}

// TestNetHTTPClient: Go's own client, whose connection is reused from
// request to request.
func TestNetHTTPClient(t *testing.T) {
	eachMode(t, func(t *testing.T, addr string) {
		tr := &http.Transport{MaxIdleConnsPerHost: 1}
		defer tr.CloseIdleConnections()
		client := &http.Client{Transport: tr, Timeout: socktest.ConnTimeout}
		reused := 0
		for i := range 10 {
			trace := &httptrace.ClientTrace{GotConn: func(info httptrace.GotConnInfo) {
				if info.Reused {
					reused++
				}
			}}
			method, path, body, want, ctype := "GET", "/plaintext", "", "Hello, World!", "text/plain"
			if i%2 == 1 {
				method, path, body, want, ctype = "POST", "/echo", fmt.Sprint("body ", i), fmt.Sprint("body ", i), "application/octet-stream"
			}
			req, err := http.NewRequestWithContext(httptrace.WithClientTrace(context.Background(), trace), method, "http://"+addr+path, strings.NewReader(body))
			if err != nil {
				t.Fatal(err)
			}
			if body == "" {
				req.Body = nil
			}
			resp, err := client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			got, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err != nil || resp.StatusCode != 200 || string(got) != want || resp.Header.Get("Content-Type") != ctype ||
				resp.Header.Get("Server") != "sockactor" {
				t.Fatalf("%s %s: %d %q %v %v", method, path, resp.StatusCode, got, resp.Header, err)
			}
			if _, err := http.ParseTime(resp.Header.Get("Date")); err != nil {
				t.Fatalf("Date %q: %v", resp.Header.Get("Date"), err)
			}
		}
		if reused != 9 {
			t.Fatalf("%d of 9 requests reused the connection", reused)
		}
		resp, err := client.Post("http://"+addr+"/plaintext", "text/plain", strings.NewReader("x"))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 405 || resp.Header.Get("Allow") != "GET, HEAD" {
			t.Fatalf("POST /plaintext: %d Allow %q", resp.StatusCode, resp.Header.Get("Allow"))
		}
		// HEAD: the GET's Content-Length, no body, and the connection goes on.
		resp, err = client.Head("http://" + addr + "/json")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || resp.ContentLength != int64(len(server.JSON)) || len(body) != 0 {
			t.Fatalf("HEAD /json: %d, Content-Length %d, body %q", resp.StatusCode, resp.ContentLength, body)
		}
		resp, err = client.Get("http://" + addr + "/plaintext")
		if err != nil {
			t.Fatal(err)
		}
		body, _ = io.ReadAll(resp.Body)
		resp.Body.Close()
		if string(body) != server.Plaintext {
			t.Fatalf("GET after HEAD: %q", body)
		}
	})
}

// TestCurl drives the server with curl, when it is on PATH.
func TestCurl(t *testing.T) {
	curl, err := exec.LookPath("curl")
	if err != nil {
		t.Skip("curl is not on PATH")
	}
	eachMode(t, func(t *testing.T, addr string) {
		for _, tc := range []struct {
			args []string
			want string
		}{
			{[]string{"-s", "http://" + addr + "/plaintext"}, "Hello, World!"},
			{[]string{"-s", "http://" + addr + "/json"}, `{"message":"Hello, World!"}`},
			{[]string{"-s", "-d", "hello", "http://" + addr + "/echo"}, "hello"},
			{[]string{"-s", "-o", "/dev/null", "-w", "%{http_code}", "-X", "DELETE", "http://" + addr + "/plaintext"}, "405"},
			{[]string{"-s", "-o", "/dev/null", "-w", "%{http_code}", "http://" + addr + "/nope"}, "404"},
			// Two URLs: curl reuses its connection for the second.
			{[]string{"-s", "http://" + addr + "/plaintext", "http://" + addr + "/plaintext"}, "Hello, World!Hello, World!"},
		} {
			ctx, cancel := context.WithTimeout(context.Background(), socktest.ConnTimeout)
			out, err := exec.CommandContext(ctx, curl, tc.args...).Output()
			cancel()
			if err != nil || !bytes.Equal(out, []byte(tc.want)) {
				t.Errorf("curl %q: %q (%v), want %q", tc.args, out, err, tc.want)
			}
		}
		// HEAD (curl -I): the head of a GET, no body; then a GET on the
		// same connection, which a body after the head would garble.
		ctx, cancel := context.WithTimeout(context.Background(), socktest.ConnTimeout)
		defer cancel()
		out, err := exec.CommandContext(ctx, curl, "-s", "-I", "http://"+addr+"/plaintext", "--next", "-s", "http://"+addr+"/plaintext").Output()
		got := string(out)
		if err != nil || !strings.HasPrefix(got, "HTTP/1.1 200 OK\r\n") || !strings.Contains(got, "\r\nContent-Length: 13\r\n") || !strings.HasSuffix(got, "\r\n\r\nHello, World!") {
			t.Errorf("curl -I, then GET: %q (%v)", got, err)
		}
	})
}

func TestRunErrors(t *testing.T) {
	socktest.CheckRunErrors(t, run, [][]string{
		{"-dispatch", "sideways"},
		{"-listen", socktest.BusyAddr(t)},
		{"extra"},
	})
}
