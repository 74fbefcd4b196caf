package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/sockactor/sockactor/actors"
	"github.com/sockactor/sockactor/events"
	"github.com/sockactor/sockactor/examples/internal/lineout"
	sockrt "github.com/sockactor/sockactor/runtime"
)

// shutdownTimeout bounds the graceful shutdown after a signal.
const shutdownTimeout = 10 * time.Second

// config is the parsed command line.
type config struct {
	listen   string
	dispatch actors.Dispatch
	max      int // bytes asked by each Recv
	loops    int

	// Runtime limits (runtime.Options; 0: the runtime's defaults). No flag
	// sets them: the tests lower the send marks to provoke back-pressure,
	// and raise MaxInbound and Linger to keep a large, stalled request
	// whole on a slow machine.
	sendHighWater, sendLowWater int           // 4 MiB and a quarter of it
	maxInbound                  int           // 256 KiB
	linger                      time.Duration // 2 s
}

// parseArgs parses the command-line flags (without the program name).
// Usage and flag errors go to stderr.
func parseArgs(args []string, stderr io.Writer) (config, error) {
	fs := flag.NewFlagSet("pull", flag.ContinueOnError)
	fs.SetOutput(stderr)
	listen := fs.String("listen", "127.0.0.1:7080", "address to listen on (host:port; port 0 picks a free one)")
	dispatch := fs.String("dispatch", "inline", "handler dispatch: inline or pooled")
	max := fs.Int("max", 4096, "bytes asked by each Recv (at least 1)")
	loops := fs.Int("loops", 0, "event loops (0 = GOMAXPROCS)")
	if err := fs.Parse(args); err != nil {
		return config{}, err
	}
	if fs.NArg() > 0 {
		return config{}, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if *max < 1 {
		return config{}, fmt.Errorf("-max %d: must be at least 1", *max)
	}
	cfg := config{listen: *listen, max: *max, loops: *loops}
	var err error
	if cfg.dispatch, err = actors.ParseDispatch(*dispatch); err != nil {
		return config{}, err
	}
	return cfg, nil
}

// run is the whole command: it parses args, serves until ctx is done, then
// shuts down gracefully.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cfg, err := parseArgs(args, stderr)
	if err != nil {
		return err
	}
	srv, err := startServer(ctx, cfg, stdout, stderr)
	if err != nil {
		return err
	}
	<-ctx.Done()
	sctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	return srv.Shutdown(sctx)
}

// nopHandler is the listener's handler. A pull-mode socket never pushes
// data to it, and the driver does all the work; it sees only the socket's
// own FD_ACCEPT and FD_CLOSE, which it ignores.
var nopHandler = actors.HandlerFunc(func(*actors.Context) {})

// server is a running pull server: the runtime, its listener and the
// driver actor.
type server struct {
	rt     *sockrt.Runtime
	addr   string // the bound host:port
	out    *lineout.Writer
	stats  *driverStats
	driver *actor.PID

	stopOnce sync.Once
	stopErr  error
}

// startServer starts the runtime with a pull-mode listener on cfg.listen
// and the driver actor subscribed runtime-wide to FD_ACCEPT, FD_READ,
// FD_WRITE and FD_CLOSE. The first line written to stdout is "listening
// <host:port>"; the per-socket JSON lines follow. Diagnostics go to stderr.
// ctx bounds the start only.
func startServer(ctx context.Context, cfg config, stdout, stderr io.Writer) (*server, error) {
	rt, err := sockrt.New(sockrt.Options{
		EventLoops:    cfg.loops,
		SendHighWater: cfg.sendHighWater,
		SendLowWater:  cfg.sendLowWater,
		MaxInbound:    cfg.maxInbound,
		Linger:        cfg.linger,
	})
	if err != nil {
		return nil, err
	}
	s := &server{rt: rt, out: lineout.New(stdout), stats: &driverStats{}}

	// A socket may finish before the address is known and printed (a
	// client that guessed the port): the driver holds its lines until
	// ready is closed.
	ready := make(chan struct{})
	openGate := sync.OnceFunc(func() { close(ready) })
	defer openGate()
	fail := func(err error) (*server, error) {
		openGate() // a driver waiting on the gate must be able to finish
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownTimeout)
		defer cancel()
		return nil, errors.Join(err, s.Shutdown(sctx))
	}

	ln, err := rt.Listen("tcp://"+cfg.listen, nopHandler, actors.ListenOptions{Dispatch: cfg.dispatch, Pull: true})
	if err != nil {
		return fail(err)
	}
	s.driver = rt.System().Root.Spawn(actor.PropsFromProducer(func() actor.Actor {
		return newDriver(cfg.max, s.out, stderr, ready, s.stats)
	}))
	// Before Start, so no FD_ACCEPT can be missed.
	if err := rt.Subscribe(s.driver, events.MaskOf(events.FDAccept, events.FDRead, events.FDWrite, events.FDClose)); err != nil {
		return fail(err)
	}
	if err := rt.Start(ctx); err != nil {
		return fail(err)
	}
	if s.addr, err = s.out.Listening(ln.Addr()); err != nil {
		return fail(err)
	}
	return s, nil
}

// Addr returns the bound host:port.
func (s *server) Addr() string { return s.addr }

// Runtime returns the server's runtime.
func (s *server) Runtime() *sockrt.Runtime { return s.rt }

// Shutdown stops the runtime gracefully, lets the driver finish every
// socket it knows (printing their lines, the sockets closed by the shutdown
// included) and stops it. It returns the first error of the shutdown, of
// the wait, or of writing to stdout. Idempotent; safe for concurrent use.
func (s *server) Shutdown(ctx context.Context) error {
	s.stopOnce.Do(func() { s.stopErr = s.shutdown(ctx) })
	return s.stopErr
}

func (s *server) shutdown(ctx context.Context) error {
	// Every socket's FD_CLOSE is in the driver's mailbox once this returns.
	err := s.rt.Shutdown(ctx)
	if s.driver == nil {
		return err
	}
	// The runtime's Shutdown only marks the actor system as stopped: its
	// actors still run, and requests to released sockets are still
	// answered (WSAENOTSOCK or WSAENETDOWN). awaitIdle is queued behind
	// those FD_CLOSE events, and the driver answers it once the last socket
	// has been drained, disconnected, closed and printed.
	timeout := shutdownTimeout
	if dl, ok := ctx.Deadline(); ok {
		timeout = max(time.Until(dl), time.Millisecond)
	}
	root := s.rt.System().Root
	err = errors.Join(err, waitFuture(ctx, func() error {
		_, err := root.RequestFuture(s.driver, awaitIdle{}, timeout).Result()
		return err
	}))
	// Poison is a user message: anything still queued is handled first.
	err = errors.Join(err, waitFuture(ctx, root.PoisonFuture(s.driver).Wait))
	return errors.Join(err, s.out.Err())
}

// waitFuture runs wait (a future's Result or Wait, which ends within the
// future's own timeout) and returns its error, or ctx.Err() if ctx ends
// first.
func waitFuture(ctx context.Context, wait func() error) error {
	done := make(chan error, 1)
	go func() { done <- wait() }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}
