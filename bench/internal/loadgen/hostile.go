package loadgen

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/sockactor/sockactor/bench/internal/procfs"
)

// Hostile peers: slow readers that never read what the server writes them,
// and UDP datagrams from more source addresses than the server keeps peers
// for. Both measure what the server pays for peers that do it no good.

// Metric keys of the hostile scenario.
const (
	// Slow readers.
	MetricSlowPeers       = "slow_peers"                  // peers connected and written to (bytes waiting unread at each)
	MetricIdleCorePct     = "idle_core_pct"               // server CPU over the quiet window, % of one core
	MetricIdleCPUPerPeer  = "idle_cpu_us_per_s_per_peer"  // server CPU µs per second of the window per slow peer
	MetricRSSPerSlowPeer  = "rss_per_slow_peer"           // (server RSS after the window − before the first peer) / peers, bytes
	MetricRSSSlowVsStdlib = "rss_per_slow_peer_vs_stdlib" // that figure ÷ stdlib's in the same round (derived by the harness)
	MetricKernelPerPeer   = "kernel_kb_per_slow_peer"     // kernel-held bytes per peer (server tx_queue + peer rx_queue), KB
	MetricSettleSecs      = "settle_s"                    // last connect → the kernel queues stopped growing, seconds
	MetricWritesRefused   = "writes_refused"              // a sockactor server's refused writes (WSAEWOULDBLOCK) up to the window's end: each leaves its writer waiting for FD_WRITE
	MetricQuietSecs       = "quiet_window_s"              // length of the measured quiet window, seconds

	// Spoofed UDP sources.
	MetricSpoofSources    = "spoof_sources"          // datagrams sent, each from a source address of its own
	MetricSpoofRate       = "spoof_per_s"            // of those, per second of the spray
	MetricSpoofDrops      = "spoof_kernel_drops"     // datagrams the server's receive buffers dropped
	MetricSpoofCPU        = "spoof_cpu_us_per_dgram" // server CPU per datagram that reached it, µs
	MetricSpoofRSSPerSrc  = "spoof_rss_per_source"   // server RSS delta per source that reached it, bytes
	MetricSpoofHeapMB     = "spoof_heap_delta_mb"    // server live heap after a forced GC, end of spray − before, MiB
	MetricSpoofPeakOpen   = "spoof_peak_open"        // most sockets open at once (sampled every 50 ms; a server with a peer table only)
	MetricSpoofPeakPeers  = "spoof_peak_peers"       // most live UDP peers at once (sampled)
	MetricSpoofOpenEnd    = "spoof_open_end"         // sockets open once the server has taken every datagram
	MetricSpoofPeerSocks  = "spoof_peer_sockets"     // peer sockets the server made (FD_ACCEPT)
	MetricSpoofLimitClose = "spoof_limit_closed"     // of those, closed by the peer limit (FD_CLOSE 10055)
)

// hostilePeers is the part of the server's peers reply the hostile
// scenario uses.
type hostilePeers struct {
	Open         int64             `json:"open"`
	Accepted     uint64            `json:"accepted"`
	Closed       map[string]uint64 `json:"closed"`
	SendsRefused uint64            `json:"sends_refused"`
	Peers        int64             `json:"udp_peers"`
	Error        string            `json:"error"`
}

// queryHostilePeers asks the side channel for the server's socket
// counters.
func queryHostilePeers(ctx context.Context, cc *controlClient) (hostilePeers, error) {
	line, err := cc.command(ctx, "peers", 10*time.Second)
	if err != nil {
		return hostilePeers{}, err
	}
	return parseHostilePeers(line)
}

// parseHostilePeers parses a peers reply.
func parseHostilePeers(line string) (hostilePeers, error) {
	var p hostilePeers
	if err := json.Unmarshal([]byte(line), &p); err != nil {
		return p, fmt.Errorf("peers reply %q: %w", line, err)
	}
	if p.Error != "" {
		if strings.Contains(p.Error, "no peer table") {
			return p, errNoPeerTable
		}
		return p, errors.New(p.Error)
	}
	return p, nil
}

// serverHeap is the side channel's heap reply.
type serverHeap struct {
	HeapAlloc  uint64 `json:"heap_alloc"`
	StackInuse uint64 `json:"stack_inuse"`
	Goroutines int    `json:"goroutines"`
	Error      string `json:"error"`
}

func (h *serverHeap) replyError() string { return h.Error }

// queryHeapStack asks the side channel for the server's live heap and
// stacks after a forced collection.
func queryHeapStack(ctx context.Context, cc *controlClient) (serverHeap, error) {
	var h serverHeap
	err := queryJSON(ctx, cc, "heap", 30*time.Second, &h)
	return h, err
}

// serverMemory reads the server's RSS (/proc) and then its live heap and
// stacks (over the side channel), the two figures a memory step takes.
func serverMemory(ctx context.Context, cc *controlClient, pid int) (int64, serverHeap, error) {
	rss, err := procfs.ReadRSS(pid)
	if err != nil {
		return 0, serverHeap{}, err
	}
	h, err := queryHeapStack(ctx, cc)
	return rss, h, err
}

// queryHeap is queryHeapStack's live heap alone, in bytes.
func queryHeap(ctx context.Context, cc *controlClient) (uint64, error) {
	h, err := queryHeapStack(ctx, cc)
	return h.HeapAlloc, err
}

// queryJSON sends cmd on the side channel and decodes its one-line JSON
// reply into v; the reply's own error field comes back as the error.
func queryJSON(ctx context.Context, cc *controlClient, cmd string, timeout time.Duration, v interface{ replyError() string }) error {
	line, err := cc.command(ctx, cmd, timeout)
	if err != nil {
		return err
	}
	if err := json.Unmarshal([]byte(line), v); err != nil {
		return fmt.Errorf("%s reply %q: %w", cmd, line, err)
	}
	if e := v.replyError(); e != "" {
		return errors.New(e)
	}
	return nil
}
