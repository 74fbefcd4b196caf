package main

import (
	"context"
	"encoding/json"
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
	"github.com/sockactor/sockactor/winsock"
)

// shutdownTimeout bounds the graceful shutdown after a signal.
const shutdownTimeout = 10 * time.Second

// config is the parsed command line.
type config struct {
	listen   string
	dispatch actors.Dispatch
	ban      actors.BanPolicy
	loops    int
}

// parseArgs parses the command-line flags (without the program name).
// Usage and flag errors go to stderr.
func parseArgs(args []string, stderr io.Writer) (config, error) {
	fs := flag.NewFlagSet("sockctl", flag.ContinueOnError)
	fs.SetOutput(stderr)
	listen := fs.String("listen", "127.0.0.1:7070", "address to listen on (host:port; port 0 picks a free one)")
	dispatch := fs.String("dispatch", "inline", "handler dispatch: inline or pooled")
	ban := fs.String("ban-policy", "reset", "receive-ban policy after SHUTRD: reset or discard")
	loops := fs.Int("loops", 0, "event loops (0 = GOMAXPROCS)")
	if err := fs.Parse(args); err != nil {
		return config{}, err
	}
	if fs.NArg() > 0 {
		return config{}, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	cfg := config{listen: *listen, loops: *loops}
	var err error
	if cfg.dispatch, err = actors.ParseDispatch(*dispatch); err != nil {
		return config{}, err
	}
	if cfg.ban, err = actors.ParseBanPolicy(*ban); err != nil {
		return config{}, err
	}
	return cfg, nil
}

// run is the whole command: it parses args, serves until ctx is done, then
// shuts down gracefully (printing the events of the shutdown closes).
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cfg, err := parseArgs(args, stderr)
	if err != nil {
		return err
	}
	srv, err := startServer(ctx, cfg, stdout)
	if err != nil {
		return err
	}
	<-ctx.Done()
	sctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	return srv.Shutdown(sctx)
}

// server is a running sockctl: the runtime, its listener and the event
// printer actor.
type server struct {
	rt      *sockrt.Runtime
	addr    string // the bound host:port
	out     *lineout.Writer
	printer *actor.PID

	stopOnce sync.Once
	stopErr  error
}

// startServer starts the runtime with the protocol listener on cfg.listen
// and a runtime-wide FD_ACCEPT/FD_CLOSE subscriber printing to stdout. The
// first line written is "listening <host:port>"; the event lines follow.
// ctx bounds the start only.
func startServer(ctx context.Context, cfg config, stdout io.Writer) (*server, error) {
	rt, err := sockrt.New(sockrt.Options{EventLoops: cfg.loops, BanPolicy: cfg.ban})
	if err != nil {
		return nil, err
	}
	s := &server{rt: rt, out: lineout.New(stdout)}

	// Events can arrive as soon as the runtime starts, before the address
	// is known and printed: the printer holds them until ready is closed.
	ready := make(chan struct{})
	openGate := sync.OnceFunc(func() { close(ready) })
	defer openGate()
	fail := func(err error) (*server, error) {
		openGate() // a printer waiting on the gate must be able to stop
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownTimeout)
		defer cancel()
		return nil, errors.Join(err, s.Shutdown(sctx))
	}

	ln, err := rt.Listen("tcp://"+cfg.listen, handler, actors.ListenOptions{
		Dispatch:  cfg.dispatch,
		BanPolicy: cfg.ban,
	})
	if err != nil {
		return fail(err)
	}
	s.printer = rt.System().Root.Spawn(actor.PropsFromProducer(func() actor.Actor {
		return &printer{out: s.out, ready: ready}
	}))
	if err := rt.Subscribe(s.printer, events.MaskOf(events.FDAccept, events.FDClose)); err != nil {
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

// Shutdown stops the runtime gracefully, waits until the printer has
// written every event it got (the FD_CLOSE of the shutdown included) and
// stops it. It returns the first error of the shutdown or of writing to
// stdout. Idempotent.
func (s *server) Shutdown(ctx context.Context) error {
	s.stopOnce.Do(func() { s.stopErr = s.shutdown(ctx) })
	return s.stopErr
}

func (s *server) shutdown(ctx context.Context) error {
	err := s.rt.Shutdown(ctx)
	if s.printer != nil {
		// Every FD_CLOSE of the shutdown is in the printer's mailbox by now
		// (Runtime.Shutdown delivers them before returning). Poison is a
		// user message: the printer handles those events first, then
		// stops. The runtime's Shutdown only marks the actor system as
		// stopped; its actors still run.
		f := s.rt.System().Root.PoisonFuture(s.printer)
		done := make(chan error, 1)
		go func() { done <- f.Wait() }() // ends within the future's timeout
		select {
		case werr := <-done:
			err = errors.Join(err, werr)
		case <-ctx.Done():
			err = errors.Join(err, ctx.Err())
		}
	}
	return errors.Join(err, s.out.Err())
}

// eventLine is the JSON form of one event on stdout.
type eventLine struct {
	Kind      string `json:"kind"`
	Socket    uint64 `json:"socket"`
	Code      uint32 `json:"code"`
	Error     string `json:"error"`
	Reason    string `json:"reason"`
	Local     bool   `json:"local"`
	Remote    string `json:"remote"`
	LocalAddr string `json:"local_addr"`
	Listener  uint64 `json:"listener"`
	Time      string `json:"time"`
}

// printer is the runtime-wide subscriber actor: it writes every event it
// receives as one JSON line. protoactor runs it one message at a time.
type printer struct {
	out   *lineout.Writer
	ready <-chan struct{} // closed once the "listening" line is out
}

// Receive implements actor.Actor.
func (p *printer) Receive(ctx actor.Context) {
	ev, ok := ctx.Message().(*events.Event)
	if !ok {
		return
	}
	<-p.ready
	line, err := json.Marshal(eventLine{
		Kind:      ev.EventKind().String(),
		Socket:    ev.GetSocketId(),
		Code:      ev.GetCode(),
		Error:     errorName(ev.GetCode()),
		Reason:    ev.GetReason(),
		Local:     ev.GetLocal(),
		Remote:    ev.GetRemoteAddr(),
		LocalAddr: ev.GetLocalAddr(),
		Listener:  ev.GetListenerId(),
		Time:      time.Unix(0, ev.GetTimeUnixNano()).UTC().Format(time.RFC3339Nano),
	})
	if err != nil {
		return // cannot happen for these field types
	}
	_ = p.out.WriteLine(line) // the error is kept and reported by Shutdown
}

// errorName is an event's "error" field: the code's Winsock name, empty for
// code 0 (no error).
func errorName(code uint32) string {
	if code == 0 {
		return ""
	}
	return winsock.Code(code).Name()
}
