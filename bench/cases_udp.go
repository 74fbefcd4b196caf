package main

import (
	"fmt"
	"strconv"
	"time"

	"github.com/sockactor/sockactor/bench/internal/report"
	"github.com/sockactor/sockactor/bench/servers"
)

// udpCases are the UDP echo cases, one per peer count, on gnet and the
// sockactor servers.
func udpCases(c config) ([]caseSpec, []string) {
	srvs, skip := gnetAndSockactor(c, "UDP echo", ownTransportServers)
	if skip != nil {
		return nil, skip
	}
	var cases []caseSpec
	itoa := strconv.Itoa
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
			servers: srvs,
			network: servers.NetUDP,
			loadgen: []string{"-scenario", "udp", "-conns", itoa(n), "-payload", itoa(c.udpPayload),
				"-warmup", c.warmup.String(), "-duration", c.duration.String(), "-sources", itoa(c.sources)},
			timeout: c.warmup + c.duration + 30*time.Second,
		})
	}
	return cases, nil
}

// udpChurnCases is the UDP peer-churn case: RSS per idle peer, and the
// peers' idle timeout, on gnet and the sockactor servers.
func udpChurnCases(c config) ([]caseSpec, []string) {
	srvs, skip := gnetAndSockactor(c, "UDP peer churn", ownTransportServers)
	if skip != nil {
		return nil, skip
	}
	var cases []caseSpec
	itoa := strconv.Itoa
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
		servers:    srvs,
		network:    servers.NetUDP,
		notify:     true,
		serverArgs: []string{"-peer-idle", c.peerIdle.String()},
		loadgen: []string{"-scenario", "udpchurn", "-peers", itoa(n), "-peer-idle", c.peerIdle.String(), "-payload", "8",
			"-settle", c.settle.String(), "-sources", itoa(c.sources), "-dial-parallel", "32"},
		timeout: time.Duration(n)*2*time.Millisecond + c.peerIdle + 60*time.Second,
	})
	return cases, nil
}
