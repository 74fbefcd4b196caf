// Command proxy is a TCP proxy on sockactor: every accepted client is
// paired with a connection it dials to the upstream, and bytes are copied
// both ways, each socket an actor.
//
//	go run ./examples/proxy -listen 127.0.0.1:7090 -upstream 127.0.0.1:7000 -dispatch inline|pooled
//
// It prints "listening <host:port>" as its first line (the real port when
// given port 0) and runs until SIGINT or SIGTERM, then shuts down
// gracefully.
//
// Memory stays flat whatever the two sides' speeds: when one side is behind
// (a write to it is refused with WSAEWOULDBLOCK), the proxy suspends
// reading the other side (SuspendReading), so TCP's flow control holds that
// peer, and resumes it once the slow side has drained (its FD_WRITE).
// Nothing is buffered beyond the sockets' own limits. A FIN from one side
// becomes a SendDisconnect (FIN) on the other once the bytes before it are
// written; a reset, or any other abnormal end, of one side aborts (RST) the
// other; a client whose upstream cannot be reached is closed. A half-closed
// pair (one direction ended) is served for at most -half-open, then both
// sides are reset.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/sockactor/sockactor/actors"
	"github.com/sockactor/sockactor/examples/internal/serve"
	"github.com/sockactor/sockactor/internal/command"
	sockrt "github.com/sockactor/sockactor/runtime"
)

func main() {
	command.Main("proxy", func(ctx context.Context, args []string) error {
		return run(ctx, args, os.Stdout, os.Stderr)
	})
}

// lingerMargin is how much longer than -half-open the runtime keeps a
// socket whose peer has sent FIN (Options.Linger): the proxy's own timer
// (pipe.go, halfOpenCheck) must end a half-closed pair first, with a
// reset both sides see, before the runtime's linger would close the send
// side with a FIN that looks like a complete stream.
const lingerMargin = 30 * time.Second

// run is the whole command: it parses args, serves until ctx is done, then
// shuts down gracefully.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("proxy", flag.ContinueOnError)
	fs.SetOutput(stderr)
	listen := fs.String("listen", "127.0.0.1:7090", "address to listen on: host:port or tcp://host:port")
	upstream := fs.String("upstream", "", "address to dial for every client: host:port, tcp://host:port or unix:///path (required)")
	dispatch := fs.String("dispatch", "inline", "handler dispatch of both sides: inline or pooled")
	loops := fs.Int("loops", 0, "event loops (0 = GOMAXPROCS)")
	halfOpen := fs.Duration("half-open", 5*time.Minute, "how long a pair is served once one direction has ended (a FIN), before both sides are reset")
	dialTimeout := fs.Duration("dial-timeout", 10*time.Second, "bound on each upstream connect")
	if err := serve.Parse(fs, args); err != nil {
		return err
	}
	switch {
	case *upstream == "":
		return errors.New("-upstream is required")
	case *halfOpen <= 0 || *dialTimeout <= 0:
		return errors.New("-half-open and -dial-timeout must be positive")
	}
	d, err := actors.ParseDispatch(*dispatch)
	if err != nil {
		return err
	}
	network, _, err := actors.ParseAddr(withScheme(*upstream))
	if err != nil {
		return fmt.Errorf("-upstream: %w", err)
	}
	if strings.HasPrefix(network, "udp") {
		return errors.New("-upstream: a stream socket (tcp or unix) is needed: UDP has no flow control to hold a peer with")
	}

	rt, err := sockrt.New(sockrt.Options{EventLoops: *loops, Linger: *halfOpen + lingerMargin})
	if err != nil {
		return err
	}
	p := &proxy{
		rt:       rt,
		upstream: withScheme(*upstream),
		dial:     actors.DialOptions{SocketOptions: actors.SocketOptions{Dispatch: d}, Timeout: *dialTimeout},
		halfOpen: *halfOpen,
	}
	return serve.Run(ctx, rt, withScheme(*listen), p, actors.ListenOptions{Dispatch: d}, stdout, nil)
}

// withScheme makes host:port a tcp:// address; an address with a scheme is
// left as it is (the runtime checks it).
func withScheme(addr string) string {
	if strings.Contains(addr, "://") {
		return addr
	}
	return "tcp://" + addr
}
