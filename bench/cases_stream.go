package main

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/sockactor/sockactor/bench/internal/loadgen"
	"github.com/sockactor/sockactor/bench/internal/report"
	"github.com/sockactor/sockactor/bench/servers"
)

// echoCases are the TCP echo cases, one per echo configuration, on every
// server of the run.
func echoCases(c config) ([]caseSpec, []string) {
	var cases []caseSpec
	itoa := strconv.Itoa
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
				"-window", itoa(e.window), "-warmup", c.warmup.String(), "-duration", c.duration.String(),
				"-sources", itoa(c.sources)},
			timeout: c.warmup + c.duration + time.Duration(e.conns)*2*time.Millisecond + 30*time.Second,
		})
	}
	return cases, nil
}

// unixCases are the unix-socket echo cases, one per connection count, on
// gnet and the sockactor servers.
func unixCases(c config) ([]caseSpec, []string) {
	srvs, skip := gnetAndSockactor(c, "unix echo", ownTransportServers)
	if skip != nil {
		return nil, skip
	}
	var cases []caseSpec
	itoa := strconv.Itoa
	for _, n := range c.unixConns {
		cases = append(cases, caseSpec{
			scenario: report.Scenario{
				ID:      fmt.Sprintf("unix/c%d/p64/w1", n),
				Kind:    kindUnix,
				Title:   fmt.Sprintf("unix-socket echo: %d conns, 64 B, request/response, %v measured", n, c.duration),
				Params:  map[string]int{"conns": n, "payload": 64, "window": 1},
				Metrics: echoMetrics,
			},
			servers: srvs,
			network: servers.NetUnix,
			loadgen: []string{"-scenario", "echo", "-conns", itoa(n), "-payload", "64", "-window", "1",
				"-warmup", c.warmup.String(), "-duration", c.duration.String()},
			timeout: c.warmup + c.duration + time.Duration(n)*2*time.Millisecond + 30*time.Second,
		})
	}
	return cases, nil
}

// idleCases is the idle-memory case: the server's RSS per idle connection
// at each step.
func idleCases(c config) ([]caseSpec, []string) {
	var cases []caseSpec
	var notes []string
	external := c.target != ""
	itoa := strconv.Itoa
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
				"-settle", c.settle.String(), "-sources", itoa(c.sources)},
			timeout: time.Duration(top)*5*time.Millisecond + 60*time.Second,
		})
	}
	return cases, notes
}
