package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"sort"
	"strings"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/sockactor/sockactor/events"
	"github.com/sockactor/sockactor/fleet"
	"github.com/sockactor/sockactor/fleet/embedetcd"
	sockrt "github.com/sockactor/sockactor/runtime"
	"github.com/sockactor/sockactor/winsock"
)

// fleetFlags are the flags of gateway and watch that say where the fleet
// lives.
type fleetFlags struct {
	etcd   *string
	prefix *string
	ttl    *time.Duration
}

func addFleetFlags(fs *flag.FlagSet, withTTL bool) fleetFlags {
	f := fleetFlags{
		etcd:   fs.String("etcd", "", "etcd endpoints, comma-separated (http://127.0.0.1:2379): join the fleet there"),
		prefix: fs.String("prefix", fleet.DefaultPrefix, "the fleet's etcd key prefix"),
	}
	if withTTL {
		f.ttl = fs.Duration("ttl", fleet.DefaultTTL, "the registration's lease TTL (at least 1s)")
	}
	return f
}

// config is the fleet configuration, nil without -etcd.
func (f fleetFlags) config() *fleet.Config {
	if *f.etcd == "" {
		return nil
	}
	c := &fleet.Config{Endpoints: strings.Split(*f.etcd, ","), Prefix: *f.prefix}
	if f.ttl != nil {
		c.TTL = *f.ttl
	}
	return c
}

// runEtcd runs an embedded etcd server (package fleet/embedetcd) for a
// demo: "etcd http://<host:port>" on stdout, until SIGINT or SIGTERM.
func runEtcd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("etcd", flag.ContinueOnError)
	fs.SetOutput(stderr)
	listen := fs.String("listen", "127.0.0.1:2379", "client address (host:port; port 0 picks one)")
	dir := fs.String("dir", "", "data directory (required; kept: start again on it to find the fleet again)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if *dir == "" {
		return errors.New("-dir is required")
	}
	cfg, err := embedetcd.NewConfig(*dir)
	if err != nil {
		return err
	}
	if !strings.HasSuffix(*listen, ":0") {
		cfg.ClientAddr = *listen
	}
	sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	s, err := embedetcd.Start(sctx, cfg)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "etcd %s\n", s.Endpoints()[0])
	<-ctx.Done()
	return s.Close()
}

// runFleetWatch follows every gateway of the fleet (watch -etcd): one
// JSON line per fleet.Update.
func runFleetWatch(ctx context.Context, cfg *fleet.Config, remoteAddr string, stdout, stderr io.Writer) error {
	sys := actor.NewActorSystem(
		actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger {
			return slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelError + 1}))
		}),
		actor.WithDeadLetterThrottleInterval(100*time.Millisecond),
	)
	defer sys.Shutdown()
	if _, err := sockrt.StartRemote(sys, sockrt.RemoteOptions{Listen: remoteAddr}); err != nil {
		return err
	}
	defer stopRemote(sys)
	cfg.Logger = slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	out := &lineWriter{w: stdout}
	w, err := fleet.NewWatcher(sys, *cfg, fleet.WatchOptions{OnUpdate: func(u fleet.Update) { printUpdate(out, u) }})
	if err != nil {
		return err
	}
	<-ctx.Done()
	cctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return w.Close(cctx)
}

// memberLine is a JOIN, LOST, LEAVE or RESTART line.
type memberLine struct {
	Kind        string           `json:"kind"`
	Gateway     string           `json:"gateway"`
	Incarnation string           `json:"incarnation"`
	Listeners   []fleet.Listener `json:"listeners,omitempty"`
}

// changeLine is a CHANGE line: the gateway's listeners now, [] when it
// has none left (never omitted: that is the change).
type changeLine struct {
	Kind        string           `json:"kind"`
	Gateway     string           `json:"gateway"`
	Incarnation string           `json:"incarnation"`
	Listeners   []fleet.Listener `json:"listeners"`
}

// fleetSnapshotLine is a SNAPSHOT line of a fleet watcher: the socket ids
// and, in the same order, their peers' addresses.
type fleetSnapshotLine struct {
	Kind    string   `json:"kind"`
	Gateway string   `json:"gateway"`
	Sockets []uint64 `json:"sockets"`
	Remotes []string `json:"remotes"`
	Seq     uint64   `json:"seq"`
}

// goneLine is a GONE line: synthetic, never an FD_CLOSE.
type goneLine struct {
	Kind    string `json:"kind"`
	Gateway string `json:"gateway"`
	Socket  uint64 `json:"socket"`
	Remote  string `json:"remote"`
	Reason  string `json:"reason"`
}

// fleetEventLine is an event line with the gateway it came from.
type fleetEventLine struct {
	eventLine
	Gateway string `json:"gateway"`
}

func printUpdate(out *lineWriter, u fleet.Update) {
	gw := u.Gateway.Address
	switch u.Kind {
	case fleet.Snapshot:
		s := fleetSnapshotLine{Kind: "SNAPSHOT", Gateway: gw, Sockets: []uint64{}, Remotes: []string{}, Seq: u.Snapshot.Seq}
		socks := append([]*events.SocketEntry(nil), u.Snapshot.Sockets...)
		sort.Slice(socks, func(i, j int) bool { return socks[i].SocketId < socks[j].SocketId })
		for _, e := range socks {
			s.Sockets = append(s.Sockets, e.SocketId)
			s.Remotes = append(s.Remotes, e.RemoteAddr)
		}
		out.json(s)
	case fleet.Event:
		ev := u.Event
		name := ""
		if ev.Code != 0 {
			name = winsock.Code(ev.Code).Name()
		}
		out.json(fleetEventLine{eventLine{Kind: ev.EventKind().String(), Socket: ev.SocketId, Code: ev.Code, Error: name,
			Reason: ev.Reason, Local: ev.Local, Remote: ev.RemoteAddr, Listener: ev.ListenerId, Seq: ev.Seq}, gw})
	case fleet.Change:
		ls := u.Gateway.Listeners
		if ls == nil {
			ls = []fleet.Listener{}
		}
		out.json(changeLine{Kind: "CHANGE", Gateway: gw, Incarnation: u.Gateway.Incarnation, Listeners: ls})
	case fleet.Gone:
		out.json(goneLine{Kind: "GONE", Gateway: gw, Socket: u.Socket.SocketId, Remote: u.Socket.RemoteAddr, Reason: u.Reason})
	default:
		out.json(memberLine{Kind: u.Kind.String(), Gateway: gw, Incarnation: u.Gateway.Incarnation, Listeners: u.Gateway.Listeners})
	}
}
