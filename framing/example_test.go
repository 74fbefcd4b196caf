package framing_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/sockactor/sockactor/actors"
	"github.com/sockactor/sockactor/framing"
	sockrt "github.com/sockactor/sockactor/runtime"
)

// Lines cuts a stream into lines however it was read: a line whole in a
// read is a view of it, one that spans reads is assembled, an overlong one
// is reported and skipped.
func ExampleLines() {
	l := framing.Lines{Max: 8, TrimCR: true}
	for _, read := range []string{"GET a\r\nGET", " b\r\n", "GET a-very-long-name\r\nQUIT\r\n"} {
		for line, err := range l.Frames([]byte(read)) {
			if errors.Is(err, framing.ErrTooLong) {
				fmt.Println("(too long)")
				continue
			}
			fmt.Printf("%q\n", line)
		}
	}
	// Output:
	// "GET a"
	// "GET b"
	// (too long)
	// "QUIT"
}

// LengthPrefixed writes frames with Append and reads them back from reads
// cut anywhere, the prefix included.
func ExampleLengthPrefixed() {
	f := framing.LengthPrefixed{Size: 2}
	var wire []byte
	for _, msg := range []string{"hello", "", "length-prefixed"} {
		wire, _ = f.Append(wire, []byte(msg))
	}
	for _, read := range [][]byte{wire[:1], wire[1:9], wire[9:]} {
		for payload, err := range f.Frames(read) {
			if err != nil {
				fmt.Println(err) // ErrFrameTooLarge: close the connection
				return
			}
			fmt.Printf("%q\n", payload)
		}
	}
	// Output:
	// "hello"
	// ""
	// "length-prefixed"
}

// A line-protocol handler: one Lines per socket in its state, fed every
// Received. Under Inline dispatch each line whole in the read is a view of
// the event loop's buffer, so this costs no copy per line.
func ExampleLines_handler() {
	h := actors.HandlerFunc(func(c *actors.Context) {
		m, ok := c.Message().(*actors.Received)
		if !ok {
			return
		}
		lines, _ := c.State().(*framing.Lines)
		if lines == nil {
			lines = &framing.Lines{Max: 1024, TrimCR: true}
			c.SetState(lines)
		}
		for line, err := range lines.Frames(m.Data) {
			switch {
			case err != nil:
				_, _ = c.WriteString("ERR line too long\n")
			case string(line) == "QUIT":
				_, _ = c.WriteString("BYE\n")
				c.Close()
				return // the rest of this read is not for us
			default:
				_, _ = c.WriteString("OK " + strings.ToUpper(string(line)) + "\n")
			}
		}
	})

	ctx := context.Background()
	rt, _ := sockrt.New(sockrt.Options{})
	ln, err := rt.Listen("tcp://127.0.0.1:0", h, actors.ListenOptions{Dispatch: actors.Inline})
	if err == nil {
		err = rt.Start(ctx)
	}
	if err != nil {
		fmt.Println(err)
		return
	}
	defer rt.Shutdown(ctx)
	conn, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		fmt.Println(err)
		return
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
	_, _ = conn.Write([]byte("hello\r\nwor"))
	_, _ = conn.Write([]byte("ld\r\nQUIT\r\nignored\r\n"))
	r := bufio.NewScanner(conn)
	for r.Scan() {
		fmt.Println(r.Text())
	}
	// Output:
	// OK HELLO
	// OK WORLD
	// BYE
}

// Delimited cuts at any delimiter, here the blank line that ends a block
// of header lines, wherever the reads cut it; an overlong block is
// reported and skipped.
func ExampleDelimited() {
	f := framing.Delimited{Delim: []byte("\r\n\r\n"), Max: 32}
	reads := []string{
		"Host: a\r\nX: 1\r\n\r", // the delimiter is cut
		"\n\r\n\r\nBig: " + strings.Repeat("x", 40) + "\r\n\r\nLast: 1\r\n\r\n",
	}
	for _, read := range reads {
		for block, err := range f.Frames([]byte(read)) {
			if errors.Is(err, framing.ErrTooLong) {
				fmt.Println("(too long)")
				continue
			}
			fmt.Printf("%q\n", block)
		}
	}
	// Output:
	// "Host: a\r\nX: 1"
	// ""
	// (too long)
	// "Last: 1"
}

// respBodyLen is the BodyLen of RESP (Redis): a bulk string "$<n>" is
// followed by n bytes and "\r\n"; "$-1" (null) and every other header
// ("*<n>", "+OK", ":1") by nothing.
func respBodyLen(header []byte) (int, error) {
	if len(header) == 0 || header[0] != '$' {
		return 0, nil
	}
	n, err := strconv.Atoi(string(header[1:]))
	switch {
	case err != nil || n < -1:
		return 0, errors.New("resp: bad bulk length")
	case n == -1:
		return 0, nil
	}
	return n + 2, nil
}

// HeaderBody frames RESP: each element is one frame, a bulk string's body
// being its bytes and "\r\n". The reads here cut the commands anywhere;
// every element whole in a read is a view of it.
func ExampleHeaderBody() {
	f := framing.HeaderBody{Delim: []byte("\r\n"), BodyLen: respBodyLen, MaxBody: 512 << 20}
	wire := "*2\r\n$3\r\nGET\r\n$3\r\nkey\r\n*3\r\n$3\r\nSET\r\n$3\r\nkey\r\n$7\r\nhel\r\nlo\r\n"
	var args []string
	want := 0
	for _, read := range []string{wire[:6], wire[6:31], wire[31:50], wire[50:]} {
		for fr, err := range f.Frames([]byte(read)) {
			if err != nil {
				fmt.Println("-ERR", err) // the stream is unusable: close it
				return
			}
			switch fr.Header[0] {
			case '*':
				want, _ = strconv.Atoi(string(fr.Header[1:]))
				args = args[:0]
			case '$':
				args = append(args, string(fr.Body[:len(fr.Body)-2])) // a copy: fr is valid in the loop only
			}
			if want > 0 && len(args) == want {
				fmt.Printf("%q\n", args)
				want = 0
			}
		}
	}
	// Output:
	// ["GET" "key"]
	// ["SET" "key" "hel\r\nlo"]
}

// httpBodyLen is the BodyLen of HTTP/1.1 requests: the Content-Length of
// the header block, 0 without one. It allocates nothing.
func httpBodyLen(header []byte) (int, error) {
	for rest := header; len(rest) > 0; {
		var line []byte
		line, rest, _ = bytes.Cut(rest, []byte("\r\n"))
		name, value, ok := bytes.Cut(line, []byte(":"))
		if ok && bytes.EqualFold(name, []byte("Content-Length")) {
			n, err := strconv.Atoi(string(bytes.TrimSpace(value)))
			if err != nil || n < 0 {
				return 0, errors.New("http: bad Content-Length")
			}
			return n, nil
		}
		if ok && bytes.EqualFold(name, []byte("Transfer-Encoding")) {
			return 0, errors.New("http: chunked bodies are not framed here")
		}
	}
	return 0, nil
}

// HeaderBody frames pipelined HTTP/1.1 requests: the header block ends at
// a blank line, Content-Length gives the body.
func ExampleHeaderBody_http() {
	f := framing.HeaderBody{Delim: []byte("\r\n\r\n"), BodyLen: httpBodyLen, MaxHeader: 8 << 10, MaxBody: 1 << 20}
	wire := "GET /a HTTP/1.1\r\nHost: x\r\n\r\n" +
		"POST /b HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello" +
		"GET /c HTTP/1.1\r\nHost: x\r\n\r\n"
	for _, read := range []string{wire[:20], wire[20:70], wire[70:]} {
		for req, err := range f.Frames([]byte(read)) {
			if err != nil {
				fmt.Println(err) // ErrHeaderTooLarge: 431, ErrBodyTooLarge: 413; then close
				return
			}
			requestLine, _, _ := bytes.Cut(req.Header, []byte("\r\n"))
			fmt.Printf("%s body=%q\n", requestLine, req.Body)
		}
	}
	// Output:
	// GET /a HTTP/1.1 body=""
	// POST /b HTTP/1.1 body="hello"
	// GET /c HTTP/1.1 body=""
}

// A RESP handler: one HeaderBody per socket in its state, fed every
// Received, answering PING and ECHO. Under Inline dispatch every element
// whole in the read is a view of the event loop's buffer; the framer keeps
// an unfinished one for the next read.
func ExampleHeaderBody_handler() {
	type conn struct {
		f    framing.HeaderBody
		args [][]byte // this command's arguments, copied into buf
		buf  []byte
		want int
		out  []byte
	}
	h := actors.HandlerFunc(func(c *actors.Context) {
		m, ok := c.Message().(*actors.Received)
		if !ok {
			return
		}
		st, _ := c.State().(*conn)
		if st == nil {
			st = &conn{f: framing.HeaderBody{Delim: []byte("\r\n"), BodyLen: respBodyLen, MaxBody: 1 << 20}}
			c.SetState(st)
		}
		for fr, err := range st.f.Frames(m.Data) {
			if err != nil {
				_, _ = c.WriteString("-ERR protocol error\r\n")
				c.Close()
				return
			}
			switch fr.Header[0] {
			case '*':
				st.want, _ = strconv.Atoi(string(fr.Header[1:]))
				st.args, st.buf = st.args[:0], st.buf[:0]
				continue
			case '$':
				st.buf = append(st.buf, fr.Body[:len(fr.Body)-2]...)
				st.args = append(st.args, st.buf[len(st.buf)-(len(fr.Body)-2):])
			}
			if st.want == 0 || len(st.args) < st.want {
				continue // not a whole command yet (or not in an array)
			}
			st.want, st.out = 0, st.out[:0]
			switch cmd := strings.ToUpper(string(st.args[0])); {
			case cmd == "PING":
				st.out = append(st.out, "+PONG\r\n"...)
			case cmd == "ECHO" && len(st.args) == 2:
				st.out = fmt.Appendf(st.out, "$%d\r\n%s\r\n", len(st.args[1]), st.args[1])
			default:
				st.out = append(st.out, "-ERR unknown command\r\n"...)
			}
			_, _ = c.Write(st.out)
		}
	})

	ctx := context.Background()
	rt, _ := sockrt.New(sockrt.Options{})
	ln, err := rt.Listen("tcp://127.0.0.1:0", h, actors.ListenOptions{Dispatch: actors.Inline})
	if err == nil {
		err = rt.Start(ctx)
	}
	if err != nil {
		fmt.Println(err)
		return
	}
	defer rt.Shutdown(ctx)
	nc, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		fmt.Println(err)
		return
	}
	defer nc.Close()
	_ = nc.SetDeadline(time.Now().Add(5 * time.Second))
	_, _ = nc.Write([]byte("*1\r\n$4\r\nPING\r\n*2\r\n$4\r\nEC"))
	time.Sleep(10 * time.Millisecond) // the rest in another read
	_, _ = nc.Write([]byte("HO\r\n$5\r\nhello\r\n*1\r\n$3\r\nDEL\r\n"))
	r := bufio.NewReader(nc)
	for range 4 {
		line, _ := r.ReadString('\n')
		fmt.Printf("%q\n", line)
	}
	// Output:
	// "+PONG\r\n"
	// "$5\r\n"
	// "hello\r\n"
	// "-ERR unknown command\r\n"
}
