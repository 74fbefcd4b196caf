package loadgen

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync/atomic"
	"time"
)

// UDP metric keys (the echo keys msgs, msgs_per_s, p50_us, ... are reused
// for datagrams).
const (
	MetricLostDatagrams = "lost_datagrams" // datagrams with no echo within the loss timeout
	MetricLateDatagrams = "late_datagrams" // echoes that arrived after their datagram was counted lost

	// UDP peer churn.
	MetricPeers          = "peers"               // peers created (datagrams answered)
	MetricPeersPerSec    = "peers_per_s"         // peers created per second
	MetricCPUPerPeer     = "cpu_us_per_peer"     // server CPU per peer created
	MetricRSSPerPeerPfx  = "rss_per_peer_"       // server RSS delta per live idle peer, bytes (suffix: peer count)
	MetricRSSPeersPfx    = "rss_peers_mb_"       // server RSS with that many idle peers, MiB
	MetricLivePeers      = "live_peers"          // the server's open sockets at the RSS reading (-1: no peer table)
	MetricExpired        = "expired"             // peers closed (any reason) by the end of the expiry wait
	MetricExpiredTimeout = "expired_timeout"     // of those, FD_CLOSE reason "timeout"
	MetricExpireAllSecs  = "expire_all_s"        // last peer's datagram -> every peer closed, seconds
	MetricPeerVsTCP      = "rss_peer_vs_tcp"     // RSS per idle UDP peer / the same server's RSS per idle TCP connection (derived by the harness)
	MetricPeerLost       = "peer_lost"           // peers whose datagram got no echo after every retry
	MetricPeerTableKnown = "peer_table"          // 1 when the server answered the peers command
	metricPeerStatsErr   = "peer_stats_errors"   // failed peers commands (not a figure)
	peerStatsPoll        = 50 * time.Millisecond // expiry polling interval
)

// ResolveLoopbackUDP resolves target (host:port) as a UDP address and
// checks that it is a loopback address.
func ResolveLoopbackUDP(target string) (*net.UDPAddr, error) {
	t, err := ResolveLoopback(target)
	if err != nil {
		return nil, err
	}
	return &net.UDPAddr{IP: t.IP, Port: t.Port, Zone: t.Zone}, nil
}

// udpDialer opens connected UDP sockets to a loopback target, spread over
// source addresses 127.0.0.2... so that every socket is a distinct peer
// (source address and port) of the server.
type udpDialer struct {
	target  *net.UDPAddr
	sources []*net.UDPAddr
	next    atomic.Uint64
}

func newUDPDialer(target string, sources int) (*udpDialer, error) {
	addr, err := ResolveLoopbackUDP(target)
	if err != nil {
		return nil, err
	}
	d := &udpDialer{target: addr}
	if addr.IP.To4() != nil {
		for i := range min(sources, 250) {
			d.sources = append(d.sources, &net.UDPAddr{IP: net.IPv4(127, 0, 0, byte(2+i))})
		}
	}
	return d, nil
}

// dial opens one connected UDP socket: it receives only from the target.
func (d *udpDialer) dial() (*net.UDPConn, error) {
	var local *net.UDPAddr
	if len(d.sources) > 0 {
		local = d.sources[d.next.Add(1)%uint64(len(d.sources))]
	}
	return net.DialUDP("udp", local, d.target)
}

// closeUDP closes every non-nil socket.
func closeUDP(conns []*net.UDPConn) {
	for _, c := range conns {
		if c != nil {
			_ = c.Close()
		}
	}
}

// peerCounters is the part of the server's peers reply the churn uses.
type peerCounters struct {
	open, closed, timeout int64
}

// errNoPeerTable is the server answering that it keeps no peer table.
var errNoPeerTable = errors.New("the server keeps no peer table")

// queryPeers asks the side channel for the server's peer counters.
func queryPeers(ctx context.Context, cc *controlClient) (peerCounters, error) {
	line, err := cc.command(ctx, "peers", 10*time.Second)
	if err != nil {
		return peerCounters{}, err
	}
	return parsePeers(line)
}

// parsePeers parses the JSON of a peers reply: the server's PeerStats, or
// {"error": ...}.
func parsePeers(line string) (peerCounters, error) {
	var rep struct {
		Open   int64            `json:"open"`
		Closed map[string]int64 `json:"closed"`
		Error  string           `json:"error"`
	}
	if err := json.Unmarshal([]byte(line), &rep); err != nil {
		return peerCounters{}, fmt.Errorf("peers reply %q: %w", line, err)
	}
	if rep.Error != "" {
		if strings.Contains(rep.Error, "no peer table") {
			return peerCounters{}, errNoPeerTable
		}
		return peerCounters{}, errors.New(rep.Error)
	}
	pc := peerCounters{open: rep.Open, timeout: rep.Closed["timeout"]}
	for _, v := range rep.Closed {
		pc.closed += v
	}
	return pc, nil
}
