package main

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/sockactor/sockactor/bench/internal/loadgen"
	"github.com/sockactor/sockactor/bench/internal/report"
	"github.com/sockactor/sockactor/bench/servers"
)

// caseSpec is one scenario of the run: which servers it compares, how each
// server is started and what the load generator is told.
type caseSpec struct {
	scenario report.Scenario
	servers  []string
	// serverArgs are extra flags for the server role.
	serverArgs []string
	// notify starts the server's side channel and passes it to the loadgen.
	notify bool
	// loadgen are the loadgen role's flags, without -target, -server-pid
	// and -notify.
	loadgen []string
	// timeout bounds one load-generator run.
	timeout time.Duration
	// network is the servers' transport: tcp when empty, udp or unix.
	network string
	// goDefaultProcs starts the servers with Go's default GOMAXPROCS
	// instead of -server-procs.
	goDefaultProcs bool
}

func isSockactor(name string) bool { return strings.HasPrefix(name, "sockactor") }

// transportServers are the servers of the UDP and unix scenarios: the
// baseline and the sockactor servers (the others serve tcp only).
func transportServers(all []string) []string {
	return slices.DeleteFunc(slices.Clone(all), func(s string) bool { return s != baselineServer && !isSockactor(s) })
}

// udpEchoMetrics are the columns of a UDP echo scenario.
var udpEchoMetrics = []report.Metric{
	{Key: loadgen.MetricMsgsPerSec, Label: "datagrams/s", Ratio: true},
	{Key: loadgen.MetricCPUPerMsg, Label: "CPU/datagram", Unit: "µs", LowerIsBetter: true, Ratio: true},
	{Key: loadgen.MetricP50Micros, Label: "p50", Unit: "µs", LowerIsBetter: true, Brief: true},
	{Key: loadgen.MetricP99Micros, Label: "p99", Unit: "µs", LowerIsBetter: true, Ratio: true},
	{Key: loadgen.MetricP999Micros, Label: "p999", Unit: "µs", LowerIsBetter: true, Brief: true},
	{Key: loadgen.MetricLostDatagrams, Label: "lost", LowerIsBetter: true, Brief: true},
	{Key: loadgen.MetricServerCores, Label: "srv cores", Brief: true},
}

// udpChurnMetrics are the columns of the UDP peer-churn scenario with
// peers idle peers.
func udpChurnMetrics(peers int) []report.Metric {
	n := strconv.Itoa(peers)
	return []report.Metric{
		{Key: loadgen.MetricPeersPerSec, Label: "peers/s", Ratio: true},
		{Key: loadgen.MetricCPUPerPeer, Label: "CPU/peer", Unit: "µs", LowerIsBetter: true, Ratio: true},
		{Key: loadgen.MetricRSSPerPeerPfx + n, Label: "RSS/idle peer @" + n, Unit: "B", LowerIsBetter: true},
		{Key: loadgen.MetricPeerVsTCP, Label: "×own TCP conn", LowerIsBetter: true},
		{Key: loadgen.MetricRSSPeersPfx + n, Label: "RSS @" + n, Unit: "MiB", LowerIsBetter: true, Brief: true},
		{Key: loadgen.MetricLivePeers, Label: "live peers", Brief: true},
		{Key: loadgen.MetricExpired, Label: "timed out", Brief: true},
		{Key: loadgen.MetricExpireAllSecs, Label: "all gone after", Unit: "s", LowerIsBetter: true, Brief: true},
		{Key: loadgen.MetricPeerLost, Label: "lost", LowerIsBetter: true, Brief: true},
	}
}

// slowMetrics are the columns of a slow-reader scenario.
var slowMetrics = []report.Metric{
	{Key: loadgen.MetricIdleCorePct, Label: "CPU, % of a core", Unit: "%", LowerIsBetter: true},
	{Key: loadgen.MetricIdleCPUPerPeer, Label: "CPU per peer", Unit: "µs/s", LowerIsBetter: true},
	{Key: loadgen.MetricRSSPerSlowPeer, Label: "RSS/slow peer", Unit: "B", LowerIsBetter: true, Ratio: true},
	{Key: loadgen.MetricRSSSlowVsStdlib, Label: "×stdlib", LowerIsBetter: true},
	{Key: loadgen.MetricKernelPerPeer, Label: "kernel/peer", Unit: "KB", Brief: true},
	{Key: loadgen.MetricSettleSecs, Label: "settled after", Unit: "s", LowerIsBetter: true, Brief: true},
	{Key: loadgen.MetricWritesRefused, Label: "writes refused", Brief: true},
	{Key: loadgen.MetricSlowPeers, Label: "peers fed", Brief: true},
}

// spoofMetrics are the columns of the spoofed-sources scenario.
var spoofMetrics = []report.Metric{
	{Key: loadgen.MetricSpoofRate, Label: "sources/s", Ratio: true},
	{Key: loadgen.MetricSpoofCPU, Label: "CPU/datagram", Unit: "µs", LowerIsBetter: true, Ratio: true},
	{Key: loadgen.MetricSpoofRSSPerSrc, Label: "RSS/source", Unit: "B", LowerIsBetter: true, Ratio: true},
	{Key: loadgen.MetricSpoofHeapMB, Label: "live heap Δ", Unit: "MiB", LowerIsBetter: true},
	{Key: loadgen.MetricSpoofPeakOpen, Label: "peak open sockets", LowerIsBetter: true},
	{Key: loadgen.MetricSpoofPeakPeers, Label: "peak peers", Brief: true},
	{Key: loadgen.MetricSpoofOpenEnd, Label: "open at end", Brief: true},
	{Key: loadgen.MetricSpoofLimitClose, Label: "limit-closed", Brief: true},
	{Key: loadgen.MetricSpoofSources, Label: "sources", Brief: true},
	{Key: loadgen.MetricSpoofDrops, Label: "kernel drops", LowerIsBetter: true, Brief: true},
}

// backpressureMetrics are the columns of the backpressure scenario.
var backpressureMetrics = []report.Metric{
	{Key: loadgen.MetricBPPeakRSS, Label: "peak RSS", Unit: "MiB", LowerIsBetter: true},
	{Key: loadgen.MetricBPPeakVsStdlib, Label: "×stdlib", LowerIsBetter: true},
	{Key: loadgen.MetricBPPeakDelta, Label: "peak − idle", Unit: "MiB", LowerIsBetter: true, Brief: true},
	{Key: loadgen.MetricBPThroughput, Label: "throughput", Unit: "MB/s"},
	{Key: loadgen.MetricBPConsumerRate, Label: "consumer", Unit: "MB/s", Brief: true},
	{Key: loadgen.MetricBPSentRate, Label: "sent", Unit: "MB/s", Brief: true},
	{Key: loadgen.MetricBPCloses, Label: "closes", LowerIsBetter: true},
	{Key: loadgen.MetricServerCores, Label: "srv cores", Brief: true},
}

// backpressureServers are the servers of the backpressure scenario:
// stdlib (the baseline there) and the sockactor servers; raw gnet reads
// whatever arrives and has no way to hold a peer back, and naive reads
// into fresh buffers on its own goroutine: neither has a slow consumer.
func backpressureServers(all []string) []string {
	return slices.DeleteFunc(slices.Clone(all), func(s string) bool { return s != stdlibServer && !isSockactor(s) })
}

// backpressureCases are the fast-producer, slow-consumer cases: one per
// connection count, every one at the same total consumer rate.
func backpressureCases(c config) ([]caseSpec, []string) {
	srvs := backpressureServers(c.servers)
	switch {
	case c.target != "":
		return nil, []string{"backpressure skipped: it starts its own servers in slow-consumer mode (not an external -target)"}
	case len(srvs) == 0:
		return nil, []string{"backpressure skipped: it compares stdlib and the sockactor servers, and none is in this run"}
	}
	rate := float64(servers.ConsumeChunk) / c.bpPeriod.Seconds() / 1e6
	inbound := "the runtime's default MaxInbound (4 MiB)"
	if c.bpMaxInbound > 0 {
		inbound = fmt.Sprintf("MaxInbound %d B", c.bpMaxInbound)
	}
	var cases []caseSpec
	for _, n := range c.bpConns {
		period := c.bpPeriod * time.Duration(n)
		args := []string{"-mode", servers.ModeSlowConsumer, "-consume-period", period.String()}
		if c.bpMaxInbound > 0 {
			args = append(args, "-max-inbound", strconv.Itoa(c.bpMaxInbound))
		}
		cases = append(cases, caseSpec{
			scenario: report.Scenario{
				ID:   fmt.Sprintf("backpressure/c%d", n),
				Kind: kindBackpressure,
				Title: fmt.Sprintf("back-pressure: %d conns write as fast as TCP lets them into a server that takes 64 KiB per %v on each (%.1f MB/s in all); %v warm-up, %v measured",
					n, period, rate, c.bpWarmup, c.bpWindow),
				Params:  map[string]int{"conns": n, "period_us": int(period / time.Microsecond), "max_inbound": c.bpMaxInbound},
				Metrics: backpressureMetrics,
				Notes: []string{
					"stdlib: blocking reads of 64 KiB, each followed by a sleep; sockactor-pooled: a pooled push handler that sleeps after each read; sockactor-inline: a pull-mode listener whose Inline handler Recvs 64 KiB once per period (c.After: an Inline handler must not block); each paced by the clock to the consumer's rate",
					"sockactor servers run with " + inbound + ": a socket whose waiting bytes reach it stops being read until they are down to a quarter, and TCP's flow control holds the producer",
					"peak RSS = the server's VmHWM at the end of the window (/proc/PID/status); ×stdlib paired round by round; throughput = bytes the server's application took in the window (the side channel's consumed command), which must be the consumer's rate; closes = connections the server ended or lost, or whose producer saw an error, before the run ended them: must be 0",
				},
			},
			servers:    srvs,
			notify:     true,
			serverArgs: args,
			loadgen: []string{"-scenario", "backpressure", "-conns", strconv.Itoa(n), "-consume-period", period.String(),
				"-warmup", c.bpWarmup.String(), "-duration", c.bpWindow.String(), "-sources", strconv.Itoa(c.sources)},
			timeout: c.bpWarmup + c.bpWindow + 60*time.Second,
		})
	}
	return cases, nil
}

// hostileServers are the servers of the slow-reader scenario: the
// baseline, stdlib and the sockactor servers (naive has no flood writer).
func hostileServers(all []string) []string {
	return slices.DeleteFunc(slices.Clone(all), func(s string) bool {
		return s != baselineServer && s != stdlibServer && !isSockactor(s)
	})
}

// echoMetrics are the columns of an echo scenario.
var echoMetrics = []report.Metric{
	{Key: loadgen.MetricMsgsPerSec, Label: "msgs/s", Ratio: true},
	{Key: loadgen.MetricCPUPerMsg, Label: "CPU/msg", Unit: "µs", LowerIsBetter: true, Ratio: true},
	{Key: loadgen.MetricP50Micros, Label: "p50", Unit: "µs", LowerIsBetter: true, Brief: true},
	{Key: loadgen.MetricP99Micros, Label: "p99", Unit: "µs", LowerIsBetter: true, Ratio: true},
	{Key: loadgen.MetricP999Micros, Label: "p999", Unit: "µs", LowerIsBetter: true, Brief: true},
	{Key: loadgen.MetricMBPerSec, Label: "MB/s", Brief: true},
	{Key: loadgen.MetricServerCores, Label: "srv cores", Brief: true},
}

// churnMetrics are the columns of the churn and fan-out scenarios.
func churnMetrics(ratio bool) []report.Metric {
	return []report.Metric{
		{Key: loadgen.MetricPacedRate, Label: "paced/s", Brief: true},
		{Key: loadgen.MetricPacedP50, Label: "close→sub p50", Unit: "µs", LowerIsBetter: true, Brief: true, Ratio: ratio},
		{Key: loadgen.MetricPacedP99, Label: "close→sub p99", Unit: "µs", LowerIsBetter: true, Ratio: ratio},
		{Key: loadgen.MetricPacedEmitP99, Label: "close→emit p99", Unit: "µs", LowerIsBetter: true, Brief: true},
		{Key: loadgen.MetricMaxRate, Label: "max conn+close/s", Ratio: ratio},
		{Key: loadgen.MetricMaxP99, Label: "p99 at max", Unit: "µs", LowerIsBetter: true, Brief: true},
		{Key: loadgen.MetricCPUPerClose, Label: "CPU/conn", Unit: "µs", LowerIsBetter: true, Ratio: ratio},
		{Key: loadgen.MetricLost, Label: "lost", LowerIsBetter: true, Brief: true},
	}
}

// buildCases turns the configuration into the ordered list of scenarios.
// It also returns notes on what was left out and why.
func buildCases(c config) ([]caseSpec, []string) {
	var cases []caseSpec
	var notes []string
	external := c.target != ""
	sockactorServers := slices.DeleteFunc(slices.Clone(c.servers), func(s string) bool { return !isSockactor(s) })
	d := func(x time.Duration) string { return x.String() }
	itoa := strconv.Itoa

	if slices.Contains(c.kinds, kindEcho) {
		for _, e := range c.echo {
			mode := "request/response"
			if e.window > 1 {
				mode = fmt.Sprintf("pipelined, window %d", e.window)
			}
			cases = append(cases, caseSpec{
				scenario: report.Scenario{
					ID:      fmt.Sprintf("echo/c%d/p%d/w%d", e.conns, e.payload, e.window),
					Kind:    kindEcho,
					Title:   fmt.Sprintf("echo: %d conns, %d B, %s, %v measured", e.conns, e.payload, mode, c.duration),
					Params:  map[string]int{"conns": e.conns, "payload": e.payload, "window": e.window},
					Metrics: echoMetrics,
				},
				servers: c.servers,
				loadgen: []string{"-scenario", "echo", "-conns", itoa(e.conns), "-payload", itoa(e.payload),
					"-window", itoa(e.window), "-warmup", d(c.warmup), "-duration", d(c.duration),
					"-sources", itoa(c.sources)},
				timeout: c.warmup + c.duration + time.Duration(e.conns)*2*time.Millisecond + 30*time.Second,
			})
		}
	}

	transport := transportServers(c.servers)
	skipTransport := func(kind string) bool {
		switch {
		case external:
			notes = append(notes, kind+" skipped: it starts its own gnet and sockactor servers (not an external -target)")
		case len(transport) == 0:
			notes = append(notes, kind+" skipped: it compares gnet and the sockactor servers, and none is in this run")
		default:
			return false
		}
		return true
	}
	if slices.Contains(c.kinds, kindUDP) && !skipTransport("UDP echo") {
		for _, n := range c.udpPeers {
			cases = append(cases, caseSpec{
				scenario: report.Scenario{
					ID:      fmt.Sprintf("udp/c%d/p%d", n, c.udpPayload),
					Kind:    kindUDP,
					Title:   fmt.Sprintf("UDP echo: %d peers (client sockets) × %d B datagrams, request/response, %v measured", n, c.udpPayload, c.duration),
					Params:  map[string]int{"peers": n, "payload": c.udpPayload},
					Metrics: udpEchoMetrics,
					Notes: []string{"a datagram with no echo within 200 ms is counted lost and the client sends the next; " +
						"raw gnet binds one SO_REUSEPORT socket per event loop (one loop per CPU, as the runtime's default) on one reserved port"},
				},
				servers: transport,
				network: servers.NetUDP,
				loadgen: []string{"-scenario", "udp", "-conns", itoa(n), "-payload", itoa(c.udpPayload),
					"-warmup", d(c.warmup), "-duration", d(c.duration), "-sources", itoa(c.sources)},
				timeout: c.warmup + c.duration + 30*time.Second,
			})
		}
	}
	if slices.Contains(c.kinds, kindUnix) && !skipTransport("unix echo") {
		for _, n := range c.unixConns {
			cases = append(cases, caseSpec{
				scenario: report.Scenario{
					ID:      fmt.Sprintf("unix/c%d/p64/w1", n),
					Kind:    kindUnix,
					Title:   fmt.Sprintf("unix-socket echo: %d conns, 64 B, request/response, %v measured", n, c.duration),
					Params:  map[string]int{"conns": n, "payload": 64, "window": 1},
					Metrics: echoMetrics,
				},
				servers: transport,
				network: servers.NetUnix,
				loadgen: []string{"-scenario", "echo", "-conns", itoa(n), "-payload", "64", "-window", "1",
					"-warmup", d(c.warmup), "-duration", d(c.duration)},
				timeout: c.warmup + c.duration + time.Duration(n)*2*time.Millisecond + 30*time.Second,
			})
		}
	}

	if slices.Contains(c.kinds, kindIdle) {
		idleServers := c.servers
		if c.idleTargetsOnly && !external {
			idleServers = transportServers(c.servers)
			if len(idleServers) < len(c.servers) {
				notes = append(notes, "idle memory ran on gnet and the sockactor servers only, the servers of its targets (-scenarios idle for every server)")
			}
		}
		if external && c.targetPID == 0 {
			notes = append(notes, "idle memory skipped: it needs -target-pid to read the server's RSS")
		} else {
			var ms []report.Metric
			var stepsArg []string
			for _, n := range c.idleSteps {
				ms = append(ms, report.Metric{Key: loadgen.MetricRSSPerConnPfx + itoa(n),
					Label: fmt.Sprintf("RSS/conn @%d", n), Unit: "B", LowerIsBetter: true, Ratio: true})
				stepsArg = append(stepsArg, itoa(n))
			}
			for _, n := range c.idleSteps {
				ms = append(ms, report.Metric{Key: loadgen.MetricRSSTotalPrefix + itoa(n),
					Label: fmt.Sprintf("RSS @%d", n), Unit: "MiB", LowerIsBetter: true, Brief: true})
			}
			ms = append(ms, report.Metric{Key: loadgen.MetricRSSBase, Label: "RSS base", Unit: "MiB", Brief: true})
			top := c.idleSteps[len(c.idleSteps)-1]
			cases = append(cases, caseSpec{
				scenario: report.Scenario{
					ID:    "idle/" + strings.Join(stepsArg, ","),
					Kind:  kindIdle,
					Title: fmt.Sprintf("idle memory: server RSS delta per connection at %s idle connections (one 8 B echo each)", strings.Join(stepsArg, ", ")),
					Params: map[string]int{
						"max_conns": top,
					},
					Metrics: ms,
					Notes:   []string{fmt.Sprintf("RSS from /proc/PID/status VmRSS after a %v settle; no forced GC", c.settle)},
				},
				servers: idleServers,
				loadgen: []string{"-scenario", "idle", "-steps", strings.Join(stepsArg, ","),
					"-settle", d(c.settle), "-sources", itoa(c.sources)},
				timeout: time.Duration(top)*5*time.Millisecond + 60*time.Second,
			})
		}
	}

	if slices.Contains(c.kinds, kindUDPChurn) && !skipTransport("UDP peer churn") {
		n := c.churnPeers
		cases = append(cases, caseSpec{
			scenario: report.Scenario{
				ID:   fmt.Sprintf("udpchurn/%d", n),
				Kind: kindUDPChurn,
				Title: fmt.Sprintf("UDP peer churn: %d client sockets send one 8 B datagram each (32 at once) and go silent; server peer idle timeout %v; RSS per live idle peer",
					n, c.peerIdle),
				Params:  map[string]int{"peers": n, "peer_idle_ms": int(c.peerIdle / time.Millisecond)},
				Metrics: udpChurnMetrics(n),
				Notes: []string{
					fmt.Sprintf("RSS/idle peer = (server RSS with %d idle peers − RSS before the first) / %d, read %v after the last peer's echo; no forced GC", n, n, c.settle),
					"×own TCP conn = that figure ÷ the same server's idle RSS per TCP connection in the idle scenario of this run, paired round by round",
					"raw gnet keeps no per-peer state: its figure is the floor, and it has no peers to time out",
					"timed out / all gone after: FD_CLOSE counts from the server's runtime over the side channel, polled every 50 ms",
				},
			},
			servers:    transport,
			network:    servers.NetUDP,
			notify:     true,
			serverArgs: []string{"-peer-idle", d(c.peerIdle)},
			loadgen: []string{"-scenario", "udpchurn", "-peers", itoa(n), "-peer-idle", d(c.peerIdle), "-payload", "8",
				"-settle", d(c.settle), "-sources", itoa(c.sources), "-dial-parallel", "32"},
			timeout: time.Duration(n)*2*time.Millisecond + c.peerIdle + 60*time.Second,
		})
	}

	churnArgs := func() []string {
		a := []string{"-scenario", "churn", "-rate", strconv.FormatFloat(c.churnRate, 'f', -1, 64),
			"-paced", d(c.churnPaced), "-unpaced", d(c.churnUnpaced), "-workers", itoa(c.churnWorkers),
			"-sources", itoa(c.sources)}
		if c.churnRST {
			a = append(a, "-rst")
		}
		return a
	}
	churnTimeout := c.churnPaced + c.churnUnpaced + 40*time.Second
	closeKind := "FIN"
	if c.churnRST {
		closeKind = "RST"
	}

	if slices.Contains(c.kinds, kindChurn) {
		sc := caseSpec{
			scenario: report.Scenario{
				ID:   "churn",
				Kind: kindChurn,
				Title: fmt.Sprintf("connection churn: connect+close (%s), %.0f/s paced for %v, then unpaced for %v; latency = peer close → server subscriber",
					closeKind, c.churnRate, c.churnPaced, c.churnUnpaced),
				Params:  map[string]int{"rate": int(c.churnRate), "subscribers": 1},
				Metrics: churnMetrics(true),
			},
			servers: c.servers,
			loadgen: churnArgs(),
			timeout: churnTimeout,
		}
		if external {
			sc.scenario.Notes = append(sc.scenario.Notes, "external server: rates only (no side channel)")
		} else {
			sc.notify = true
			sc.serverArgs = []string{"-subscribers", "1"}
			sc.scenario.Notes = append(sc.scenario.Notes,
				"sockactor servers: a protoactor actor subscribed runtime-wide to FD_CLOSE records each event; "+
					"gnet/stdlib/naive have no event system and are emulated by their close callback (gnet OnClose, "+
					"the stdlib read error, the naive actor's closed message), recorded the same way",
				"close→emit is the runtime's own time stamp on the FD_CLOSE event minus the peer's close: "+
					"the part of close→sub spent before the runtime noticed the close")
		}
		cases = append(cases, sc)
		// The half-close cost: the same churn, each connection a request
		// answered on a half-open socket (unpaced only: rate and CPU).
		hc := caseSpec{
			scenario: report.Scenario{
				ID:   "churn/halfclose",
				Kind: kindChurn,
				Title: fmt.Sprintf("connection churn with half-close: connect, 8 B, FIN, read the echo to EOF, close; unpaced for %v",
					c.churnUnpaced),
				Params: map[string]int{"rate": 0},
				Metrics: []report.Metric{
					{Key: loadgen.MetricMaxRate, Label: "max requests/s", Ratio: true},
					{Key: loadgen.MetricCPUPerClose, Label: "CPU/conn", Unit: "µs", LowerIsBetter: true, Ratio: true},
				},
				Notes: []string{"each connection: 8 B request, shutdown(SHUT_WR), the echo read to the server's FIN; " +
					"the sockactor echo answers on the half-open socket and closes on FD_CLOSE peer-close"},
			},
			servers: c.servers,
			loadgen: []string{"-scenario", "churn", "-paced", "0s", "-unpaced", d(c.churnUnpaced),
				"-workers", itoa(c.churnWorkers), "-sources", itoa(c.sources), "-half-close"},
			timeout: c.churnUnpaced + 40*time.Second,
		}
		cases = append(cases, hc)
		// FD_CLOSE latency with Go's own GOMAXPROCS: no environment
		// variable, so the runtime's Start applies SuggestedGOMAXPROCS.
		if len(sockactorServers) > 0 && !external {
			dp := caseSpec{
				scenario: report.Scenario{
					ID:   "churn/defaultprocs",
					Kind: kindChurn,
					Title: fmt.Sprintf("FD_CLOSE latency at Go's default GOMAXPROCS (no GOMAXPROCS in the servers' environment): connect+close, %.0f/s paced for %v",
						c.churnRate, c.churnPaced),
					Params: map[string]int{"rate": int(c.churnRate), "subscribers": 1},
					Metrics: []report.Metric{
						{Key: loadgen.MetricPacedP50, Label: "close→sub p50", Unit: "µs", LowerIsBetter: true},
						{Key: loadgen.MetricPacedP99, Label: "close→sub p99", Unit: "µs", LowerIsBetter: true},
						{Key: loadgen.MetricPacedEmitP99, Label: "close→emit p99", Unit: "µs", LowerIsBetter: true},
						{Key: loadgen.MetricLost, Label: "lost", LowerIsBetter: true},
					},
					Notes: []string{"the runtime raises GOMAXPROCS to runtime.SuggestedGOMAXPROCS itself at Start when the environment leaves it to Go (Options.KeepGOMAXPROCS opts out)"},
				},
				servers:        sockactorServers,
				loadgen:        []string{"-scenario", "churn", "-rate", strconv.FormatFloat(c.churnRate, 'f', -1, 64), "-paced", d(c.churnPaced), "-unpaced", "0s", "-workers", itoa(c.churnWorkers), "-sources", itoa(c.sources)},
				timeout:        churnTimeout,
				notify:         true,
				serverArgs:     []string{"-subscribers", "1"},
				goDefaultProcs: true,
			}
			cases = append(cases, dp)
		}
	}

	if slices.Contains(c.kinds, kindBan) {
		switch {
		case external:
			notes = append(notes, "receive ban skipped: it needs a sockactor server")
		case len(sockactorServers) == 0:
			notes = append(notes, "receive ban skipped: no sockactor server in this run")
		default:
			cases = append(cases, caseSpec{
				scenario: report.Scenario{
					ID:   "ban",
					Kind: kindBan,
					Title: fmt.Sprintf("receive ban under fire: %d conns streaming %d B writes, RecvDisconnect on all, policy discard",
						c.banConns, c.banChunk),
					Params: map[string]int{"conns": c.banConns, "chunk": c.banChunk},
					Metrics: []report.Metric{
						{Key: loadgen.MetricBanRTTP50, Label: "RecvDisconnect p50", Unit: "µs", LowerIsBetter: true},
						{Key: loadgen.MetricBanRTTP99, Label: "p99", Unit: "µs", LowerIsBetter: true},
						{Key: loadgen.MetricBanRTTMax, Label: "max", Unit: "µs", LowerIsBetter: true, Brief: true},
						{Key: loadgen.MetricBanned, Label: "banned", Brief: true},
						{Key: loadgen.MetricAfterBan, Label: "bytes after ban", LowerIsBetter: true},
						{Key: loadgen.MetricDuringBan, Label: "bytes while in flight", Brief: true},
						{Key: loadgen.MetricSentAfter, Label: "sent after ban", Unit: "MB", Brief: true},
						{Key: loadgen.MetricBannedBytes, Label: "runtime banned_bytes", Brief: true},
					},
					Notes: []string{"bytes after ban = bytes handed to the handler after its RecvDisconnect reply arrived (must be 0); " +
						"bytes while in flight = between request and reply (allowed)"},
				},
				servers:    sockactorServers,
				serverArgs: []string{"-ban-policy", "discard"},
				notify:     true,
				loadgen: []string{"-scenario", "ban", "-conns", itoa(c.banConns), "-payload", itoa(c.banChunk),
					"-warmup", d(c.warmup + 100*time.Millisecond), "-duration", d(c.banAfter), "-sources", itoa(c.sources)},
				timeout: c.banAfter + 90*time.Second,
			})
		}
	}

	if slices.Contains(c.kinds, kindFanout) {
		switch {
		case external:
			notes = append(notes, "event fan-out skipped: it needs a sockactor server")
		case len(sockactorServers) == 0:
			notes = append(notes, "event fan-out skipped: no sockactor server in this run")
		default:
			for _, n := range c.fanout {
				cases = append(cases, caseSpec{
					scenario: report.Scenario{
						ID:   fmt.Sprintf("fanout/%d", n),
						Kind: kindFanout,
						Title: fmt.Sprintf("FD_CLOSE fan-out to %d subscribers: %.0f/s paced, then unpaced; latency = peer close → last subscriber",
							n, c.churnRate),
						Params:  map[string]int{"rate": int(c.churnRate), "subscribers": n},
						Metrics: churnMetrics(false),
					},
					servers:    sockactorServers,
					serverArgs: []string{"-subscribers", itoa(n)},
					notify:     true,
					loadgen:    churnArgs(),
					timeout:    churnTimeout,
				})
			}
		}
	}
	if slices.Contains(c.kinds, kindRemote) {
		switch {
		case external:
			notes = append(notes, "across nodes skipped: it needs a sockactor server")
		case len(sockactorServers) == 0:
			notes = append(notes, "across nodes skipped: no sockactor server in this run")
		default:
			cases = append(cases, caseSpec{
				scenario: report.Scenario{
					ID:   "remote",
					Kind: kindRemote,
					Title: fmt.Sprintf("across nodes: connect+close (FIN) %.0f/s for %v, latency = peer close → FD_CLOSE at a subscriber on another node (the load generator's); then Send requests over remote, %d requesters, %v",
						c.churnRate, c.churnPaced, 16, c.duration),
					Params: map[string]int{"rate": int(c.churnRate), "senders": 16},
					Metrics: []report.Metric{
						{Key: loadgen.MetricRemoteRate, Label: "closes/s", Brief: true},
						{Key: loadgen.MetricRemoteCloseP50, Label: "close→remote sub p50", Unit: "µs", LowerIsBetter: true},
						{Key: loadgen.MetricRemoteCloseP99, Label: "close→remote sub p99", Unit: "µs", LowerIsBetter: true},
						{Key: loadgen.MetricRemoteLost, Label: "lost", LowerIsBetter: true},
						{Key: loadgen.MetricRemoteSends, Label: "remote Send req/s"},
						{Key: loadgen.MetricRemoteSendP50, Label: "Send p50", Unit: "µs", LowerIsBetter: true, Brief: true},
						{Key: loadgen.MetricRemoteSendP99, Label: "Send p99", Unit: "µs", LowerIsBetter: true, Brief: true},
					},
					Notes: []string{"the local figure beside it: close→sub in the churn scenario of the same run (a subscriber in the server's process)",
						"the server is a protoactor remote node (Options.Remote); the load generator is another node (runtime.StartRemote), subscribed runtime-wide through the server's node actor, so both ends of each latency are on its clock"},
				},
				servers:    sockactorServers,
				serverArgs: []string{"-remote", "127.0.0.1:0"},
				loadgen: []string{"-scenario", "remote", "-rate", strconv.FormatFloat(c.churnRate, 'f', -1, 64),
					"-paced", d(c.churnPaced), "-conns", "16", "-senders", "16", "-payload", "64", "-duration", d(c.duration)},
				timeout: c.churnPaced + c.duration + 60*time.Second,
			})
		}
	}
	if slices.Contains(c.kinds, kindHostile) {
		hc, hn := hostileCases(c)
		cases, notes = append(cases, hc...), append(notes, hn...)
	}
	if slices.Contains(c.kinds, kindBackpressure) {
		bc, bn := backpressureCases(c)
		cases, notes = append(cases, bc...), append(notes, bn...)
	}
	if slices.Contains(c.kinds, kindRESP) {
		rc, rn := respCases(c)
		cases, notes = append(cases, rc...), append(notes, rn...)
	}
	if slices.Contains(c.kinds, kindHTTP) {
		hc, hn := httpCases(c)
		cases, notes = append(cases, hc...), append(notes, hn...)
	}
	if slices.Contains(c.kinds, kindTLS) {
		tc, tn := tlsCases(c)
		cases, notes = append(cases, tc...), append(notes, tn...)
	}
	return cases, notes
}

// hostileCases are the slow-reader and spoofed-source scenarios.
func hostileCases(c config) ([]caseSpec, []string) {
	if c.target != "" {
		return nil, []string{"hostile skipped: it starts its own servers in flood-writer mode (not an external -target)"}
	}
	var cases []caseSpec
	var notes []string
	itoa := strconv.Itoa
	slow := hostileServers(c.servers)
	limit := noFileLimit()
	for _, n := range c.slowPeers {
		if len(slow) == 0 {
			notes = append(notes, "slow readers skipped: they compare gnet, stdlib and the sockactor servers, and none is in this run")
			break
		}
		// The load generator and the server each hold a descriptor per
		// peer, plus their own.
		if limit != 0 && uint64(n)+256 > limit {
			notes = append(notes, fmt.Sprintf("slow readers at %d peers skipped: the descriptor limit is %d", n, limit))
			continue
		}
		cases = append(cases, caseSpec{
			scenario: report.Scenario{
				ID:   fmt.Sprintf("hostile/slow/%d", n),
				Kind: kindHostileSlow,
				Title: fmt.Sprintf("hostile: %d peers that never read; the server writes up to %d KiB to each in %d KiB writes; server CPU over a %v quiet window once every buffer is full",
					n, c.floodBytes>>10, servers.FloodChunk>>10, c.quietWindow),
				Params:  map[string]int{"peers": n, "flood_bytes": c.floodBytes, "high_water": servers.FloodHighWater},
				Metrics: slowMetrics,
				Notes: []string{
					fmt.Sprintf("flood writers: gnet c.Write in OnOpen (gnet buffers without bound: the flood total is the bound); stdlib blocking Write; sockactor writes on FD_WRITE until a write is refused (WSAEWOULDBLOCK), SendHighWater %d KiB, and waits for the next FD_WRITE", servers.FloodHighWater>>10),
					"the peers set SO_RCVBUF 16 KiB and TCP_MAXSEG 1400 before connecting, so the kernel holds ~150–220 KB per peer, not 4 MB: thousands stay inside the kernel's TCP memory limits",
					"the window starts once every peer has bytes waiting and the kernel queues (server tx_queue + peers' rx_queue, /proc/net/tcp) have not moved for 500 ms; CPU = utime+stime of the server over the window (10 ms ticks)",
					"RSS/slow peer = (server RSS after the window − before the first peer) / peers: the unsent bytes the server holds included (gnet all of the flood the kernel did not take, sockactor up to its high-water mark, stdlib none); no forced GC",
				},
			},
			servers: slow,
			notify:  true,
			serverArgs: []string{"-mode", servers.ModeFloodWriter, "-flood-bytes", itoa(c.floodBytes),
				"-send-high-water", itoa(servers.FloodHighWater)},
			loadgen: []string{"-scenario", "slow", "-conns", itoa(n), "-duration", c.quietWindow.String(),
				"-sources", itoa(c.sources), "-dial-parallel", "128"},
			timeout: c.quietWindow + time.Duration(n)*7*time.Millisecond + 90*time.Second,
		})
	}
	spoof := transportServers(c.servers)
	if len(spoof) == 0 {
		return cases, append(notes, "spoofed UDP sources skipped: they compare gnet and the sockactor servers, and none is in this run")
	}
	cases = append(cases, caseSpec{
		scenario: report.Scenario{
			ID:   fmt.Sprintf("hostile/spoof/%d", c.spoofSources),
			Kind: kindHostileSpoof,
			Title: fmt.Sprintf("hostile: %d UDP datagrams, each from a source address of its own (127.1.x.y), sockactor MaxPeers %d; as fast as the server takes them",
				c.spoofSources, spoofMaxPeers),
			Params:  map[string]int{"sources": c.spoofSources, "max_peers": spoofMaxPeers},
			Metrics: spoofMetrics,
			Notes: []string{
				"each datagram from a fresh socket bound to its source address (socket, bind, sendto, close); the spray waits while a server socket's receive queue holds over 64 KiB, so the kernel drops none",
				"gnet echoes every datagram (to a closed port); a sockactor listener makes a peer socket per new address, the first 64 live, the rest closed at once by the peer limit (FD_CLOSE 10055)",
				"CPU and RSS per datagram that reached the server, from the spray's start to its receive queues empty; live heap Δ = heap after a forced GC at the end − before (the side channel's heap command); peak open sockets = the runtime's Stats().Sockets.Open, sampled every 50 ms",
			},
		},
		servers:    spoof,
		network:    servers.NetUDP,
		notify:     true,
		serverArgs: []string{"-max-peers", itoa(spoofMaxPeers)},
		loadgen: []string{"-scenario", "spoof", "-spoof-sources", itoa(c.spoofSources), "-spoof-window", "30s",
			"-payload", "32"},
		timeout: 30*time.Second + 90*time.Second,
	})
	return cases, notes
}
