package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/sockactor/sockactor/actors"
	"github.com/sockactor/sockactor/events"
	sockrt "github.com/sockactor/sockactor/runtime"
	"github.com/sockactor/sockactor/winsock"
)

// requestTimeout bounds the snapshot request and each command.
const requestTimeout = 5 * time.Second

func runWatch(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("watch", flag.ContinueOnError)
	fs.SetOutput(stderr)
	gateway := fs.String("gateway", "", "the gateway's remote address (host:port, as its \"remote\" line prints it)")
	remote := fs.String("remote", "127.0.0.1:0", "remote (gRPC) address of this node (host:port; port 0 picks one)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if *gateway == "" {
		return errors.New("-gateway is required")
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
	defer sockrt.StopRemote(sys)

	out := &lineWriter{w: stdout}
	failed := make(chan error, 1)
	w := &watcher{node: sockrt.NodePID(*gateway), out: out, failed: failed}
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

// watcher is the actor that resyncs and follows the gateway.
// Goroutine: its own (protoactor runs one message at a time).
type watcher struct {
	node   *actor.PID // the gateway's node actor
	addr   string     // the gateway's node address, from the snapshot
	out    *lineWriter
	failed chan<- error
	synced bool
}

func (w *watcher) Receive(c actor.Context) {
	switch m := c.Message().(type) {
	case *actor.Started:
		// Ask with ourselves as the subscriber: the Snapshot reply reaches
		// this mailbox before any event with a higher seq.
		f := c.RequestFuture(w.node, actors.NewSnapshotRequest(c.Self(), events.MaskOf(events.FDAccept, events.FDClose)), requestTimeout)
		c.ReenterAfter(f, func(res any, err error) {
			snap, ok := res.(*events.Snapshot)
			switch {
			case err != nil:
				w.fail(fmt.Errorf("snapshot from %s: %w", w.node.Address, err))
			case !ok:
				w.fail(fmt.Errorf("snapshot from %s: unexpected reply %T", w.node.Address, res))
			case snap.Code != 0:
				w.fail(fmt.Errorf("snapshot from %s: %w %s", w.node.Address, winsock.Code(snap.Code), snap.Detail))
			default:
				w.snapshot(snap)
			}
		})
	case *events.Event:
		if w.synced { // before the snapshot nothing is subscribed; never reached
			w.event(m)
		}
	case cmdLine:
		w.command(c, m.line)
	}
}

func (w *watcher) fail(err error) {
	select {
	case w.failed <- err:
	default:
	}
}

func (w *watcher) snapshot(s *events.Snapshot) {
	w.synced, w.addr = true, s.Address
	ids := []uint64{}
	for _, e := range s.Sockets {
		if e.ListenerId != 0 { // accepted connections only
			ids = append(ids, e.SocketId)
		}
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	w.out.json(struct {
		Kind    string   `json:"kind"`
		Sockets []uint64 `json:"sockets"`
		Seq     uint64   `json:"seq"`
	}{"SNAPSHOT", ids, s.Seq})
}

// eventLine is the JSON line of one event.
type eventLine struct {
	Kind     string `json:"kind"`
	Socket   uint64 `json:"socket"`
	Code     uint32 `json:"code"`
	Error    string `json:"error"`
	Reason   string `json:"reason"`
	Local    bool   `json:"local"`
	Remote   string `json:"remote"`
	Listener uint64 `json:"listener"`
	Seq      uint64 `json:"seq"`
}

func (w *watcher) event(ev *events.Event) {
	name := ""
	if ev.Code != 0 {
		name = winsock.Code(ev.Code).Name()
	}
	w.out.json(eventLine{Kind: ev.EventKind().String(), Socket: ev.SocketId, Code: ev.Code, Error: name,
		Reason: ev.Reason, Local: ev.Local, Remote: ev.RemoteAddr, Listener: ev.ListenerId, Seq: ev.Seq})
}

// command runs SHUTRD or CLOSE: a request to the socket's PID over remote,
// answered when the reply (or a dead letter, or the timeout) comes back.
func (w *watcher) command(c actor.Context, line string) {
	verb, arg, _ := strings.Cut(strings.TrimSpace(line), " ")
	id, err := strconv.ParseUint(strings.TrimSpace(arg), 10, 64)
	var req any
	switch strings.ToUpper(verb) {
	case "SHUTRD":
		req = &actors.RecvDisconnect{}
	case "CLOSE":
		req = &actors.Close{}
	}
	if req == nil || err != nil {
		w.out.line(fmt.Sprintf("ERR %s %d unknown command", winsock.WSAEINVAL.Name(), uint32(winsock.WSAEINVAL)))
		return
	}
	if !w.synced {
		w.out.line(fmt.Sprintf("ERR %s %d not synced with the gateway yet", winsock.WSANOTINITIALISED.Name(), uint32(winsock.WSANOTINITIALISED)))
		return
	}
	verb = strings.ToUpper(verb)
	pid := actor.NewPID(w.addr, "sock/"+strconv.FormatUint(id, 10))
	f := c.RequestFuture(pid, req, requestTimeout)
	c.ReenterAfter(f, func(res any, err error) {
		code := winsock.OK
		switch r := res.(type) {
		case *actors.RecvDisconnectResult:
			code = winsock.Code(r.Code)
		case *actors.CloseResult:
			code = winsock.Code(r.Code)
		case *actors.Error:
			code = winsock.Code(r.Code)
		case *actor.DeadLetterResponse:
			code = winsock.WSAENOTSOCK
		default:
			switch {
			case errors.Is(err, actor.ErrDeadLetter):
				code = winsock.WSAENOTSOCK
			case errors.Is(err, actor.ErrTimeout):
				code = winsock.WSAETIMEDOUT
			default:
				code = winsock.WSAEINVAL
			}
		}
		if code == winsock.OK {
			w.out.line(fmt.Sprintf("OK %s %d", verb, id))
			return
		}
		w.out.line(fmt.Sprintf("ERR %s %d", code.Name(), uint32(code)))
	})
}

// lineWriter writes whole lines to stdout, one writer at a time.
type lineWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lineWriter) line(s string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	_, _ = io.WriteString(l.w, s+"\n")
}

func (l *lineWriter) json(v any) {
	b, err := json.Marshal(v)
	if err != nil {
		return
	}
	l.line(string(b))
}
