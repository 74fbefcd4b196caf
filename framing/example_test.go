package framing_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
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
