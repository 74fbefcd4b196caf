package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/sockactor/sockactor/bench/internal/loadgen"
	"github.com/sockactor/sockactor/bench/servers"
)

// roleArgs recognises the hidden role flag, which the harness always puts
// first: "-role NAME ..." or "-role=NAME ...".
func roleArgs(args []string) (role string, rest []string, ok bool) {
	if len(args) == 0 {
		return "", nil, false
	}
	a := strings.TrimPrefix(args[0], "-")
	a = strings.TrimPrefix(a, "-")
	if v, found := strings.CutPrefix(a, "role="); found {
		return v, args[1:], true
	}
	if a == "role" && len(args) > 1 {
		return args[1], args[2:], true
	}
	return "", nil, false
}

// roleContext is cancelled by SIGTERM, SIGINT, or (when watchStdin) the
// end of standard input: the harness holds the other end of that pipe, so
// a child never outlives it.
func roleContext(watchStdin bool) (context.Context, context.CancelFunc) {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	ctx, cancel := context.WithCancel(ctx)
	if watchStdin {
		go func() {
			_, _ = io.Copy(io.Discard, os.Stdin)
			cancel()
		}()
	}
	return ctx, func() { cancel(); stop() }
}

// serverRole runs one echo server until told to stop.
func serverRole(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("bench -role server", flag.ContinueOnError)
	fs.SetOutput(stderr)
	name := fs.String("server", "gnet", "server to run: "+strings.Join(servers.All(), ", "))
	listen := fs.String("listen", "127.0.0.1:0", "address to listen on")
	notify := fs.String("notify", "", "also open the side channel (close records, ban commands) on this address")
	subs := fs.Int("subscribers", 1, "FD_CLOSE subscriber actors (sockactor servers)")
	banPolicy := fs.String("ban-policy", "", "receive-ban policy of sockactor servers: reset or discard (default: the runtime's)")
	watchStdin := fs.Bool("watch-stdin", true, "exit when standard input closes")
	remote := fs.String("remote", "", "make a sockactor server a remote node on this address and print its \"remote\" line")
	etcd := fs.String("etcd", "", "with -remote: register a sockactor server in the fleet of these etcd endpoints (comma-separated)")
	fleetTTL := fs.Duration("fleet-ttl", time.Second, "with -etcd: the registration's lease TTL (whole seconds, at least 1s)")
	network := fs.String("network", servers.NetTCP, "transport: tcp, udp or unix (-listen is then a socket path)")
	maxPeers := fs.Int("max-peers", 0, "UDP listener's peer table bound (sockactor servers; 0: the runtime's default)")
	peerIdle := fs.Duration("peer-idle", 0, "UDP peer idle timeout (sockactor servers; 0: the runtime's default)")
	mode := fs.String("mode", servers.ModeEcho, "what the server does: echo (empty), "+servers.ModeFloodWriter+" (write -flood-bytes to every accepted connection), "+servers.ModeSlowConsumer+" (read every connection at 64 KiB per -consume-period), "+servers.ModeRESP+" (a Redis server: gnet and the sockactor servers), "+servers.ModeHTTP+" (an HTTP/1.1 server) or "+servers.ModeTLS+" (a TLS 1.3 echo server: stdlib and the sockactor servers)")
	consumePeriod := fs.Duration("consume-period", servers.DefaultConsumePeriod, "a "+servers.ModeSlowConsumer+"'s time per 64 KiB, on each connection")
	floodBytes := fs.Int("flood-bytes", servers.DefaultFloodBytes, "bytes a "+servers.ModeFloodWriter+" writes to each connection")
	highWater := fs.Int("send-high-water", 0, "sockactor servers' Options.SendHighWater (0: the runtime's default)")
	maxInbound := fs.Int("max-inbound", 0, "sockactor servers' Options.MaxInbound (0: the runtime's default)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	fleetCfg, err := serverFleet(*etcd, *remote, *fleetTTL)
	if err != nil {
		fmt.Fprintf(stderr, "bench server %s: %v\n", *name, err)
		return 2
	}
	ctx, cancel := roleContext(*watchStdin)
	defer cancel()
	cfg := servers.Config{Fleet: fleetCfg, Listen: *listen, Subscribers: *subs, BanPolicy: *banPolicy, Remote: *remote,
		Network: *network, MaxPeers: *maxPeers, PeerIdleTimeout: *peerIdle,
		Mode: *mode, FloodBytes: *floodBytes, SendHighWater: *highWater, ConsumePeriod: *consumePeriod,
		MaxInbound: *maxInbound}
	if err := serve(ctx, *name, cfg, *notify, stdout); err != nil {
		if ue := (*servers.UnsupportedError)(nil); errors.As(err, &ue) {
			// The harness shows the server as unavailable for this
			// scenario rather than as a failure.
			fmt.Fprintf(stdout, "unsupported %s\n", strings.ReplaceAll(ue.Reason, "\n", " "))
			return exitUnsupported
		}
		fmt.Fprintf(stderr, "bench server %s: %v\n", *name, err)
		return 1
	}
	return 0
}

// exitUnsupported is the server role's exit code after its "unsupported"
// line.
const exitUnsupported = 3

func serve(ctx context.Context, name string, cfg servers.Config, notify string, stdout io.Writer) error {
	srv, err := servers.NewMode(name, cfg.Mode)
	if err != nil {
		return err
	}
	var ctl *servers.Control
	ctlDone := make(chan error, 1)
	if notify != "" {
		if ctl, err = servers.ListenControl(notify); err != nil {
			return fmt.Errorf("side channel: %w", err)
		}
		cfg.Control = ctl
		if b, ok := srv.(servers.Banner); ok {
			ctl.SetBanner(b)
		}
		if p, ok := srv.(servers.PeerCounter); ok {
			ctl.SetPeerCounter(p)
		}
		if cons, ok := srv.(servers.Consumer); ok {
			ctl.SetConsumer(cons)
		}
		if tc, ok := srv.(servers.TLSCounter); ok {
			ctl.SetTLSCounter(tc)
		}
	}
	startCtx, cancelStart := context.WithTimeout(ctx, 20*time.Second)
	addr, err := srv.Start(startCtx, cfg)
	cancelStart()
	if err != nil {
		if ctl != nil {
			_ = ctl.Close()
		}
		return fmt.Errorf("start: %w", err)
	}
	if _, err := fmt.Fprintf(stdout, "listening %s\n", addr); err != nil {
		return err
	}
	if rn, ok := srv.(servers.RemoteNode); ok && cfg.Remote != "" {
		if _, err := fmt.Fprintf(stdout, "remote %s\n", rn.RemoteAddr()); err != nil {
			return err
		}
	}
	if ctl != nil {
		go func() { ctlDone <- ctl.Serve() }()
		if _, err := fmt.Fprintf(stdout, "notify %s\n", ctl.Addr()); err != nil {
			return err
		}
	}
	<-ctx.Done()
	stopCtx, cancelStop := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancelStop()
	err = srv.Stop(stopCtx)
	if ctl != nil {
		err = errors.Join(err, ctl.Close(), <-ctlDone)
	}
	return err
}

// loadgenRole runs one load-generator scenario and prints its result as one
// JSON line.
func loadgenRole(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("bench -role loadgen", flag.ContinueOnError)
	fs.SetOutput(stderr)
	scenario := fs.String("scenario", "echo", "echo, idle, churn, ban, remote, udp, udpchurn, slow, spoof, backpressure, resp, http, or tls-handshake, tls-echo, tls-idle, tls-halfopen")
	network := fs.String("network", "tcp", "echo over tcp or unix (-target is then the socket path)")
	target := fs.String("target", "", "server host:port (loopback), or a unix socket path")
	pid := fs.Int("server-pid", 0, "server process id, for its CPU time and RSS (0: unknown)")
	notify := fs.String("notify", "", "server side channel host:port")
	conns := fs.Int("conns", 64, "connections (echo, ban, backpressure), slow peers (slow)")
	payload := fs.Int("payload", 64, "message size in bytes (echo) or write size (ban)")
	window := fs.Int("window", 1, "outstanding messages per connection (echo), commands per batch (resp), requests per batch (http)")
	warmup := fs.Duration("warmup", 200*time.Millisecond, "warm-up before the measured window (echo, ban)")
	duration := fs.Duration("duration", time.Second, "measured window (echo), streaming after the ban (ban), quiet window (slow)")
	sources := fs.Int("sources", 8, "source addresses 127.0.0.2.. to spread connections over")
	dialPar := fs.Int("dial-parallel", 128, "concurrent dials")
	steps := fs.String("steps", "1000,10000", "cumulative idle connection counts (idle)")
	settle := fs.Duration("settle", 300*time.Millisecond, "pause before each RSS reading (idle)")
	rate := fs.Float64("rate", 1000, "connect+close per second in the paced phase (churn)")
	paced := fs.Duration("paced", time.Second, "paced phase length (churn)")
	unpaced := fs.Duration("unpaced", 500*time.Millisecond, "unpaced phase length (churn)")
	workers := fs.Int("workers", 4, "concurrent connect+close loops (churn)")
	maxConns := fs.Int("max-conns", 20000, "connections per churn phase at most")
	rst := fs.Bool("rst", false, "close with a reset instead of FIN (churn)")
	halfClose := fs.Bool("half-close", false, "each connection sends 8 bytes, half-closes, reads the echo to EOF (churn)")
	node := fs.String("node", "", "the server's remote address (remote)")
	workers2 := fs.Int("senders", 16, "concurrent Send requesters (remote)")
	lossTimeout := fs.Duration("loss-timeout", 200*time.Millisecond, "wait for a datagram's echo before counting it lost (udp, udpchurn)")
	peers := fs.Int("peers", 10000, "peers to create (udpchurn)")
	peerIdle := fs.Duration("peer-idle", 2*time.Second, "the server's UDP peer idle timeout (udpchurn)")
	retries := fs.Int("retries", 2, "resends of an unanswered first datagram (udpchurn)")
	settleMax := fs.Duration("settle-max", 0, "longest wait for the kernel queues to settle (slow; 0: 20 s + 2 ms per peer)")
	spoofSources := fs.Int("spoof-sources", 50000, "datagrams, one per source address 127.1.x.y (spoof)")
	spoofWindow := fs.Duration("spoof-window", 20*time.Second, "longest spray (spoof)")
	consumePeriod := fs.Duration("consume-period", servers.DefaultConsumePeriod, "the server's time per 64 KiB on each connection: the consumer's rate (backpressure)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	ctx, cancel := roleContext(true)
	defer cancel()

	var res loadgen.Result
	var err error
	switch *scenario {
	case "echo":
		res, err = loadgen.RunEcho(ctx, loadgen.EchoConfig{Network: *network, Target: *target, Conns: *conns, Payload: *payload,
			Window: *window, Warmup: *warmup, Duration: *duration, ServerPID: *pid, Sources: *sources,
			DialParallel: *dialPar})
	case "idle":
		var st []int
		if st, err = parseInts(*steps); err == nil {
			res, err = loadgen.RunIdle(ctx, loadgen.IdleConfig{Target: *target, Steps: st, ServerPID: *pid,
				Settle: *settle, Sources: *sources, DialParallel: *dialPar})
		}
	case "churn":
		res, err = loadgen.RunChurn(ctx, loadgen.ChurnConfig{Target: *target, Notify: *notify, Rate: *rate,
			Paced: *paced, Unpaced: *unpaced, Workers: *workers, Sources: *sources, MaxConns: *maxConns, RST: *rst,
			HalfClose: *halfClose, ServerPID: *pid})
	case "remote":
		res, err = loadgen.RunRemote(ctx, loadgen.RemoteConfig{Target: *target, Node: *node, Rate: *rate,
			Paced: *paced, Conns: *conns, Workers: *workers2, Payload: *payload, Duration: *duration})
	case "udp":
		res, err = loadgen.RunUDPEcho(ctx, loadgen.UDPEchoConfig{Target: *target, Peers: *conns, Payload: *payload,
			Warmup: *warmup, Duration: *duration, LossTimeout: *lossTimeout, ServerPID: *pid, Sources: *sources})
	case "udpchurn":
		res, err = loadgen.RunUDPChurn(ctx, loadgen.UDPChurnConfig{Target: *target, Notify: *notify, Peers: *peers,
			Parallel: *dialPar, Payload: *payload, Settle: *settle, PeerIdle: *peerIdle, LossTimeout: *lossTimeout,
			Retries: *retries, ServerPID: *pid, Sources: *sources})
	case "slow":
		res, err = loadgen.RunSlowReaders(ctx, loadgen.SlowConfig{Target: *target, Notify: *notify, Peers: *conns,
			Window: *duration, SettleMax: *settleMax, ServerPID: *pid, Sources: *sources, DialParallel: *dialPar})
	case "spoof":
		res, err = loadgen.RunSpoof(ctx, loadgen.SpoofConfig{Target: *target, Notify: *notify, Sources: *spoofSources,
			Window: *spoofWindow, Payload: *payload, ServerPID: *pid})
	case "backpressure":
		res, err = loadgen.RunBackpressure(ctx, loadgen.BackpressureConfig{Target: *target, Notify: *notify, Conns: *conns,
			ConsumePeriod: *consumePeriod, Warmup: *warmup, Duration: *duration, ServerPID: *pid, Sources: *sources})
	case "resp":
		res, err = loadgen.RunRESP(ctx, loadgen.RESPConfig{Target: *target, Conns: *conns, Depth: *window, Payload: *payload,
			Warmup: *warmup, Duration: *duration, ServerPID: *pid, Sources: *sources, DialParallel: *dialPar})
	case "http":
		res, err = loadgen.RunHTTP(ctx, loadgen.HTTPConfig{Target: *target, Conns: *conns, Depth: *window, Warmup: *warmup,
			Duration: *duration, ServerPID: *pid, Sources: *sources, DialParallel: *dialPar})
	case loadgen.ScenarioTLSHandshake, loadgen.ScenarioTLSEcho, loadgen.ScenarioTLSIdle, loadgen.ScenarioTLSHalfOpen:
		res, err = loadgen.RunTLS(ctx, *scenario, loadgen.TLSConfig{Target: *target, Notify: *notify, Conns: *conns,
			Payload: *payload, Workers: *workers, Warmup: *warmup, Duration: *duration, Steps: *steps, Settle: *settle,
			ServerPID: *pid, Sources: *sources, DialParallel: *dialPar})
	case "ban":
		res, err = loadgen.RunBan(ctx, loadgen.BanConfig{Target: *target, Notify: *notify, Conns: *conns,
			Chunk: *payload, Warmup: *warmup, After: *duration, Sources: *sources, DialParallel: *dialPar})
	default:
		err = fmt.Errorf("unknown scenario %q", *scenario)
	}
	if err != nil {
		fmt.Fprintf(stderr, "bench loadgen %s: %v\n", *scenario, err)
		return 1
	}
	b, err := json.Marshal(res)
	if err != nil {
		fmt.Fprintf(stderr, "bench loadgen: %v\n", err)
		return 1
	}
	if _, err := fmt.Fprintf(stdout, "%s\n", b); err != nil {
		return 1
	}
	return 0
}
