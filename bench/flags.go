package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/sockactor/sockactor/bench/internal/loadgen"
	"github.com/sockactor/sockactor/bench/servers"
	sockrt "github.com/sockactor/sockactor/runtime"
)

// parseConfig parses the harness flags.
func parseConfig(args []string, stderr io.Writer) (config, error) {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	suite := fs.String("suite", "default", "default (the scenarios of the targets, about a minute and a half on 2 cores) or full (everything, about 20 minutes)")
	srvs := fs.String("servers", "", "comma-separated servers to compare (default: all built in: "+strings.Join(servers.Names(), ",")+"; also by name: "+strings.Join(optionalServers(), ",")+")")
	kinds := fs.String("scenarios", "", "comma-separated scenarios: "+strings.Join(allKinds, ",")+" (default: the suite's: "+strings.Join(defaultKinds, ",")+"; -suite full runs them all)")
	rounds := fs.Int("rounds", 0, "interleaved rounds per scenario (default 3; fewer than 3 is no valid comparison)")
	conns := fs.String("conns", "", "echo connection counts, e.g. 1,64,1000,10000 (replaces the suite's echo cases)")
	payloads := fs.String("payloads", "", "echo payload sizes in bytes, e.g. 64,4096")
	windows := fs.String("windows", "", "echo outstanding messages per connection, e.g. 1,16")
	warmup := fs.Duration("warmup", 0, "echo warm-up before each measured window")
	duration := fs.Duration("duration", 0, "echo measured window per run")
	idle := fs.String("idle-conns", "", "cumulative idle connection counts, e.g. 1000,10000,18000")
	churnRate := fs.Float64("churn-rate", 0, "paced connect+close rate per second (default 1000)")
	churnPaced := fs.Duration("churn-paced", 0, "length of the paced churn phase")
	churnUnpaced := fs.Duration("churn-unpaced", 0, "length of the unpaced churn phase")
	churnRST := fs.Bool("churn-rst", false, "churn closes with a reset instead of FIN")
	fanout := fs.String("fanout", "", "FD_CLOSE subscriber counts, e.g. 1,10,100")
	banConns := fs.Int("ban-conns", 0, "streaming connections in the receive-ban scenario")
	udpPeers := fs.String("udp-peers", "", "UDP echo client sockets (peers), e.g. 64,1000")
	udpPayload := fs.Int("udp-payload", 0, "UDP echo datagram size in bytes (at least 8; default 64)")
	unixConns := fs.String("unix-conns", "", "unix-socket echo connection counts, e.g. 64,1000")
	churnPeers := fs.Int("udp-churn-peers", 0, "idle UDP peers created in the peer-churn scenario (default 10000)")
	peerIdle := fs.Duration("peer-idle", 0, "the servers' UDP peer idle timeout in the peer-churn scenario (default 1s)")
	slowPeers := fs.String("slow-peers", "", "hostile: peers that never read, e.g. 500,5000 (default; a count over the descriptor limit is left out)")
	quietWindow := fs.Duration("quiet-window", 0, "hostile: the quiet window whose server CPU the slow readers cost (default 5s)")
	floodBytes := fs.Int("flood-bytes", 0, "hostile: bytes the flood-writer servers write to each slow peer (default 512 KiB)")
	spoofSources := fs.Int("spoof-sources", 0, "hostile: UDP datagrams, each from a source address of its own (default 50000)")
	bpConns := fs.String("bp-conns", "", "backpressure: producer connection counts, e.g. 1,16 (default)")
	bpPeriod := fs.Duration("bp-period", 0, "backpressure: the consumer's time per 64 KiB, all connections together (default 2ms: 32.8 MB/s)")
	bpWindow := fs.Duration("bp-window", 0, "backpressure: the measured window, after a 2 s warm-up (default 4s)")
	bpMaxInbound := fs.Int("bp-max-inbound", 0, "backpressure: the sockactor servers' Options.MaxInbound in bytes (default: the runtime's, 256 KiB)")
	fleetTTL := fs.Duration("fleet-ttl", 0, "fleet: the gateways' lease TTL, whole seconds (default 1s)")
	fleetCloses := fs.Int("fleet-closes", 0, "fleet: FD_CLOSE latencies measured per round, one close at a time (default 500)")
	target := fs.String("target", "", "measure only this external echo server (host:port on loopback)")
	targetPID := fs.Int("target-pid", 0, "process id of the -target server, for CPU per message and RSS")
	serverProcs := fs.Int("server-procs", sockrt.SuggestedGOMAXPROCS(0), "GOMAXPROCS of every server child, the same for all (0: Go's default); the default is runtime.SuggestedGOMAXPROCS, see its doc")
	out := fs.String("out", "", "write latest.json, latest.md and latest.svg to this directory (default: "+defaultResultsDir()+", outside the repository)")
	noWrite := fs.Bool("no-write", false, "print the table only; write no result files")
	verbose := fs.Bool("v", false, "a progress line per run, and children's stderr on failure")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: go run ./bench [flags]\n\nCompares echo servers, each in its own process; see bench/README.md.\n\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return config{}, err
	}
	if fs.NArg() > 0 {
		return config{}, fmt.Errorf("unexpected arguments %v", fs.Args())
	}
	c, err := suiteDefaults(*suite)
	if err != nil {
		return c, err
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })

	if *srvs != "" {
		c.servers = nil
		for _, s := range parseList(*srvs) {
			s = servers.Canonical(s)
			if !slices.Contains(servers.All(), s) {
				return c, fmt.Errorf("server %q is not built in (have %s; the sockactor servers need the core packages, see README)", s, strings.Join(servers.All(), ","))
			}
			c.servers = append(c.servers, s)
		}
	}
	// Named servers or scenarios are run in full.
	c.idleTargetsOnly = *suite == "default" && *srvs == "" && *kinds == ""
	if *kinds != "" {
		c.kinds = nil
		for _, k := range parseList(*kinds) {
			if !slices.Contains(allKinds, k) {
				return c, fmt.Errorf("unknown scenario %q (have %s)", k, strings.Join(allKinds, ","))
			}
			c.kinds = append(c.kinds, k)
		}
	}
	if set["rounds"] {
		if *rounds < 1 {
			return c, errors.New("-rounds must be at least 1")
		}
		c.rounds = *rounds
	}
	if set["conns"] || set["payloads"] || set["windows"] {
		cs, ps, ws := []int{64, 1000}, []int{64}, []int{1}
		for _, p := range []struct {
			flag string
			val  string
			dst  *[]int
		}{{"conns", *conns, &cs}, {"payloads", *payloads, &ps}, {"windows", *windows, &ws}} {
			if set[p.flag] {
				v, err := parseInts(p.val)
				if err != nil {
					return c, fmt.Errorf("-%s: %w", p.flag, err)
				}
				*p.dst = v
			}
		}
		c.echo = nil
		for _, n := range cs {
			for _, p := range ps {
				for _, w := range ws {
					c.echo = append(c.echo, echoCase{n, p, w})
				}
			}
		}
		c.suite = "custom"
	}
	if set["warmup"] {
		c.warmup = *warmup
	}
	if set["duration"] {
		if *duration <= 0 {
			return c, errors.New("-duration must be positive")
		}
		c.duration = *duration
	}
	if set["idle-conns"] {
		if c.idleSteps, err = parseInts(*idle); err != nil {
			return c, fmt.Errorf("-idle-conns: %w", err)
		}
		slices.Sort(c.idleSteps)
	}
	if set["churn-rate"] {
		c.churnRate = *churnRate
	}
	if set["churn-paced"] {
		c.churnPaced = *churnPaced
	}
	if set["churn-unpaced"] {
		c.churnUnpaced = *churnUnpaced
	}
	c.churnRST = *churnRST
	if set["fanout"] {
		if c.fanout, err = parseInts(*fanout); err != nil {
			return c, fmt.Errorf("-fanout: %w", err)
		}
	}
	if set["ban-conns"] {
		c.banConns = *banConns
	}
	if set["udp-peers"] {
		if c.udpPeers, err = parseInts(*udpPeers); err != nil {
			return c, fmt.Errorf("-udp-peers: %w", err)
		}
	}
	if set["udp-payload"] {
		if *udpPayload < 8 {
			return c, errors.New("-udp-payload must be at least 8 (a sequence number leads every datagram)")
		}
		c.udpPayload = *udpPayload
	}
	if set["unix-conns"] {
		if c.unixConns, err = parseInts(*unixConns); err != nil {
			return c, fmt.Errorf("-unix-conns: %w", err)
		}
	}
	if set["udp-churn-peers"] {
		if *churnPeers < 1 || *churnPeers > 18000 {
			return c, errors.New("-udp-churn-peers must be 1..18000 (one client socket each, under the 20,000 descriptor limit)")
		}
		c.churnPeers = *churnPeers
	}
	if set["peer-idle"] {
		if *peerIdle < 500*time.Millisecond {
			return c, errors.New("-peer-idle must be at least 500ms (the peers must stay live while they are created and the RSS is read)")
		}
		c.peerIdle = *peerIdle
	}
	if set["slow-peers"] {
		if c.slowPeers, err = parseInts(*slowPeers); err != nil {
			return c, fmt.Errorf("-slow-peers: %w", err)
		}
	}
	if set["quiet-window"] {
		if *quietWindow < 100*time.Millisecond {
			return c, errors.New("-quiet-window must be at least 100ms (the CPU time is read in 10 ms ticks)")
		}
		c.quietWindow = *quietWindow
	}
	if set["flood-bytes"] {
		if *floodBytes < servers.FloodChunk {
			return c, fmt.Errorf("-flood-bytes must be at least %d (one write)", servers.FloodChunk)
		}
		c.floodBytes = *floodBytes
	}
	if set["spoof-sources"] {
		if *spoofSources < 1 || *spoofSources > 1_000_000 {
			return c, errors.New("-spoof-sources must be 1..1000000")
		}
		c.spoofSources = *spoofSources
	}
	if set["bp-conns"] {
		if c.bpConns, err = parseInts(*bpConns); err != nil {
			return c, fmt.Errorf("-bp-conns: %w", err)
		}
	}
	if set["bp-period"] {
		if *bpPeriod < 100*time.Microsecond {
			return c, errors.New("-bp-period must be at least 100µs (640 MB/s: no producer here outruns that)")
		}
		c.bpPeriod = *bpPeriod
	}
	if set["bp-window"] {
		if *bpWindow < 500*time.Millisecond {
			return c, errors.New("-bp-window must be at least 500ms")
		}
		c.bpWindow = *bpWindow
	}
	if set["bp-max-inbound"] {
		if *bpMaxInbound < 1 {
			return c, errors.New("-bp-max-inbound must be positive")
		}
		c.bpMaxInbound = *bpMaxInbound
	}
	if set["fleet-ttl"] {
		if *fleetTTL < time.Second || *fleetTTL > time.Minute || *fleetTTL%time.Second != 0 {
			return c, errors.New("-fleet-ttl must be whole seconds, 1s..1m (etcd counts lease TTLs in seconds)")
		}
		c.fleetTTL = *fleetTTL
	}
	if set["fleet-closes"] {
		if *fleetCloses < 1 || *fleetCloses > 100000 {
			return c, errors.New("-fleet-closes must be 1..100000")
		}
		c.fleetCloses = *fleetCloses
	}
	c.target, c.targetPID = *target, *targetPID
	if *serverProcs < 0 {
		return c, fmt.Errorf("-server-procs must be >= 0")
	}
	c.serverProcs = *serverProcs
	c.out, c.write, c.verbose = *out, !*noWrite, *verbose
	if c.target != "" {
		if _, err := loadgen.ResolveLoopback(c.target); err != nil {
			return c, fmt.Errorf("-target: %w (the bench only sends traffic to this machine)", err)
		}
		c.servers = []string{externalServer}
	} else if *targetPID != 0 {
		return c, errors.New("-target-pid needs -target")
	}
	if len(c.servers) == 0 {
		return c, errors.New("no server to run")
	}
	return c, nil
}

// externalServer names the -target server in the results.
const externalServer = "external"

// optionalServers lists the servers that run only when named.
func optionalServers() []string {
	var out []string
	for _, s := range servers.All() {
		if !slices.Contains(servers.Names(), s) {
			out = append(out, s)
		}
	}
	return out
}
