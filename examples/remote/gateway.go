package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/sockactor/sockactor/actors"
	"github.com/sockactor/sockactor/events"
	sockrt "github.com/sockactor/sockactor/runtime"
)

// shutdownTimeout bounds the graceful shutdown after a signal.
const shutdownTimeout = 20 * time.Second

// echo writes every received byte back and closes the socket once the
// peer has half-closed and its echo is queued.
var echo = actors.HandlerFunc(func(c *actors.Context) {
	switch m := c.Message().(type) {
	case *actors.Received:
		_, _ = c.Write(m.Data)
	case *events.Event:
		if actors.ReasonOf(m) == actors.ReasonPeerClose {
			c.Send(c.Self(), &actors.Close{}) // through the mailbox: after the writes
		}
	}
})

func runGateway(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("gateway", flag.ContinueOnError)
	fs.SetOutput(stderr)
	listen := fs.String("listen", "127.0.0.1:7000", "TCP address to listen on (host:port; port 0 picks one)")
	remote := fs.String("remote", "127.0.0.1:7100", "remote (gRPC) address of this node (host:port; port 0 picks one)")
	dispatch := fs.String("dispatch", "inline", "handler dispatch: inline or pooled")
	ff := addFleetFlags(fs, true)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	d, err := actors.ParseDispatch(*dispatch)
	if err != nil {
		return err
	}
	rt, err := sockrt.New(sockrt.Options{Remote: &sockrt.RemoteOptions{Listen: *remote}, Fleet: ff.config()})
	if err != nil {
		return err
	}
	stop := func() error {
		sctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
		defer cancel()
		return rt.Shutdown(sctx)
	}
	ln, err := rt.Listen("tcp://"+*listen, echo, actors.ListenOptions{Dispatch: d})
	if err != nil {
		return errors.Join(err, stop())
	}
	if err := rt.Start(ctx); err != nil {
		return errors.Join(err, stop())
	}
	fmt.Fprintf(stdout, "listening %s\n", ln.Addr())
	fmt.Fprintf(stdout, "remote %s\n", rt.Address())
	if reg := rt.Fleet(); reg != nil {
		// Registered once etcd answers (the gateway serves meanwhile).
		go func() {
			if reg.Wait(ctx) == nil {
				fmt.Fprintf(stdout, "registered %s %s\n", reg.Key(), reg.Member().Incarnation)
			}
		}()
	}
	<-ctx.Done()
	return stop()
}
