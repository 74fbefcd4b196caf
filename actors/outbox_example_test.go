package actors_test

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"time"

	"github.com/sockactor/sockactor/actors"
	"github.com/sockactor/sockactor/events"
)

// An echo that loses nothing to a client that sends faster than it reads:
// the socket's Outbox keeps what the full send queue refuses, suspends
// reading until FD_WRITE, then writes it.
func ExampleOutbox() {
	h := actors.HandlerFunc(func(c *actors.Context) {
		out, _ := c.State().(*actors.Outbox)
		if out == nil {
			out = &actors.Outbox{}
			c.SetState(out)
		}
		switch m := c.Message().(type) {
		case *actors.Received:
			_ = out.Write(c, m.Data)
		case *events.Event:
			if m.EventKind() == events.FDWrite {
				_, _ = out.Flush(c)
			}
		}
	})
	exampleServer(h, actors.ListenOptions{}, func(conn net.Conn) {
		sent := bytes.Repeat([]byte("0123456789abcdef"), 12<<16) // 12 MiB: three send queues
		go func() { _, _ = conn.Write(sent) }()
		time.Sleep(100 * time.Millisecond) // read nothing for a while
		got := make([]byte, len(sent))
		_, err := io.ReadFull(conn, got)
		fmt.Println(bytes.Equal(got, sent), err)
	})
	// Output: true <nil>
}
