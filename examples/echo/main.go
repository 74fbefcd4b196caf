// Command echo is a sockactor echo server: every byte a client sends comes
// back. Each connection is a socket actor on a gnet event loop.
//
//	go run ./examples/echo -listen 127.0.0.1:7000 -dispatch inline|pooled
//
// It prints "listening <host:port>" as its first line (the real port when
// given port 0), runs until SIGINT or SIGTERM, then shuts down gracefully.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	goruntime "runtime"
	"syscall"
	"time"

	"github.com/sockactor/sockactor/actors"
	"github.com/sockactor/sockactor/events"
	sockrt "github.com/sockactor/sockactor/runtime"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:7000", "address to listen on (host:port)")
	dispatch := flag.String("dispatch", "inline", "handler dispatch: inline or pooled")
	loops := flag.Int("loops", 0, "event loops (0 = one per CPU)")
	flag.Parse()
	if err := run(*listen, *dispatch, *loops); err != nil {
		fmt.Fprintln(os.Stderr, "echo:", err)
		os.Exit(1)
	}
}

// echoHandler writes every received byte back. When the peer half-closes
// (FD_CLOSE peer-close: it sent FIN, like nc -N after its input), the socket
// is still writable; the handler closes it once everything it wrote is
// queued, so the peer gets its whole echo, then EOF.
var echoHandler = actors.HandlerFunc(func(c *actors.Context) {
	switch m := c.Message().(type) {
	case *actors.Received:
		_, _ = c.Write(m.Data)
	case *events.Event:
		if events.Kind(m.Kind) == events.FDClose && m.Reason == "peer-close" {
			c.Send(c.Self(), &actors.Close{}) // through the mailbox: after the writes
		}
	}
})

func run(listen, dispatch string, loops int) error {
	if os.Getenv("GOMAXPROCS") == "" {
		// A spare P per event loop: see sockrt.SuggestedGOMAXPROCS.
		goruntime.GOMAXPROCS(sockrt.SuggestedGOMAXPROCS(loops))
	}
	d, err := actors.ParseDispatch(dispatch)
	if err != nil {
		return err
	}
	rt, err := sockrt.New(sockrt.Options{EventLoops: loops})
	if err != nil {
		return err
	}
	ln, err := rt.Listen("tcp://"+listen, echoHandler, actors.ListenOptions{Dispatch: d})
	if err != nil {
		return err
	}
	if err := rt.Start(context.Background()); err != nil {
		return err
	}
	fmt.Printf("listening %s\n", ln.Addr())

	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	<-sig
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return rt.Shutdown(ctx)
}
