package main

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/sockactor/sockactor/bench/servers"
)

// Scenario kinds, in run order.
const (
	kindEcho   = "echo"
	kindIdle   = "idle"
	kindChurn  = "churn"
	kindBan    = "ban"
	kindFanout = "fanout"
	kindRemote = "remote"
	// The transports beside TCP: UDP echo, unix-socket echo, UDP peer
	// churn (raw gnet and the sockactor servers only).
	kindUDP      = "udp"
	kindUnix     = "unix"
	kindUDPChurn = "udpchurn"
	// Hostile peers (-scenarios hostile, and the full suite): slow
	// readers and spoofed UDP sources, each a scenario kind of its own.
	kindHostile      = "hostile"
	kindHostileSlow  = "hostile-slow"
	kindHostileSpoof = "hostile-spoof"
	// Back-pressure (-scenarios backpressure, and the full suite): fast
	// producers into a slow consumer.
	kindBackpressure = "backpressure"
	// HTTP/1.1 (-scenarios http, and the full suite): examples/http
	// against raw gnet on the same h1 package (http.go).
	kindHTTP = "http"
	// A fleet (-scenarios fleet, and the full suite): membership detection
	// and FD_CLOSE from gateways to a fleet watcher through etcd (fleet.go).
	kindFleet = "fleet"
)

var allKinds = []string{kindEcho, kindUDP, kindUnix, kindIdle, kindUDPChurn, kindChurn, kindBan, kindFanout, kindRemote, kindHostile, kindBackpressure, kindRESP, kindHTTP, kindTLS, kindFleet}

// defaultKinds are the default suite's scenarios: the ones every target it
// can judge needs (the UDP peer churn's memory target pairs with idle). The
// others (unix, fanout, remote, and hostile and backpressure, which take
// minutes) run with -suite full or by name with -scenarios.
var defaultKinds = []string{kindEcho, kindUDP, kindIdle, kindUDPChurn, kindChurn, kindBan}

// spoofMaxPeers is the sockactor UDP listener's MaxPeers in the spoofed
// sources scenario.
const spoofMaxPeers = 64

// baselineServer is the server every ratio is against.
const baselineServer = "gnet"

// echoCase is one echo configuration.
type echoCase struct{ conns, payload, window int }

// config is everything the harness flags decide.
type config struct {
	suite     string
	servers   []string
	kinds     []string
	rounds    int
	echo      []echoCase
	warmup    time.Duration
	duration  time.Duration
	idleSteps []int
	settle    time.Duration

	churnRate    float64
	churnPaced   time.Duration
	churnUnpaced time.Duration
	churnWorkers int
	churnRST     bool
	fanout       []int

	banConns int
	banChunk int
	banAfter time.Duration

	// udpPeers are the client socket counts of the UDP echo cases,
	// udpPayload their datagram size; unixConns the connection counts of
	// the unix echo cases (64 B request/response).
	udpPeers   []int
	udpPayload int
	unixConns  []int
	// churnPeers is the idle UDP peers of the peer-churn case, peerIdle
	// the server's peer idle timeout there.
	churnPeers int
	peerIdle   time.Duration

	// slowPeers are the peer counts of the slow-reader cases, quietWindow
	// the window whose server CPU they measure, floodBytes what the
	// flood-writer servers write to each peer; spoofSources the datagrams
	// (one per source address) of the spoofed-sources case.
	slowPeers    []int
	quietWindow  time.Duration
	floodBytes   int
	spoofSources int

	// bpConns are the connection counts of the backpressure cases;
	// bpPeriod the consumer's time per 64 KiB, all connections together
	// (each of N connections takes N times as long, so every case runs
	// at the same rate); bpWarmup and bpWindow the warm-up and the
	// measured window; bpMaxInbound the sockactor servers' MaxInbound (0:
	// the runtime's default).
	bpConns      []int
	bpPeriod     time.Duration
	bpWarmup     time.Duration
	bpWindow     time.Duration
	bpMaxInbound int

	// idleTargetsOnly runs the idle scenario on gnet and the sockactor
	// servers only: its targets compare those, and each 10,000-connection
	// run is among the longest of the default suite.
	idleTargetsOnly bool

	sources   int
	target    string
	targetPID int
	out       string
	write     bool
	verbose   bool

	// fleetTTL is the lease TTL of the fleet scenario's gateways;
	// fleetCloses the FD_CLOSE latencies it measures per round.
	fleetTTL    time.Duration
	fleetCloses int

	// serverProcs is the GOMAXPROCS of every server child (the same for
	// all, so the comparison stays fair); 0 leaves Go's default.
	serverProcs int
}

// suiteDefaults returns the configuration of a named suite.
func suiteDefaults(suite string) (config, error) {
	c := config{
		suite:        suite,
		servers:      servers.Names(),
		kinds:        allKinds,
		rounds:       3,
		churnRate:    1000,
		churnWorkers: 4,
		sources:      16,
		write:        true,
		udpPayload:   64,
		churnPeers:   10000,
		peerIdle:     time.Second,
		slowPeers:    []int{500, 5000},
		quietWindow:  5 * time.Second,
		floodBytes:   servers.DefaultFloodBytes,
		spoofSources: 50000,
		bpConns:      []int{1, 16},
		bpPeriod:     servers.DefaultConsumePeriod,
		bpWarmup:     2 * time.Second,
		bpWindow:     4 * time.Second,
		fleetTTL:     time.Second,
		fleetCloses:  500,
	}
	switch suite {
	case "default":
		// A short showcase: only the echo cases the targets judge, and a
		// measured window that still holds 50 CPU ticks (10 ms each) of a
		// busy server.
		c.kinds = defaultKinds
		c.echo = []echoCase{{64, 64, 1}, {1000, 64, 1}}
		c.warmup, c.duration = 100*time.Millisecond, 500*time.Millisecond
		c.idleSteps = []int{1000, 10000}
		c.settle = 150 * time.Millisecond
		c.churnPaced, c.churnUnpaced = 500*time.Millisecond, 200*time.Millisecond
		c.fanout = []int{100}
		c.banConns, c.banChunk, c.banAfter = 256, 4096, 250*time.Millisecond
		c.udpPeers, c.unixConns = []int{64}, []int{64}
	case "full":
		for _, conns := range []int{1, 64, 1000, 10000} {
			for _, payload := range []int{64, 4096} {
				for _, window := range []int{1, 16} {
					c.echo = append(c.echo, echoCase{conns, payload, window})
				}
			}
		}
		c.warmup, c.duration = 500*time.Millisecond, 2500*time.Millisecond
		c.idleSteps = []int{1000, 10000, 18000}
		c.settle = 500 * time.Millisecond
		c.churnPaced, c.churnUnpaced = 2*time.Second, 2*time.Second
		c.fanout = []int{1, 10, 100}
		c.banConns, c.banChunk, c.banAfter = 1000, 4096, time.Second
		c.udpPeers, c.unixConns = []int{64, 1000}, []int{64, 1000}
	default:
		return c, fmt.Errorf("unknown suite %q (default or full)", suite)
	}
	return c, nil
}

// parseInts parses a comma-separated list of positive integers.
func parseInts(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		n, err := strconv.Atoi(f)
		if err != nil || n < 1 {
			return nil, fmt.Errorf("%q is not a positive integer", f)
		}
		out = append(out, n)
	}
	if len(out) == 0 {
		return nil, errors.New("empty list")
	}
	return out, nil
}

// parseList parses a comma-separated list of names.
func parseList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}
