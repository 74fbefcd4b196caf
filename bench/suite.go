package main

import (
	"context"
	"slices"
	"strings"
	"time"

	"github.com/sockactor/sockactor/bench/internal/loadgen"
	"github.com/sockactor/sockactor/bench/internal/report"
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
	// run, when set, replaces the server + load generator pair of one
	// round: it runs the round for server srv (its own children, all
	// stopped when it returns) under a context bounded by timeout.
	run func(ctx context.Context, h *harness, srv string) (loadgen.Result, error)
	// turns, when over 1, measures each round in that many turns per
	// server, the servers running side by side (turns.go).
	turns int
}

func isSockactor(name string) bool { return strings.HasPrefix(name, "sockactor") }

// transportServers are the servers of the UDP and unix scenarios: the
// baseline and the sockactor servers (the others serve tcp only).
func transportServers(all []string) []string {
	return slices.DeleteFunc(slices.Clone(all), func(s string) bool { return s != baselineServer && !isSockactor(s) })
}

// sockactorServers are the sockactor servers of all.
func sockactorServers(all []string) []string {
	return slices.DeleteFunc(slices.Clone(all), func(s string) bool { return !isSockactor(s) })
}

// ownTransportServers is what the UDP and unix scenarios start on their own.
const ownTransportServers = "its own gnet and sockactor servers"

// gnetAndSockactor returns the servers of a scenario that compares gnet
// and the sockactor servers, started as own describes, or the note saying
// why the scenario, called what, is skipped.
func gnetAndSockactor(c config, what, own string) ([]string, []string) {
	srvs := transportServers(c.servers)
	switch {
	case c.target != "":
		return nil, []string{what + " skipped: it starts " + own + " (not an external -target)"}
	case len(srvs) == 0:
		return nil, []string{what + " skipped: it compares gnet and the sockactor servers, and none is in this run"}
	}
	return srvs, nil
}

// sockactorOnly returns the sockactor servers of a scenario that needs
// one, or the note saying why the scenario, called what, is skipped.
func sockactorOnly(c config, what string) ([]string, []string) {
	srvs := sockactorServers(c.servers)
	switch {
	case c.target != "":
		return nil, []string{what + " skipped: it needs a sockactor server"}
	case len(srvs) == 0:
		return nil, []string{what + " skipped: no sockactor server in this run"}
	}
	return srvs, nil
}

// scenarioCases are the scenarios' case builders, in the order the run
// takes them. Each returns its cases, or notes on what it left out and why.
var scenarioCases = []struct {
	kind  string
	cases func(config) ([]caseSpec, []string)
}{
	{kindEcho, echoCases},
	{kindUDP, udpCases},
	{kindUnix, unixCases},
	{kindIdle, idleCases},
	{kindUDPChurn, udpChurnCases},
	{kindChurn, churnCases},
	{kindBan, banCases},
	{kindFanout, fanoutCases},
	{kindRemote, remoteCases},
	{kindHostile, hostileCases},
	{kindBackpressure, backpressureCases},
	{kindRESP, respCases},
	{kindHTTP, httpCases},
	{kindTLS, tlsCases},
	{kindFleet, fleetCases},
}

// buildCases turns the configuration into the ordered list of scenarios.
// It also returns notes on what was left out and why.
func buildCases(c config) ([]caseSpec, []string) {
	var cases []caseSpec
	var notes []string
	for _, s := range scenarioCases {
		if slices.Contains(c.kinds, s.kind) {
			cs, ns := s.cases(c)
			cases, notes = append(cases, cs...), append(notes, ns...)
		}
	}
	return cases, notes
}
