package actors_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"syscall"
	"time"

	"github.com/sockactor/sockactor/actors"
	"github.com/sockactor/sockactor/events"
	sockrt "github.com/sockactor/sockactor/runtime"
	"github.com/sockactor/sockactor/winsock"
)

// exampleServer runs h on a loopback listener, calls client with a
// connection to it, and shuts everything down.
func exampleServer(h actors.Handler, opts actors.ListenOptions, client func(conn net.Conn)) {
	ctx := context.Background()
	rt, _ := sockrt.New(sockrt.Options{})
	ln, err := rt.Listen("tcp://127.0.0.1:0", h, opts)
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
	client(conn)
}

// A "quit" command: one write and one Close, no reply to wait for. The
// Close goes through the socket's mailbox after the write, so the peer
// reads the goodbye, then end-of-stream.
func ExampleContext_Close() {
	h := actors.HandlerFunc(func(c *actors.Context) {
		if m, ok := c.Message().(*actors.Received); ok && string(m.Data) == "quit\n" {
			_, _ = c.WriteString("bye\n")
			c.Close()
		}
	})
	exampleServer(h, actors.ListenOptions{}, func(conn net.Conn) {
		_, _ = conn.Write([]byte("quit\n"))
		all, err := io.ReadAll(conn)
		fmt.Printf("%q %v\n", all, err)
	})
	// Output: "bye\n" <nil>
}

// Abort resets the connection: the peer sees a reset, not end-of-stream.
func ExampleContext_Abort() {
	h := actors.HandlerFunc(func(c *actors.Context) {
		if _, ok := c.Message().(*actors.Received); ok {
			c.Abort() // e.g. a protocol violation
		}
	})
	exampleServer(h, actors.ListenOptions{}, func(conn net.Conn) {
		_, _ = conn.Write([]byte("garbage"))
		_, err := io.ReadAll(conn)
		fmt.Println(errors.Is(err, syscall.ECONNRESET))
	})
	// Output: true
}

// SendDisconnect sends FIN after what was written: the peer reads the
// answer and end-of-stream, and may go on sending. The reply comes back
// as a *SendDisconnectResult.
func ExampleContext_SendDisconnect() {
	h := actors.HandlerFunc(func(c *actors.Context) {
		switch m := c.Message().(type) {
		case *actors.Received:
			if string(m.Data) == "last question\n" {
				_, _ = c.WriteString("last answer\n")
				c.SendDisconnect()
			}
		case *actors.SendDisconnectResult:
			_, err := c.WriteString("too late\n")
			fmt.Println("FIN sent:", m.Err() == nil, "then Write:", errors.Is(err, winsock.ErrShutdown))
		}
	})
	exampleServer(h, actors.ListenOptions{}, func(conn net.Conn) {
		_, _ = conn.Write([]byte("last question\n"))
		all, err := io.ReadAll(conn)
		fmt.Printf("%q %v\n", all, err)
	})
	// Unordered output:
	// FIN sent: true then Write: true
	// "last answer\n" <nil>
}

// RecvDisconnect bans reception from the handler itself and returns once
// the ban is in force: no *actors.Received arrives after it.
func ExampleContext_RecvDisconnect() {
	h := actors.HandlerFunc(func(c *actors.Context) {
		if m, ok := c.Message().(*actors.Received); ok && bytes.HasPrefix(m.Data, []byte("enough")) {
			_, err := c.RecvDisconnect()
			_, _ = c.WriteString(fmt.Sprintf("banned: %v\n", err == nil))
		}
	})
	exampleServer(h, actors.ListenOptions{}, func(conn net.Conn) {
		_, _ = conn.Write([]byte("enough\n"))
		line, _ := bufio.NewReader(conn).ReadString('\n')
		fmt.Print(line)
	})
	// Output: banned: true
}

// A pull-mode socket whose own handler pulls: FD_READ says bytes wait,
// Recv asks for some, the *actors.RecvResult brings them. Recv until
// ErrWouldBlock; after the peer's FIN, a result with no data and no error
// ends the stream.
func ExampleContext_Recv() {
	h := actors.HandlerFunc(func(c *actors.Context) {
		switch m := c.Message().(type) {
		case *events.Event:
			if m.EventKind() == events.FDRead || m.EventKind() == events.FDClose {
				c.Recv(1024)
			}
		case *actors.RecvResult:
			switch {
			case errors.Is(m.Err(), winsock.ErrWouldBlock):
				// drained: the next FD_READ says when there is more
			case m.Err() == nil && len(m.Data) > 0:
				_, _ = c.WriteString(strings.ToUpper(string(m.Data)))
				c.Recv(1024)
			case m.Err() == nil:
				c.Close() // end of stream
			}
		}
	})
	exampleServer(h, actors.ListenOptions{Pull: true}, func(conn net.Conn) {
		_, _ = conn.Write([]byte("pull me\n"))
		_ = conn.(*net.TCPConn).CloseWrite()
		all, err := io.ReadAll(conn)
		fmt.Printf("%q %v\n", all, err)
	})
	// Output: "PULL ME\n" <nil>
}
