package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/sockactor/sockactor/fleet"
	"github.com/sockactor/sockactor/fleet/embedetcd"
	sockrt "github.com/sockactor/sockactor/runtime"
)

// The child roles of the fleet scenario (fleet.go): an embedded etcd
// server, and a fleet watcher that prints every fleet.Update it gets as a
// JSON line stamped with the time it got it. The gateways are the server
// role's sockactor servers with -remote and -etcd.

// serverFleet is the server role's fleet configuration: nil without etcd,
// an error when etcd is given without remote or with a TTL etcd cannot
// keep (it counts whole seconds).
func serverFleet(etcd, remote string, ttl time.Duration) (*fleet.Config, error) {
	switch {
	case etcd == "":
		return nil, nil
	case remote == "":
		return nil, errors.New("-etcd needs -remote (a fleet member is a remote node)")
	case ttl < time.Second || ttl%time.Second != 0:
		return nil, fmt.Errorf("-fleet-ttl %v: want whole seconds, at least 1s", ttl)
	}
	return &fleet.Config{Endpoints: parseList(etcd), TTL: ttl}, nil
}

// etcdStartTimeout bounds the embedded etcd's start.
const etcdStartTimeout = 30 * time.Second

// etcdRole runs an embedded etcd (fleet/embedetcd) on a data directory the
// harness made and removes: "etcd <url>" on stdout, then it serves until
// told to stop.
func etcdRole(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("bench -role etcd", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dir := fs.String("dir", "", "data directory (required)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *dir == "" {
		fmt.Fprintln(stderr, "bench etcd: -dir is required")
		return 2
	}
	ctx, cancel := roleContext(true)
	defer cancel()
	cfg, err := embedetcd.NewConfig(*dir)
	if err != nil {
		fmt.Fprintf(stderr, "bench etcd: %v\n", err)
		return 1
	}
	sctx, cancelStart := context.WithTimeout(ctx, etcdStartTimeout)
	s, err := embedetcd.Start(sctx, cfg)
	cancelStart()
	if err != nil {
		fmt.Fprintf(stderr, "bench etcd: %v\n", err)
		return 1
	}
	_, err = fmt.Fprintf(stdout, "etcd %s\n", s.Endpoints()[0])
	if err == nil {
		<-ctx.Done()
	}
	if err := errors.Join(err, s.Close()); err != nil {
		fmt.Fprintf(stderr, "bench etcd: %v\n", err)
		return 1
	}
	return 0
}

// fleetLine is one line of the fleet watcher role: a fleet.Update, with T
// the watcher's time.Now().UnixNano() when it got it (the harness's clock
// too: both read CLOCK_REALTIME on one machine).
type fleetLine struct {
	T int64 `json:"t"`
	// Kind is the update's kind: JOIN, SNAPSHOT, EVENT, GONE, LOST, LEAVE
	// or RESTART.
	Kind string `json:"kind"`
	// Gateway is the gateway's remote address, Incarnation its
	// registration's incarnation.
	Gateway     string `json:"gateway"`
	Incarnation string `json:"incarnation,omitempty"`
	// Event is the FD_* kind of an EVENT (FD_ACCEPT, FD_CLOSE, ...).
	Event string `json:"event,omitempty"`
	// Socket and Remote are an EVENT's or a GONE's socket id and peer
	// address.
	Socket uint64 `json:"socket,omitempty"`
	Remote string `json:"remote,omitempty"`
	// Sockets is the number of open sockets of a SNAPSHOT.
	Sockets int `json:"sockets,omitempty"`
}

// fleetLineOf is the line of update u got at t.
func fleetLineOf(u fleet.Update, t time.Time) fleetLine {
	l := fleetLine{T: t.UnixNano(), Kind: u.Kind.String(), Gateway: u.Gateway.Address, Incarnation: u.Gateway.Incarnation}
	switch u.Kind {
	case fleet.Snapshot:
		l.Sockets = len(u.Snapshot.Sockets)
	case fleet.Event:
		l.Event, l.Socket, l.Remote = u.Event.EventKind().String(), u.Event.SocketId, u.Event.RemoteAddr
	case fleet.Gone:
		l.Socket, l.Remote = u.Socket.SocketId, u.Socket.RemoteAddr
	}
	return l
}

// fleetWatchClose bounds the watcher's Close and the remote's stop.
const fleetWatchClose = 5 * time.Second

// fleetWatchRole is a fleet watcher on a node of its own: a protoactor
// system with remote (runtime.StartRemote) and a fleet.Watcher of the
// etcd's default prefix, printing one fleetLine per update until told to
// stop.
func fleetWatchRole(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("bench -role fleetwatch", flag.ContinueOnError)
	fs.SetOutput(stderr)
	etcd := fs.String("etcd", "", "etcd endpoints, comma-separated (required)")
	remote := fs.String("remote", "127.0.0.1:0", "this node's remote address")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *etcd == "" {
		fmt.Fprintln(stderr, "bench fleetwatch: -etcd is required")
		return 2
	}
	ctx, cancel := roleContext(true)
	defer cancel()
	if err := fleetWatch(ctx, parseList(*etcd), *remote, stdout, stderr); err != nil {
		fmt.Fprintf(stderr, "bench fleetwatch: %v\n", err)
		return 1
	}
	return 0
}

// fleetWatch runs the watcher of fleetWatchRole until ctx ends.
func fleetWatch(ctx context.Context, endpoints []string, remote string, stdout, stderr io.Writer) error {
	errLog := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelError + 1}))
	sys := actor.NewActorSystem(actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger { return errLog }),
		actor.WithDeadLetterThrottleInterval(100*time.Millisecond))
	defer sys.Shutdown()
	// Remote first: before any etcd client of the process (docs/
	// SEMANTICS.md §7, "etcd and protoactor remote in one process").
	if _, err := sockrt.StartRemote(sys, sockrt.RemoteOptions{Listen: remote}); err != nil {
		return err
	}
	defer stopRemoteWithin(sys, fleetWatchClose)
	cfg := fleet.Config{Endpoints: endpoints,
		Logger: slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))}
	var werr error // the first write error; OnUpdate calls are one at a time
	w, err := fleet.NewWatcher(sys, cfg, fleet.WatchOptions{OnUpdate: func(u fleet.Update) {
		b, err := json.Marshal(fleetLineOf(u, time.Now()))
		if err == nil && werr == nil {
			_, werr = fmt.Fprintf(stdout, "%s\n", b)
		}
	}})
	if err != nil {
		return err
	}
	<-ctx.Done()
	cctx, cancel := context.WithTimeout(context.Background(), fleetWatchClose)
	defer cancel()
	return w.Close(cctx)
}

// stopRemoteWithin stops sys's remote, waiting at most d (protoactor's
// connection attempts to a node that is gone cannot be interrupted; the
// process is about to exit anyway).
func stopRemoteWithin(sys *actor.ActorSystem, d time.Duration) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		sockrt.StopRemote(sys)
	}()
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-done:
	case <-t.C:
	}
}
