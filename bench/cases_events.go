package main

import (
	"fmt"
	"strconv"
	"time"

	"github.com/sockactor/sockactor/bench/internal/loadgen"
	"github.com/sockactor/sockactor/bench/internal/report"
)

// churnArgs are the loadgen flags of the churn and fan-out cases.
func churnArgs(c config) []string {
	a := []string{"-scenario", "churn", "-rate", strconv.FormatFloat(c.churnRate, 'f', -1, 64),
		"-paced", c.churnPaced.String(), "-unpaced", c.churnUnpaced.String(), "-workers", strconv.Itoa(c.churnWorkers),
		"-sources", strconv.Itoa(c.sources)}
	if c.churnRST {
		a = append(a, "-rst")
	}
	return a
}

// churnTimeout bounds one run of a churn or fan-out case.
func churnTimeout(c config) time.Duration { return c.churnPaced + c.churnUnpaced + 40*time.Second }

// churnCases are the connection-churn cases: connect+close with the
// FD_CLOSE latency on every server, the same with half-close, and the
// FD_CLOSE latency of the sockactor servers at Go's default GOMAXPROCS.
func churnCases(c config) ([]caseSpec, []string) {
	var cases []caseSpec
	external := c.target != ""
	sockactors := sockactorServers(c.servers)
	itoa := strconv.Itoa
	closeKind := "FIN"
	if c.churnRST {
		closeKind = "RST"
	}
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
		loadgen: churnArgs(c),
		timeout: churnTimeout(c),
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
		loadgen: []string{"-scenario", "churn", "-paced", "0s", "-unpaced", c.churnUnpaced.String(),
			"-workers", itoa(c.churnWorkers), "-sources", itoa(c.sources), "-half-close"},
		timeout: c.churnUnpaced + 40*time.Second,
	}
	cases = append(cases, hc)
	// FD_CLOSE latency with Go's own GOMAXPROCS: no environment
	// variable, so the runtime's Start applies SuggestedGOMAXPROCS.
	if len(sockactors) > 0 && !external {
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
			servers:        sockactors,
			loadgen:        []string{"-scenario", "churn", "-rate", strconv.FormatFloat(c.churnRate, 'f', -1, 64), "-paced", c.churnPaced.String(), "-unpaced", "0s", "-workers", itoa(c.churnWorkers), "-sources", itoa(c.sources)},
			timeout:        churnTimeout(c),
			notify:         true,
			serverArgs:     []string{"-subscribers", "1"},
			goDefaultProcs: true,
		}
		cases = append(cases, dp)
	}
	return cases, nil
}

// banCases is the receive-ban case, on the sockactor servers.
func banCases(c config) ([]caseSpec, []string) {
	srvs, skip := sockactorOnly(c, "receive ban")
	if skip != nil {
		return nil, skip
	}
	var cases []caseSpec
	itoa := strconv.Itoa
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
		servers:    srvs,
		serverArgs: []string{"-ban-policy", "discard"},
		notify:     true,
		loadgen: []string{"-scenario", "ban", "-conns", itoa(c.banConns), "-payload", itoa(c.banChunk),
			"-warmup", (c.warmup + 100*time.Millisecond).String(), "-duration", c.banAfter.String(), "-sources", itoa(c.sources)},
		timeout: c.banAfter + 90*time.Second,
	})
	return cases, nil
}

// fanoutCases are the FD_CLOSE fan-out cases, one per subscriber count, on
// the sockactor servers.
func fanoutCases(c config) ([]caseSpec, []string) {
	srvs, skip := sockactorOnly(c, "event fan-out")
	if skip != nil {
		return nil, skip
	}
	var cases []caseSpec
	itoa := strconv.Itoa
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
			servers:    srvs,
			serverArgs: []string{"-subscribers", itoa(n)},
			notify:     true,
			loadgen:    churnArgs(c),
			timeout:    churnTimeout(c),
		})
	}
	return cases, nil
}

// remoteCases is the across-nodes case, on the sockactor servers.
func remoteCases(c config) ([]caseSpec, []string) {
	srvs, skip := sockactorOnly(c, "across nodes")
	if skip != nil {
		return nil, skip
	}
	var cases []caseSpec
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
		servers:    srvs,
		serverArgs: []string{"-remote", "127.0.0.1:0"},
		loadgen: []string{"-scenario", "remote", "-rate", strconv.FormatFloat(c.churnRate, 'f', -1, 64),
			"-paced", c.churnPaced.String(), "-conns", "16", "-senders", "16", "-payload", "64", "-duration", c.duration.String()},
		timeout: c.churnPaced + c.duration + 60*time.Second,
	})
	return cases, nil
}
