package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/asynkron/protoactor-go/eventstream"
	"github.com/asynkron/protoactor-go/remote"

	"github.com/sockactor/sockactor/actors"
	"github.com/sockactor/sockactor/events"
	sockrt "github.com/sockactor/sockactor/runtime"
	"github.com/sockactor/sockactor/winsock"
)

// requestTimeout bounds the snapshot request and each command.
const requestTimeout = 5 * time.Second

// Once the gateway is lost, watch tries again retryMin later, doubling the
// pause up to retryMax: each try is a TCP connect to the gateway's remote
// address (at most probeTimeout), and once that is accepted, the snapshot
// request. The connect comes first because protoactor's connection to a
// node where nothing listens cannot be interrupted: it makes its attempts
// and sleeps 2 s after each failed one (runtime.DefaultConnectRetries
// times), holding up remote's stop all that while.
const (
	retryMin     = 100 * time.Millisecond
	retryMax     = 2 * time.Second
	probeTimeout = time.Second
)

// remoteStopWait bounds how long watch waits for its remote to stop (the
// runtime's own Shutdown bounds it likewise). The stop is quick unless a
// connection attempt to an unreachable gateway is under way, which only
// happens when a request left in the instant the gateway died, before its
// loss was known (a snapshot request just after the connect that preceded
// it, or a command), or when the address accepts TCP but is no gateway;
// that remainder ends by itself, within the bound of runtime.StopRemote,
// or with the process.
const remoteStopWait = 500 * time.Millisecond

func runWatch(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("watch", flag.ContinueOnError)
	fs.SetOutput(stderr)
	gateway := fs.String("gateway", "", "the gateway's remote address (host:port, as its \"remote\" line prints it)")
	remote := fs.String("remote", "127.0.0.1:0", "remote (gRPC) address of this node (host:port; port 0 picks one)")
	ff := addFleetFlags(fs, false)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if cfg := ff.config(); cfg != nil {
		if *gateway != "" {
			return errors.New("-gateway and -etcd exclude each other")
		}
		return runFleetWatch(ctx, cfg, *remote, stdout, stderr)
	}
	if *gateway == "" {
		return errors.New("-gateway or -etcd is required")
	}
	// A node of its own, not a runtime: any protoactor system started
	// with sockactor's remote settings can watch a gateway.
	sys := actor.NewActorSystem(
		actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger {
			return slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelError + 1}))
		}),
		actor.WithDeadLetterThrottleInterval(100*time.Millisecond),
	)
	defer sys.Shutdown()
	if _, err := sockrt.StartRemote(sys, sockrt.RemoteOptions{Listen: *remote}); err != nil {
		return err
	}
	defer stopRemote(sys)

	// The connects to the gateway end with the watcher: cancelled, and
	// waited for once the actor (which starts them) has stopped.
	probeCtx, cancelProbes := context.WithCancel(context.Background())
	var probes sync.WaitGroup
	defer probes.Wait()
	defer cancelProbes()

	out := &lineWriter{w: stdout}
	failed := make(chan error, 1)
	w := &watcher{gateway: *gateway, node: sockrt.NodePID(*gateway), out: out, failed: failed,
		probeCtx: probeCtx, probes: &probes}
	pid := sys.Root.Spawn(actor.PropsFromProducer(func() actor.Actor { return w }))
	// Every message to the gateway leaves from the watcher actor; stdin
	// only hands it commands. Stopping the actor first (it is waited for)
	// orders its remote sends before the remote's shutdown.
	defer func() { _ = sys.Root.StopFuture(pid).Wait() }()
	go readCommands(stdin, func(c cmdLine) { sys.Root.Send(pid, c) })
	select {
	case <-ctx.Done():
		return nil
	case err := <-failed:
		return err
	}
}

// stopRemote stops sys's remote, waiting at most remoteStopWait.
func stopRemote(sys *actor.ActorSystem) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		sockrt.StopRemote(sys)
	}()
	t := time.NewTimer(remoteStopWait)
	defer t.Stop()
	select {
	case <-done:
	case <-t.C:
	}
}

// cmdLine is one stdin line, handed to the watcher actor.
type cmdLine struct{ line string }

// readCommands hands every line of r to send. Its goroutine ends with r
// (the end of stdin stops nothing else).
func readCommands(r io.Reader, send func(cmdLine)) {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		send(cmdLine{line: strings.TrimRight(sc.Text(), "\r")})
	}
}

// The watcher actor's own messages: each names the sync attempt it belongs
// to (watcher.try), and one of an attempt that is over is ignored.
type (
	// probed is the outcome of the connect to the gateway's address.
	probed struct {
		try uint64
		err error
	}
	// retry is the end of the pause before the next attempt.
	retry struct{ try uint64 }
	// gatewayEvent is an event for the subscriber that attempt named.
	gatewayEvent struct {
		try uint64
		ev  *events.Event
	}
	// endpointLost is protoactor's EndpointTerminatedEvent for a node: the
	// connection to it was lost, or could not be made.
	endpointLost struct{ address string }
)

// watcher is the actor that resyncs and follows the gateway, and resyncs
// again whenever it is lost. Goroutine: its own (protoactor runs one
// message at a time); probes and timers only send it messages.
type watcher struct {
	gateway  string     // -gateway
	node     *actor.PID // the gateway's node actor
	out      *lineWriter
	failed   chan<- error
	probeCtx context.Context
	probes   *sync.WaitGroup

	sys  *actor.ActorSystem
	self *actor.PID
	lost *eventstream.Subscription

	// try numbers the sync attempts; the one in progress, or the last.
	try uint64
	// requesting: try's snapshot request is in flight.
	requesting bool
	// synced: a snapshot of this connection to the gateway was printed and
	// its events are followed; down: the gateway was lost since (and
	// GATEWAY_DOWN printed); neither: the first attempt is in progress.
	synced, down bool
	addr         string     // the gateway's node address, from the snapshot
	sub          *actor.PID // the subscriber the last request named
	stale        []*actor.PID
	snapSeq      uint64          // the snapshot's seq: events at or below it are in it
	seq          uint64          // the last seq printed
	early        []*events.Event // try's events that came before its snapshot
	backoff      time.Duration
	timer        *time.Timer

	cmdSeq  uint64
	pending map[uint64]bool // commands in flight
}

func (w *watcher) Receive(c actor.Context) {
	switch m := c.Message().(type) {
	case *actor.Started:
		w.sys, w.self = c.ActorSystem(), c.Self()
		w.pending = map[uint64]bool{}
		w.backoff = retryMin
		w.lost = w.sys.EventStream.SubscribeWithPredicate(func(ev any) {
			w.sys.Root.Send(w.self, endpointLost{address: ev.(*remote.EndpointTerminatedEvent).Address})
		}, func(ev any) bool { _, ok := ev.(*remote.EndpointTerminatedEvent); return ok })
		w.attempt()
	case probed:
		if m.try == w.try && !w.synced {
			if m.err != nil {
				w.attemptFailed(m.err)
			} else {
				w.request(c)
			}
		}
	case retry:
		if m.try == w.try && w.down && !w.requesting {
			w.attempt()
		}
	case endpointLost:
		if m.address == w.gateway || (w.addr != "" && m.address == w.addr) {
			w.gatewayLost()
		}
	case gatewayEvent:
		switch {
		case m.try != w.try: // a subscription of an earlier attempt
		case w.synced:
			w.event(m.ev)
		case w.requesting: // before its snapshot (the reply comes first on the one connection: kept all the same)
			w.early = append(w.early, m.ev)
		}
	case cmdLine:
		w.command(c, m.line)
	case *actor.Stopping:
		w.stop()
	}
}

// attempt starts a sync attempt: the connect first, the request once it
// is accepted.
func (w *watcher) attempt() {
	w.try++
	w.early = nil
	try := w.try
	w.probes.Add(1)
	go func() {
		defer w.probes.Done()
		d := net.Dialer{Timeout: probeTimeout}
		conn, err := d.DialContext(w.probeCtx, "tcp", w.gateway)
		if err == nil {
			_ = conn.Close()
		}
		w.sys.Root.Send(w.self, probed{try: try, err: err})
	}()
}

// request sends the snapshot request of the attempt in progress, naming a
// new subscriber.
func (w *watcher) request(c actor.Context) {
	try := w.try
	w.retire()
	w.sub, _ = w.sys.ProcessRegistry.Add(&subscriber{try: try, to: func(m any) { w.sys.Root.Send(w.self, m) }},
		"gateway-events-"+strconv.FormatUint(try, 10))
	w.requesting = true
	f := c.RequestFuture(w.node, actors.NewSnapshotRequest(w.sub, events.MaskOf(events.FDAccept, events.FDClose)), requestTimeout)
	c.ReenterAfter(f, func(res any, err error) {
		if try != w.try || !w.requesting {
			return // that attempt is over
		}
		w.requesting = false
		snap, ok := res.(*events.Snapshot)
		switch {
		case err != nil:
			w.attemptFailed(err)
		case !ok:
			w.attemptFailed(fmt.Errorf("unexpected reply %T", res))
		case snap.Code != 0:
			w.attemptFailed(fmt.Errorf("%w %s", winsock.Code(snap.Code), snap.Detail))
		default:
			w.snapshot(c, snap)
		}
	})
}

// attemptFailed ends the attempt in progress: the first one fails watch;
// later ones are tried again after the pause.
func (w *watcher) attemptFailed(err error) {
	w.requesting = false
	if !w.down {
		w.fail(fmt.Errorf("snapshot from %s: %w", w.gateway, err))
		return
	}
	w.pause()
}

// pause ends the attempt in progress, if any (what it still gets is
// ignored), and starts the next one after the backoff, which doubles.
func (w *watcher) pause() {
	w.try++
	try := w.try
	w.timer = time.AfterFunc(w.backoff, func() { w.sys.Root.Send(w.self, retry{try: try}) })
	w.backoff = min(2*w.backoff, retryMax)
}

// gatewayLost reports the loss of the connection to the gateway: once,
// GATEWAY_DOWN, then the commands in flight fail and the attempts begin;
// while an attempt's request is in flight, that attempt failed.
func (w *watcher) gatewayLost() {
	switch {
	case w.synced:
		w.synced, w.down = false, true
		w.out.json(struct {
			Kind    string `json:"kind"`
			Gateway string `json:"gateway"`
			Seq     uint64 `json:"seq"`
		}{"GATEWAY_DOWN", w.gateway, w.seq})
		for range w.pending {
			w.out.line(netDown)
		}
		clear(w.pending)
		w.retire()
		w.backoff = retryMin
		w.pause()
	case w.requesting:
		w.attemptFailed(errors.New("connection lost"))
	}
}

// netDown is the answer to a command while the gateway is down.
var netDown = fmt.Sprintf("ERR %s %d gateway down", winsock.WSAENETDOWN.Name(), uint32(winsock.WSAENETDOWN))

// retire takes the last subscriber out of the registry; it is told to the
// gateway (Unsubscribe) after the next snapshot, in case it still lives.
func (w *watcher) retire() {
	if w.sub != nil {
		w.sys.ProcessRegistry.Remove(w.sub)
		w.stale = append(w.stale, w.sub)
		w.sub = nil
	}
}

func (w *watcher) fail(err error) {
	select {
	case w.failed <- err:
	default:
	}
}

func (w *watcher) stop() {
	w.sys.EventStream.Unsubscribe(w.lost)
	if w.timer != nil {
		w.timer.Stop()
	}
	w.try++
	// Nothing is sent to the gateway, which may have just died: it drops
	// the subscriber when it loses this node, as the remote stops.
	if w.sub != nil {
		w.sys.ProcessRegistry.Remove(w.sub)
		w.sub = nil
	}
}
