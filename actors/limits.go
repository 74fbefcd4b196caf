package actors

import "sync/atomic"

// The per-socket limits above the transport that refuse a write rather than
// close the socket (docs/SEMANTICS.md §5): each refusal is also counted in
// HostStats.SendsRefused; here it is counted by the limit that caused it.
// Only refusal branches touch these counters, never a write that succeeds.

// Limit names, as they appear in HostStats.LimitHits (the last two), in
// runtime.Stats.LimitHits and in the sockactor_limit_hits_total metric's
// "limit" label.
const (
	// LimitMaxConns: a connection accepted over MaxConns, closed at once
	// and released with its FD_CLOSE (counted by the transport,
	// netio.EngineStats.ConnLimitHits).
	LimitMaxConns = "max_conns"
	// LimitMaxInbound: a socket closed with FD_CLOSE 10055 because its
	// received bytes waiting (pooled queue or pull buffer) would pass
	// MaxInbound (counted by the transport, in netio.EngineStats.LimitHits).
	LimitMaxInbound = "max_inbound"
	// LimitMaxPeers: a datagram from a new source address dropped, without
	// a peer socket or an event, because its UDP listener had MaxPeers
	// peers; one hit per datagram (counted by the transport,
	// netio.EngineStats.PeerLimitHits).
	LimitMaxPeers = "max_peers"
	// LimitSendHighWater: a Send or handler Write refused with
	// WSAEWOULDBLOCK because the queued output would pass SendHighWater.
	LimitSendHighWater = "send_high_water"
	// LimitMaxSend: a Send refused with WSAEMSGSIZE because it is larger
	// than MaxSend.
	LimitMaxSend = "max_send"
)

// limitCounters counts limit hits. Safe for concurrent use.
type limitCounters struct {
	highWater atomic.Uint64
	maxSend   atomic.Uint64
}

// snapshot returns the counts by limit name, every name present.
func (l *limitCounters) snapshot() map[string]uint64 {
	return map[string]uint64{
		LimitSendHighWater: l.highWater.Load(),
		LimitMaxSend:       l.maxSend.Load(),
	}
}
