package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/sockactor/sockactor/actors"
	"github.com/sockactor/sockactor/examples/internal/echo"
	"github.com/sockactor/sockactor/examples/internal/lineout"
	sockrt "github.com/sockactor/sockactor/runtime"
	"github.com/sockactor/sockactor/winsock"
)

// shutdownTimeout bounds the graceful shutdown after a signal.
const shutdownTimeout = 20 * time.Second

func runGateway(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
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
	ln, err := rt.Listen("tcp://"+*listen, echo.Handler, actors.ListenOptions{Dispatch: d})
	if err != nil {
		return errors.Join(err, stop())
	}
	if err := rt.Start(ctx); err != nil {
		return errors.Join(err, stop())
	}
	out := lineout.New(stdout) // lines from this goroutine, the registration's and the commands'
	if _, err := out.Listening(ln.Addr()); err != nil {
		return errors.Join(err, stop())
	}
	out.Line("remote " + rt.Address())
	if reg := rt.Fleet(); reg != nil {
		// Registered once etcd answers (the gateway serves meanwhile).
		go func() {
			if reg.Wait(ctx) == nil {
				out.Line("registered " + reg.Key() + " " + reg.Member().Incarnation)
			}
		}()
	}
	if stdin != nil {
		// The commands' goroutine: it ends with stdin; a command still
		// running at shutdown is answered by the runtime (WSAENETDOWN).
		go gatewayCommands(ctx, rt, d, ln, stdin, out)
	}
	<-ctx.Done()
	return stop()
}

// gatewayCommands runs LISTEN and UNLISTEN from r, one per line, each
// answered on out, until r ends. first is the listener of -listen.
// Goroutine: its own.
func gatewayCommands(ctx context.Context, rt *sockrt.Runtime, d actors.Dispatch, first *sockrt.Listener, r io.Reader, out *lineout.Writer) {
	byAddr := map[string]*sockrt.Listener{first.Addr().String(): first}
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		switch {
		case len(f) == 2 && f[0] == "LISTEN":
			ln, err := rt.Listen("tcp://"+f[1], echo.Handler, actors.ListenOptions{Dispatch: d})
			if err != nil {
				out.Line(errLine(err, winsock.WSAEINVAL))
				continue
			}
			byAddr[ln.Addr().String()] = ln
			out.Line("listening " + ln.Addr().String())
		case len(f) == 2 && f[0] == "UNLISTEN":
			ln, ok := byAddr[f[1]]
			if !ok {
				out.Line(errLine(nil, winsock.WSAEINVAL) + " no listener on " + f[1])
				continue
			}
			cctx, cancel := context.WithTimeout(ctx, shutdownTimeout)
			err := rt.Close(cctx, ln.PID())
			cancel()
			if err != nil {
				out.Line(errLine(err, winsock.WSAEINVAL))
				continue
			}
			delete(byAddr, f[1])
			out.Line("closed " + f[1])
		default:
			out.Line(errLine(nil, winsock.WSAEINVAL) + " unknown command")
		}
	}
}

// errLine is a command's error answer: "ERR <NAME> <code>", the code err
// carries (def when it carries none, or err is nil), then err's text.
func errLine(err error, def winsock.Code) string {
	code := def
	if err != nil {
		code = winsock.CodeOf(err, def)
	}
	line := fmt.Sprintf("ERR %s %d", code.Name(), uint32(code))
	if err != nil {
		line += " " + err.Error()
	}
	return line
}
