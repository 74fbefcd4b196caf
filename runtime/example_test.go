package runtime_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"syscall"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/sockactor/sockactor/actors"
	"github.com/sockactor/sockactor/events"
	sockrt "github.com/sockactor/sockactor/runtime"
	"github.com/sockactor/sockactor/winsock"
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
	fmt.Println("unknown socket:", errors.Is(err, winsock.ErrNotSock), errors.Is(err, syscall.ENOTSOCK))
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

// SubscribeFunc subscribes a plain function, no actor code needed: it runs
// for each event, one at a time and in order, on a goroutine of its own
// (here it prints, then reports FD_CLOSE so the example can end).
func ExampleRuntime_SubscribeFunc() {
	ctx := context.Background()
	rt, _ := sockrt.New(sockrt.Options{})
	ln, _ := rt.Listen("tcp://127.0.0.1:0", actors.HandlerFunc(func(*actors.Context) {}), actors.ListenOptions{})
	_ = rt.Start(ctx)
	defer rt.Shutdown(ctx)

	closed := make(chan struct{})
	cancel, err := rt.SubscribeFunc(events.MaskOf(events.FDAccept, events.FDClose), func(ev *events.Event) {
		fmt.Println(ev.EventKind(), ev.Reason)
		if ev.EventKind() == events.FDClose {
			close(closed)
		}
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer cancel()

	conn, _ := net.Dial("tcp", ln.Addr().String())
	conn.Close() // peer FIN
	select {
	case <-closed:
	case <-time.After(5 * time.Second):
		fmt.Println("no FD_CLOSE")
	}
	// Output:
	// FD_ACCEPT accept
	// FD_CLOSE peer-close
}

// next returns the next event from evs, or nil (after printing why) if none
// comes within five seconds: an example that goes wrong fails instead of
// hanging.
func next(evs <-chan *events.Event) *events.Event {
	select {
	case ev := <-evs:
		return ev
	case <-time.After(5 * time.Second):
		fmt.Println("no event")
		return nil
	}
}

// subscriber spawns an actor that forwards every event it gets to the
// returned channel.
func subscriber(rt *sockrt.Runtime) (*actor.PID, <-chan *events.Event) {
	evs := make(chan *events.Event, 16)
	pid := rt.System().Root.Spawn(actor.PropsFromFunc(func(c actor.Context) {
		if ev, ok := c.Message().(*events.Event); ok {
			evs <- ev
		}
	}))
	return pid, evs
}

// Dial makes a client socket actor. Its handler sees FD_CONNECT (code 0)
// first, then FD_WRITE: the socket is writable, so it writes a line; when
// the echo is in, it closes itself, and FD_CLOSE is its last event. The
// handler runs on an event loop and must not block, so it reports what it
// sees to a buffered channel and the caller prints it.
func ExampleRuntime_Dial() {
	ctx := context.Background()
	rt, _ := sockrt.New(sockrt.Options{})
	ln, _ := rt.Listen("tcp://127.0.0.1:0", actors.HandlerFunc(func(c *actors.Context) {
		if m, ok := c.Message().(*actors.Received); ok {
			_, _ = c.Write(m.Data) // echo
		}
	}), actors.ListenOptions{})
	if err := rt.Start(ctx); err != nil {
		fmt.Println(err)
		return
	}
	defer rt.Shutdown(ctx)

	seen := make(chan string, 8)
	var echo []byte // the one dialled socket's; its handler runs one message at a time
	client := actors.HandlerFunc(func(c *actors.Context) {
		switch m := c.Message().(type) {
		case *events.Event:
			switch m.EventKind() {
			case events.FDConnect:
				seen <- fmt.Sprint("FD_CONNECT ", m.Code)
			case events.FDWrite:
				seen <- "FD_WRITE"
				_, _ = c.WriteString("ping\n")
			case events.FDClose:
				seen <- fmt.Sprint("FD_CLOSE ", m.Code, " ", m.Reason, " ", m.Local)
			}
		case *actors.Received:
			echo = append(echo, m.Data...) // m.Data is a view into the loop's buffer: copy it
			if bytes.HasSuffix(echo, []byte("\n")) {
				seen <- fmt.Sprintf("echo: %q", echo)
				c.Send(c.Self(), &actors.Close{}) // runs after this call returns
			}
		}
	})
	if _, err := rt.Dial(ctx, "tcp://"+ln.Addr().String(), client, actors.DialOptions{}); err != nil {
		fmt.Println(err)
		return
	}
	for {
		select {
		case line := <-seen:
			fmt.Println(line)
			if strings.HasPrefix(line, "FD_CLOSE") {
				return // the last event
			}
		case <-time.After(5 * time.Second):
			fmt.Println("no FD_CLOSE")
			return
		}
	}
	// Output:
	// FD_CONNECT 0
	// FD_WRITE
	// echo: "ping\n"
	// FD_CLOSE 0 local-close true
}

// A pull-mode socket buffers what it receives: FD_READ says there is
// something to Recv, Recv on an empty buffer answers WSAEWOULDBLOCK, and
// after the peer's FIN (FD_CLOSE peer-close) Recv hands out what is left,
// then 0 bytes with no error: the end of the stream.
func Example_pullMode() {
	ctx := context.Background()
	rt, _ := sockrt.New(sockrt.Options{})
	ln, _ := rt.Listen("tcp://127.0.0.1:0", actors.HandlerFunc(func(*actors.Context) {}), actors.ListenOptions{Pull: true})
	if err := rt.Start(ctx); err != nil {
		fmt.Println(err)
		return
	}
	defer rt.Shutdown(ctx)
	sub, evs := subscriber(rt)
	_ = rt.Subscribe(sub, events.MaskOf(events.FDAccept, events.FDRead, events.FDClose))

	conn, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		fmt.Println(err)
		return
	}
	defer conn.Close()
	ev := next(evs)
	if ev == nil || ev.EventKind() != events.FDAccept {
		return
	}
	pid := rt.SocketPID(ev.SocketId)

	_, _ = conn.Write([]byte("hello"))
	var got []byte
	for len(got) < len("hello") { // one FD_READ per arrival, re-enabled by each Recv
		if ev = next(evs); ev == nil || ev.EventKind() != events.FDRead {
			return
		}
		data, err := rt.Recv(ctx, pid, 64)
		if err != nil {
			fmt.Println(err)
			return
		}
		got = append(got, data...)
	}
	fmt.Printf("FD_READ, Recv: %q\n", got)

	_, err = rt.Recv(ctx, pid, 64)
	fmt.Println("Recv, nothing buffered:", winsock.CodeOf(err, winsock.OK).Name(), errors.Is(err, winsock.ErrWouldBlock))

	_ = conn.(*net.TCPConn).CloseWrite() // the client's FIN
	if ev = next(evs); ev == nil {
		return
	}
	fmt.Println(events.Kind(ev.Kind), ev.Code, ev.Reason)
	data, err := rt.Recv(ctx, pid, 64)
	fmt.Printf("Recv after the FIN: %d bytes, err=%v\n", len(data), err)
	fmt.Println("Close:", rt.Close(ctx, pid)) // the half-open send side closes gracefully
	// Output:
	// FD_READ, Recv: "hello"
	// Recv, nothing buffered: WSAEWOULDBLOCK true
	// FD_CLOSE 0 peer-close
	// Recv after the FIN: 0 bytes, err=<nil>
	// Close: <nil>
}

// Back-pressure: a Send that would take the queued output past
// Options.SendHighWater is refused with WSAEWOULDBLOCK and queues nothing;
// FD_WRITE follows once the queue has drained below the low-water mark (a
// quarter of the high-water mark by default).
func Example_fdWrite() {
	ctx := context.Background()
	rt, _ := sockrt.New(sockrt.Options{SendHighWater: 64 << 10})
	ln, _ := rt.Listen("tcp://127.0.0.1:0", actors.HandlerFunc(func(*actors.Context) {}), actors.ListenOptions{})
	if err := rt.Start(ctx); err != nil {
		fmt.Println(err)
		return
	}
	defer rt.Shutdown(ctx)
	sub, evs := subscriber(rt)
	_ = rt.Subscribe(sub, events.MaskOf(events.FDAccept, events.FDWrite))

	conn, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		fmt.Println(err)
		return
	}
	defer conn.Close()
	ev := next(evs)
	if ev == nil || ev.EventKind() != events.FDAccept {
		return
	}
	pid := rt.SocketPID(ev.SocketId)
	if ev = next(evs); ev == nil || ev.EventKind() != events.FDWrite {
		return
	}
	fmt.Println("FD_WRITE at accept: the socket is writable from the start")

	// The client reads nothing: once the kernel's buffers are full, the
	// socket's own queue grows until a Send is refused.
	chunk := make([]byte, 32<<10)
	var sent int64
	for i := 0; ; i++ {
		n, err := rt.Send(ctx, pid, chunk)
		sent += int64(n)
		if errors.Is(err, winsock.ErrWouldBlock) {
			fmt.Println("Send refused:", winsock.CodeOf(err, winsock.OK).Name(), "bytes taken:", n)
			break
		}
		if err != nil || i == 1<<12 {
			fmt.Println("no refusal:", err)
			return
		}
	}

	read := make(chan int64, 1)
	go func() { // the client starts reading
		n, _ := io.Copy(io.Discard, conn)
		read <- n
	}()
	if ev = next(evs); ev == nil || ev.EventKind() != events.FDWrite {
		return
	}
	fmt.Println("FD_WRITE after the queue drained")

	// SendDisconnect flushes the queue, then sends FIN: the client reads
	// every byte a Send took, then EOF.
	if err := rt.SendDisconnect(ctx, pid); err != nil {
		fmt.Println(err)
		return
	}
	select {
	case n := <-read:
		fmt.Println("the client read every byte sent:", n == sent)
	case <-time.After(5 * time.Second):
		fmt.Println("no EOF")
	}
	fmt.Println("Close:", rt.Close(ctx, pid))
	// Output:
	// FD_WRITE at accept: the socket is writable from the start
	// Send refused: WSAEWOULDBLOCK bytes taken: 0
	// FD_WRITE after the queue drained
	// the client read every byte sent: true
	// Close: <nil>
}

// Stats counts sockets by what happened to them: here one connection,
// accepted, then closed by the peer.
func ExampleRuntime_Stats() {
	ctx := context.Background()
	rt, _ := sockrt.New(sockrt.Options{})
	ln, _ := rt.Listen("tcp://127.0.0.1:0", actors.HandlerFunc(func(*actors.Context) {}), actors.ListenOptions{})
	if err := rt.Start(ctx); err != nil {
		fmt.Println(err)
		return
	}
	defer rt.Shutdown(ctx)
	sub, evs := subscriber(rt)
	_ = rt.Subscribe(sub, events.MaskOf(events.FDClose))

	conn, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		fmt.Println(err)
		return
	}
	_ = conn.Close() // the peer's FIN
	if ev := next(evs); ev == nil {
		return
	}
	st := rt.Stats() // counted before the FD_CLOSE was published
	fmt.Println("accepted:", st.Sockets.Accepted)
	fmt.Println("closed by the peer:", st.Sockets.Closed["peer-close"])
	fmt.Println("close reasons:", len(st.Sockets.Closed))
	fmt.Println("sends refused:", st.Sockets.SendsRefused)
	// Output:
	// accepted: 1
	// closed by the peer: 1
	// close reasons: 1
	// sends refused: 0
}
