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
	// LimitMaxInbound: a stream socket's reads paused because its received
	// bytes waiting (pooled queue or pull buffer) reached MaxInbound, or a
	// datagram dropped because it would pass it (inbound.go).
	LimitMaxInbound = "max_inbound"
	// LimitMaxBuffered: a stream socket's reads paused because the
	// runtime's waiting bytes passed MaxBuffered, or a datagram dropped for
	// it (inbound.go).
	LimitMaxBuffered = "max_buffered"
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
	highWater      atomic.Uint64
	maxSend        atomic.Uint64
	inbound        atomic.Uint64 // pauses and drops for MaxInbound
	budget         atomic.Uint64 // pauses and drops for MaxBuffered
	inboundDropped atomic.Uint64 // bytes of datagrams dropped for either
}

// snapshot returns the counts by limit name, every name present.
func (l *limitCounters) snapshot() map[string]uint64 {
	return map[string]uint64{
		LimitSendHighWater: l.highWater.Load(),
		LimitMaxSend:       l.maxSend.Load(),
		LimitMaxInbound:    l.inbound.Load(),
		LimitMaxBuffered:   l.budget.Load(),
	}
}
