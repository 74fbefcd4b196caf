package runtime_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"syscall"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/sockactor/sockactor/actors"
	"github.com/sockactor/sockactor/events"
	"github.com/sockactor/sockactor/netio"
	sockrt "github.com/sockactor/sockactor/runtime"
)

// An echo server whose sockets are actors, and a client on loopback.
func Example() {
	ctx := context.Background()
	rt, _ := sockrt.New(sockrt.Options{})
	ln, _ := rt.Listen("tcp://127.0.0.1:0", actors.HandlerFunc(func(c *actors.Context) {
		if m, ok := c.Message().(*actors.Received); ok {
			c.Write(m.Data) // inline: straight into the connection
		}
	}), actors.ListenOptions{Dispatch: actors.Inline})
	if err := rt.Start(ctx); err != nil {
		fmt.Println(err)
		return
	}
	defer rt.Shutdown(ctx)

	conn, _ := net.Dial("tcp", ln.Addr().String())
	defer conn.Close()
	conn.Write([]byte("hello, actor"))
	buf := make([]byte, 12)
	io.ReadFull(conn, buf)
	fmt.Println(string(buf))
	// Output: hello, actor
}

// RecvDisconnect bans reception on a connected socket: the call succeeds
// with empty data (TCP), sending keeps working, and under the reset policy
// the next byte from the peer resets the connection with FD_CLOSE 10053.
func ExampleRuntime_RecvDisconnect() {
	ctx := context.Background()
	rt, _ := sockrt.New(sockrt.Options{BanPolicy: actors.BanReset})
	ln, _ := rt.Listen("tcp://127.0.0.1:0", actors.HandlerFunc(func(*actors.Context) {}), actors.ListenOptions{})
	_ = rt.Start(ctx)
	defer rt.Shutdown(ctx)

	closes := make(chan *events.Event, 1)
	accepts := make(chan uint64, 1)
	sub := rt.System().Root.Spawn(actor.PropsFromFunc(func(c actor.Context) {
		if ev, ok := c.Message().(*events.Event); ok {
			switch ev.EventKind() {
			case events.FDAccept:
				accepts <- ev.SocketId
			case events.FDClose:
				closes <- ev
			}
		}
	}))
	_ = rt.Subscribe(sub, events.MaskOf(events.FDAccept, events.FDClose))

	conn, _ := net.Dial("tcp", ln.Addr().String())
	defer conn.Close()
	pid := rt.SocketPID(<-accepts)

	data, err := rt.RecvDisconnect(ctx, pid)
	fmt.Printf("RecvDisconnect: %d bytes, err=%v\n", len(data), err)
	_, err = rt.Send(ctx, pid, []byte("sending still works\n"))
	fmt.Println("Send after the ban:", err)

	conn.Write([]byte("late data"))
	ev := <-closes
	fmt.Printf("FD_CLOSE code=%d reason=%s local=%v\n", ev.Code, ev.Reason, ev.Local)

	_, err = rt.RecvDisconnect(ctx, rt.SocketPID(1<<40))
	fmt.Println("unknown socket:", errors.Is(err, netio.ErrNotSock), errors.Is(err, syscall.ENOTSOCK))
	// Output:
	// RecvDisconnect: 0 bytes, err=<nil>
	// Send after the ban: <nil>
	// FD_CLOSE code=10053 reason=recv-ban local=true
	// unknown socket: true true
}

// A runtime-wide FD_CLOSE subscription: one event per socket, whatever
// closed it.
func ExampleRuntime_Subscribe() {
	ctx := context.Background()
	rt, _ := sockrt.New(sockrt.Options{})
	ln, _ := rt.Listen("tcp://127.0.0.1:0", actors.HandlerFunc(func(*actors.Context) {}), actors.ListenOptions{Dispatch: actors.Pooled})
	_ = rt.Start(ctx)

	got := make(chan *events.Event, 4)
	sub := rt.System().Root.Spawn(actor.PropsFromFunc(func(c actor.Context) {
		if ev, ok := c.Message().(*events.Event); ok {
			got <- ev
		}
	}))
	_ = rt.Subscribe(sub, events.MaskOf(events.FDClose))

	conn, _ := net.Dial("tcp", ln.Addr().String())
	conn.Close() // peer FIN
	select {
	case ev := <-got:
		fmt.Println(events.Kind(ev.Kind), ev.Code, ev.Reason, ev.Local)
	case <-time.After(5 * time.Second):
		fmt.Println("no event")
	}
	_ = rt.Shutdown(ctx)
	// Output: FD_CLOSE 0 peer-close false
}
