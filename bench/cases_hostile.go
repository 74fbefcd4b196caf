package main

import (
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/sockactor/sockactor/bench/internal/report"
	"github.com/sockactor/sockactor/bench/servers"
)

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
	inbound := "the runtime's default MaxInbound (256 KiB)"
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
					"the window starts once every peer has bytes waiting and the kernel queues (server tx_queue + peers' rx_queue, /proc/net/tcp) have not moved for 500 ms; CPU = the server's CPU time (user + kernel, read from its CPU clock) over the window",
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
