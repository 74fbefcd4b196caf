package main

import (
	"strconv"

	"github.com/sockactor/sockactor/bench/internal/loadgen"
	"github.com/sockactor/sockactor/bench/internal/report"
)

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
