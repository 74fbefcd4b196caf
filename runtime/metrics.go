package runtime

import (
	"context"
	"errors"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/sockactor/sockactor/actors"
	"github.com/sockactor/sockactor/netio"
	"github.com/sockactor/sockactor/winsock"
)

// Metrics. Every instrument is an OpenTelemetry observable one: its value is
// read, when the MeterProvider collects, from the counters the runtime keeps
// anyway (Stats, and netio's Traffic for the byte totals). Nothing is
// recorded on the data path, so a runtime with metrics costs what one
// without them costs, until something collects.
//
// Exported through the OpenTelemetry Prometheus exporter with its default
// name translation, the instruments appear under these names (units in
// braces are annotations and add no suffix; "By" adds none either, since
// each byte counter's name already holds "bytes"; counters get "_total"):
//
//	sockactor_sockets_open              gauge   sockets not yet released
//	sockactor_sockets_accepted_total    counter connections accepted
//	sockactor_sockets_closed_total      counter FD_CLOSE emitted, label reason (docs/SEMANTICS.md §4)
//	sockactor_bytes_received_total      counter bytes read from the network
//	sockactor_bytes_sent_total          counter bytes written to the network
//	sockactor_banned_bytes_total        counter bytes dropped by the receive ban
//	sockactor_limit_dropped_bytes_total counter bytes of UDP datagrams from new addresses dropped over MaxPeers
//	sockactor_send_dropped_bytes_total  counter bytes a Send or Write accepted that never reached the peer
//	sockactor_events_delivered_total    counter events handed to a subscriber
//	sockactor_events_dropped_total      counter events not delivered: their subscriber was dead (and was dropped)
//	sockactor_limit_hits_total          counter limit hits, label limit (max_conns, max_inbound, max_peers, send_high_water, max_send)
//	sockactor_sends_refused_total       counter Sends and Writes refused with an error code
//
// Each carries the exporter's otel_scope_name label, MeterName. Several
// runtimes on one MeterProvider report the same series, whose observations
// then collide: give each runtime its own provider (or a view that adds an
// attribute). The callback is unregistered when Shutdown finishes.

// MeterName is the instrumentation scope of the runtime's metrics (the
// otel_scope_name label in Prometheus).
const MeterName = "github.com/sockactor/sockactor/runtime"

// The values of the "limit" label of sockactor_limit_hits_total.
const (
	LimitMaxConns      = actors.LimitMaxConns      // Options.MaxConns: a connection accepted and closed at once
	LimitMaxInbound    = actors.LimitMaxInbound    // Options.MaxInbound: a socket's reads paused, or a datagram dropped
	LimitMaxBuffered   = actors.LimitMaxBuffered   // Options.MaxBuffered: a socket's reads paused, or a datagram dropped
	LimitMaxPeers      = actors.LimitMaxPeers      // ListenOptions.MaxPeers: a datagram from a new address dropped, no peer made
	LimitSendHighWater = actors.LimitSendHighWater // Options.SendHighWater: a Send or Write refused with WSAEWOULDBLOCK
	LimitMaxSend       = actors.LimitMaxSend       // Options.MaxSend: a Send refused with WSAEMSGSIZE
)

// metricSet is the runtime's instruments and their registration.
type metricSet struct {
	open                                  metric.Int64ObservableGauge
	accepted, closed                      metric.Int64ObservableCounter
	bytesIn, bytesOut, banned, sendDrop   metric.Int64ObservableCounter
	limitDrop                             metric.Int64ObservableCounter
	delivered, dropped, limits, refusedIn metric.Int64ObservableCounter
	reg                                   metric.Registration

	reasons []attribute.Set // by netio.Reason (index 0 unused)
	limitBy [len(limitNames)]attribute.Set
}

// startMetrics creates the instruments on mp (the global MeterProvider if
// nil) and registers the callback that reads them. It undoes what New built
// if that fails. Called once, at the end of New.
func (rt *Runtime) startMetrics(mp metric.MeterProvider) error {
	if mp == nil {
		mp = otel.GetMeterProvider()
	}
	m, err := newMetricSet(mp.Meter(MeterName), rt.observe)
	if err != nil {
		if rt.ownSystem {
			rt.system.Shutdown()
		}
		return &winsock.OpError{Op: "New", Code: winsock.WSAEINVAL, Detail: "Options.MeterProvider: " + err.Error(), Err: err}
	}
	rt.metrics = m
	return nil
}

// stopMetrics unregisters the callback: a stopped runtime reports nothing.
func (rt *Runtime) stopMetrics() {
	if rt.metrics != nil && rt.metrics.reg != nil {
		_ = rt.metrics.reg.Unregister()
	}
}

func newMetricSet(meter metric.Meter, observe func(*metricSet, context.Context, metric.Observer) error) (*metricSet, error) {
	m := &metricSet{}
	var errs []error
	counter := func(name, unit, desc string) metric.Int64ObservableCounter {
		c, err := meter.Int64ObservableCounter(name, metric.WithUnit(unit), metric.WithDescription(desc))
		errs = append(errs, err)
		return c
	}
	var err error
	m.open, err = meter.Int64ObservableGauge("sockactor.sockets.open", metric.WithUnit("{socket}"),
		metric.WithDescription("Sockets not yet released (listeners excluded)."))
	errs = append(errs, err)
	m.accepted = counter("sockactor.sockets.accepted", "{socket}", "Connections accepted.")
	m.closed = counter("sockactor.sockets.closed", "{socket}", "FD_CLOSE events emitted, by reason.")
	m.bytesIn = counter("sockactor.bytes.received", "By", "Bytes read from the network.")
	m.bytesOut = counter("sockactor.bytes.sent", "By", "Bytes written to the network.")
	m.banned = counter("sockactor.banned_bytes", "By", "Bytes read and dropped by the receive ban.")
	m.limitDrop = counter("sockactor.limit.dropped_bytes", "By", "Bytes of UDP datagrams from new addresses dropped because their listener had MaxPeers peers.")
	m.sendDrop = counter("sockactor.send.dropped_bytes", "By", "Bytes a Send or Write accepted that never reached the peer.")
	m.delivered = counter("sockactor.events.delivered", "{event}", "Events handed to a subscriber.")
	m.dropped = counter("sockactor.events.dropped", "{event}", "Events not delivered because their subscriber was dead.")
	m.limits = counter("sockactor.limit.hits", "{hit}", "Limit hits, by limit.")
	m.refusedIn = counter("sockactor.sends.refused", "{send}", "Sends and Writes refused with an error code.")
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}

	m.reasons = make([]attribute.Set, netio.ReasonLast+1)
	for r := netio.ReasonPeerClose; r <= netio.ReasonLast; r++ {
		m.reasons[r] = attribute.NewSet(attribute.String("reason", r.String()))
	}
	for i, name := range limitNames {
		m.limitBy[i] = attribute.NewSet(attribute.String("limit", name))
	}
	reg, err := meter.RegisterCallback(func(ctx context.Context, o metric.Observer) error {
		return observe(m, ctx, o)
	}, m.open, m.accepted, m.closed, m.bytesIn, m.bytesOut, m.banned, m.limitDrop, m.sendDrop,
		m.delivered, m.dropped, m.limits, m.refusedIn)
	if err != nil {
		return nil, err
	}
	m.reg = reg
	return m, nil
}

var limitNames = [6]string{LimitMaxConns, LimitMaxInbound, LimitMaxBuffered, LimitMaxPeers, LimitSendHighWater, LimitMaxSend}

// observe reports the counters. Goroutine: the collector's (a scrape),
// never an event loop.
func (rt *Runtime) observe(m *metricSet, ctx context.Context, o metric.Observer) error {
	st := rt.Stats()
	tr := rt.eng.Traffic(ctx)
	i64 := func(v uint64) int64 { return int64(min(v, 1<<63-1)) }

	o.ObserveInt64(m.open, st.Sockets.Open)
	o.ObserveInt64(m.accepted, i64(st.Sockets.Accepted))
	for r := netio.ReasonPeerClose; r <= netio.ReasonLast; r++ {
		o.ObserveInt64(m.closed, i64(st.Sockets.Closed[r.String()]), metric.WithAttributeSet(m.reasons[r]))
	}
	o.ObserveInt64(m.bytesIn, i64(tr.BytesIn))
	o.ObserveInt64(m.bytesOut, i64(tr.BytesOut))
	o.ObserveInt64(m.banned, i64(tr.BannedBytes))
	o.ObserveInt64(m.limitDrop, i64(tr.LimitDroppedBytes))
	o.ObserveInt64(m.sendDrop, i64(st.Conns.SendDropped))
	o.ObserveInt64(m.delivered, i64(st.Events.Delivered))
	o.ObserveInt64(m.dropped, i64(st.Events.Dropped))
	hits := st.LimitHits()
	for i, name := range limitNames {
		o.ObserveInt64(m.limits, i64(hits[name]), metric.WithAttributeSet(m.limitBy[i]))
	}
	o.ObserveInt64(m.refusedIn, i64(st.Sockets.SendsRefused))
	return nil
}

// LimitHits returns the limit hits by limit name (LimitMaxConns, LimitMaxPeers,
// LimitMaxInbound, LimitMaxBuffered, LimitSendHighWater, LimitMaxSend),
// every name present.
// It only reads s: safe for concurrent use.
func (s Stats) LimitHits() map[string]uint64 {
	out := map[string]uint64{
		LimitMaxConns:   s.Conns.ConnLimitHits,
		LimitMaxPeers:   s.Conns.PeerLimitHits,
		LimitMaxInbound: s.Sockets.LimitHits[LimitMaxInbound] + s.Conns.LimitHits - s.Conns.ConnLimitHits - s.Conns.PeerLimitHits,
	}
	for _, name := range []string{LimitMaxBuffered, LimitSendHighWater, LimitMaxSend} {
		out[name] = s.Sockets.LimitHits[name]
	}
	return out
}
