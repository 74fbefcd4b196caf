package actors_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/sockactor/sockactor/actors"
	"github.com/sockactor/sockactor/events"
	sockrt "github.com/sockactor/sockactor/runtime"
	"github.com/sockactor/sockactor/winsock"
)

// An Inline echo handler: it runs on the connection's event loop and
// writes what it receives straight back.
func ExampleHandlerFunc() {
	ctx := context.Background()
	rt, _ := sockrt.New(sockrt.Options{})
	echoHandler := actors.HandlerFunc(func(c *actors.Context) {
		if m, ok := c.Message().(*actors.Received); ok {
			_, _ = c.Write(m.Data) // m.Data is only valid during this call
		}
	})
	ln, err := rt.Listen("tcp://127.0.0.1:0", echoHandler, actors.ListenOptions{Dispatch: actors.Inline})
	if err != nil {
		fmt.Println(err)
		return
	}
	if err := rt.Start(ctx); err != nil {
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
	_, _ = conn.Write([]byte("hello, socket actor"))
	buf := make([]byte, len("hello, socket actor"))
	_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.ReadFull(conn, buf); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(string(buf))
	// Output: hello, socket actor
}

// An Inline handler must not wait on a future (the reply would come from
// the loop it blocks). Context.Request sends the request with the socket
// as sender instead, so the reply comes back to the handler as a message.
// Here a socket bans its own reception through the ordinary message path
// and tells the peer once the RecvDisconnectResult arrives.
func ExampleContext_Request() {
	ctx := context.Background()
	rt, _ := sockrt.New(sockrt.Options{})
	self := make(chan *actor.PID, 1)
	h := actors.HandlerFunc(func(c *actors.Context) {
		switch m := c.Message().(type) {
		case *events.Event:
			if m.EventKind() == events.FDAccept {
				self <- c.Self()
				c.Request(c.Self(), &actors.RecvDisconnect{})
			}
		case *actors.RecvDisconnectResult:
			// A reply: c.Sender() is the socket that answered, here itself.
			if m.Code == 0 && c.Sender().Equal(c.Self()) {
				_, _ = c.WriteString("banned\n")
			}
		}
	})
	ln, _ := rt.Listen("tcp://127.0.0.1:0", h, actors.ListenOptions{})
	if err := rt.Start(ctx); err != nil {
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
	_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	line, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Print(line)

	info, err := rt.Info(ctx, <-self)
	fmt.Println("recv shut:", info.RecvShut, "send shut:", info.SendShut, err)
	// Output:
	// banned
	// recv shut: true send shut: false <nil>
}

// Caller is the request side for code that is not an actor: one request,
// one reply, the reply's code as a Go error.
func ExampleCaller_Info() {
	ctx := context.Background()
	rt, _ := sockrt.New(sockrt.Options{})
	ln, _ := rt.Listen("tcp://127.0.0.1:0", actors.HandlerFunc(func(*actors.Context) {}),
		actors.ListenOptions{Dispatch: actors.Pooled})
	if err := rt.Start(ctx); err != nil {
		fmt.Println(err)
		return
	}
	defer rt.Shutdown(ctx)

	accepted := make(chan uint64, 1)
	sub := rt.System().Root.Spawn(actor.PropsFromFunc(func(c actor.Context) {
		if ev, ok := c.Message().(*events.Event); ok {
			accepted <- ev.SocketId
		}
	}))
	_ = rt.Subscribe(sub, events.MaskOf(events.FDAccept))

	conn, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		fmt.Println(err)
		return
	}
	defer conn.Close()

	caller := actors.Caller{System: rt.System(), Timeout: 5 * time.Second}
	info, err := caller.Info(ctx, rt.SocketPID(<-accepted))
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(info.Kind, info.State, info.Dispatch, info.RemoteAddr == conn.LocalAddr().String())

	linfo, _ := caller.Info(ctx, ln.PID())
	fmt.Println(linfo.Kind, linfo.State, linfo.Socket == ln.ID())

	_, err = caller.Info(ctx, rt.SocketPID(1<<40))
	fmt.Println(errors.Is(err, winsock.ErrNotSock))
	// Output:
	// tcp open pooled true
	// listener listening true
	// true
}
