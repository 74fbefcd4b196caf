// Package serve is what the example servers with one listener share: their
// common flags (-listen, -dispatch, -loops), and the life of a runtime with
// its listener: start, the "listening <address>" line, serving until the
// context ends, then a graceful shutdown.
package serve

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"time"

	"github.com/sockactor/sockactor/actors"
	sockrt "github.com/sockactor/sockactor/runtime"
)

// ShutdownTimeout bounds the graceful shutdown once the context has ended.
const ShutdownTimeout = 10 * time.Second

// Flags are the flags of an example server with one listener.
type Flags struct {
	listen, dispatch *string
	loops            *int
}

// AddFlags defines on fs -listen (listen its default, listenUsage its
// usage), -dispatch (inline or pooled) and -loops (the runtime's
// EventLoops).
func AddFlags(fs *flag.FlagSet, listen, listenUsage string) *Flags {
	return &Flags{
		listen:   fs.String("listen", listen, listenUsage),
		dispatch: fs.String("dispatch", "inline", "handler dispatch: inline or pooled"),
		loops:    fs.Int("loops", 0, "event loops (0 = GOMAXPROCS)"),
	}
}

// Listen is -listen.
func (f *Flags) Listen() string { return *f.listen }

// Loops is -loops.
func (f *Flags) Loops() int { return *f.loops }

// Dispatch is -dispatch, parsed.
func (f *Flags) Dispatch() (actors.Dispatch, error) { return actors.ParseDispatch(*f.dispatch) }

// Parse parses args with fs and refuses positional arguments.
func Parse(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	return nil
}

// Run declares a listener on addr whose sockets run h, starts rt and
// prints "listening <address>" on stdout; then ready, when not nil, is
// called with that address. It serves until ctx is done, then shuts rt
// down gracefully (ShutdownTimeout at most). rt is shut down on any error.
func Run(ctx context.Context, rt *sockrt.Runtime, addr string, h actors.Handler, opts actors.ListenOptions, stdout io.Writer, ready func(addr net.Addr)) error {
	ln, err := rt.Listen(addr, h, opts)
	if err == nil {
		err = rt.Start(ctx)
	}
	if err != nil {
		_ = rt.Shutdown(context.Background())
		return err
	}
	fmt.Fprintf(stdout, "listening %s\n", ln.Addr())
	if ready != nil {
		ready(ln.Addr())
	}

	<-ctx.Done()
	sctx, cancel := context.WithTimeout(context.Background(), ShutdownTimeout)
	defer cancel()
	return rt.Shutdown(sctx)
}
