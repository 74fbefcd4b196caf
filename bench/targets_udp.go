package main

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/sockactor/sockactor/bench/internal/loadgen"
	"github.com/sockactor/sockactor/bench/internal/report"
	"github.com/sockactor/sockactor/bench/internal/stats"
)

// udpCPUTarget and udpPeerTarget are the goals of the UDP scenarios:
// inline CPU per datagram against raw gnet over UDP, and an idle UDP
// peer's memory against the same server's idle TCP connection.
const (
	udpCPUTarget  = 1.15
	udpPeerTarget = 2.0
)

// transportTargets checks the UDP goals.
func transportTargets(run *report.Run) []report.Target {
	var udp *report.Scenario
	for _, s := range findKind(run, kindUDP) {
		if udp == nil || s.Params["peers"] == 64 {
			udp = s
		}
	}
	cpu := ratioTarget("UDP echo CPU/datagram, inline, vs gnet", udp, inlineServer, loadgen.MetricCPUPerMsg, true, udpCPUTarget)
	if udp != nil {
		cpu.Name = fmt.Sprintf("UDP echo CPU/datagram, inline, vs gnet (%d peers, %d B)", udp.Params["peers"], udp.Params["payload"])
	}
	var churn *report.Scenario
	if cs := findKind(run, kindUDPChurn); len(cs) > 0 {
		churn = cs[0]
	}
	mem := judge(report.Target{Name: "idle UDP peer memory vs TCP socket (inline)",
		Goal: fmt.Sprintf("≤ %.2f× TCP socket", udpPeerTarget), Unit: "× TCP socket"},
		churn, inlineServer, func(r *report.ServerResult) stats.Summary { return r.Summary[loadgen.MetricPeerVsTCP] }, true, udpPeerTarget)
	switch r := (*report.ServerResult)(nil); {
	case churn == nil:
	case mem.Status != report.NotMeasured:
		mem.Detail = fmt.Sprintf("RSS per idle peer at %d peers ÷ RSS per idle TCP connection at %d conns", churn.Params["peers"], churn.Params["tcp_step"])
	case len(findKind(run, kindIdle)) == 0:
		if r = churn.Result(inlineServer); r != nil && r.Unavailable == "" {
			mem.Detail = "needs the idle scenario in the same run (-scenarios idle,udpchurn)"
		}
	}
	return []report.Target{cpu, mem}
}

// deriveUDPPeerVsTCP adds, to each round of each server of the UDP
// peer-churn scenario, its RSS per idle peer divided by the same server's
// RSS per idle TCP connection in the same round of the idle scenario (at
// the idle step equal to the peer count, else the nearest one), and
// summarises the scenario again.
func deriveUDPPeerVsTCP(run *report.Run) {
	idles := findKind(run, kindIdle)
	churns := findKind(run, kindUDPChurn)
	if len(idles) == 0 || len(churns) == 0 {
		return
	}
	idle := idles[0]
	for _, churn := range churns {
		peers := churn.Params["peers"]
		step, best := 0, -1
		for _, m := range idle.Metrics {
			v, ok := strings.CutPrefix(m.Key, loadgen.MetricRSSPerConnPfx)
			if !ok {
				continue
			}
			n, err := strconv.Atoi(v)
			if err != nil {
				continue
			}
			if dist := abs(n - peers); best < 0 || dist < best {
				step, best = n, dist
			}
		}
		if best < 0 {
			continue
		}
		churn.Params["tcp_step"] = step
		peerKey := loadgen.MetricRSSPerPeerPfx + strconv.Itoa(peers)
		connKey := loadgen.MetricRSSPerConnPfx + strconv.Itoa(step)
		for i := range churn.Results {
			r := &churn.Results[i]
			tcp := idle.Result(r.Server)
			if tcp == nil {
				continue
			}
			for round, m := range r.Rounds {
				if m == nil || round >= len(tcp.Rounds) || tcp.Rounds[round] == nil {
					continue
				}
				p, okP := m[peerKey]
				c, okC := tcp.Rounds[round][connKey]
				if okP && okC && c > 0 {
					m[loadgen.MetricPeerVsTCP] = p / c
				}
			}
		}
		churn.Finalize(run.Baseline)
	}
}

func abs(n int) int {
	if n < 0 {
		return -n
	}
	return n
}
