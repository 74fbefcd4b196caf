package runtime_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	otelprom "go.opentelemetry.io/otel/exporters/prometheus"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"

	"github.com/sockactor/sockactor/actors"
	"github.com/sockactor/sockactor/events"
	"github.com/sockactor/sockactor/internal/socktest"
	sockrt "github.com/sockactor/sockactor/runtime"
	"github.com/sockactor/sockactor/winsock"
)

// promServer is a MeterProvider exported through the OpenTelemetry
// Prometheus exporter (default options: the name translation a user gets)
// and served over HTTP, as examples/echo -metrics serves it.
type promServer struct {
	mp  *sdkmetric.MeterProvider
	url string
}

func newPromServer(t *testing.T) *promServer {
	t.Helper()
	reg := prometheus.NewRegistry()
	exp, err := otelprom.New(otelprom.WithRegisterer(reg))
	if err != nil {
		t.Fatal(err)
	}
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(exp))
	srv := httptest.NewServer(promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	t.Cleanup(func() {
		srv.Close()
		_ = mp.Shutdown(context.Background())
	})
	return &promServer{mp: mp, url: srv.URL + "/metrics"}
}

// scrape GETs /metrics and parses the text format.
func (p *promServer) scrape(t *testing.T) map[string]*dto.MetricFamily {
	t.Helper()
	// No keep-alive: the scrape leaves no descriptor open behind it.
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := client.Get(p.url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(strings.NewReader(string(body)))
	if err != nil {
		t.Fatalf("parse /metrics: %v\n%s", err, body)
	}
	return fams
}

// samples returns fam's series by their labels ("k=v,...", sorted; "" for
// none) other than the exporter's otel_scope_* ones, checking that
// otel_scope_name is the runtime's MeterName.
func samples(t *testing.T, fam *dto.MetricFamily) map[string]float64 {
	t.Helper()
	out := map[string]float64{}
	for _, m := range fam.GetMetric() {
		var ls []string
		scope := ""
		for _, lp := range m.GetLabel() {
			if strings.HasPrefix(lp.GetName(), "otel_scope_") {
				if lp.GetName() == "otel_scope_name" {
					scope = lp.GetValue()
				}
				continue
			}
			ls = append(ls, lp.GetName()+"="+lp.GetValue())
		}
		if scope != sockrt.MeterName {
			t.Errorf("%s: otel_scope_name %q, want %q", fam.GetName(), scope, sockrt.MeterName)
		}
		sort.Strings(ls)
		var v float64
		switch {
		case m.GetCounter() != nil:
			v = m.GetCounter().GetValue()
		case m.GetGauge() != nil:
			v = m.GetGauge().GetValue()
		default:
			t.Errorf("%s: neither counter nor gauge", fam.GetName())
		}
		out[strings.Join(ls, ",")] = v
	}
	return out
}

// metricHandler echoes, and closes its socket once the peer has sent FIN.
var metricHandler = actors.HandlerFunc(func(c *actors.Context) {
	switch m := c.Message().(type) {
	case *actors.Received:
		_, _ = c.Write(m.Data)
	case *events.Event:
		if m.EventKind() == events.FDClose && m.Reason == "peer-close" {
			c.Close()
		}
	}
})

// TestMetricsScrape drives real traffic through a runtime whose metrics go
// through the OpenTelemetry Prometheus exporter, scrapes /metrics over HTTP
// and checks every sockactor metric by its exact Prometheus name, type and
// value, each label value included.
func TestMetricsScrape(t *testing.T) {
	prom := newPromServer(t)
	fds := fdCount(t)
	rt, err := sockrt.New(sockrt.Options{
		EventLoops:    2,
		Linger:        -1, // release at once: sockets_open drops to 0 deterministically
		MaxConns:      1,
		MaxSend:       64,
		BanPolicy:     actors.BanDiscard,
		MeterProvider: prom.mp,
	})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := rt.Listen("tcp://127.0.0.1:0", metricHandler, actors.ListenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := ctx5(t)
	if err := rt.Start(ctx); err != nil {
		t.Fatal(err)
	}
	shut := false
	t.Cleanup(func() {
		if !shut {
			_ = rt.Shutdown(context.Background())
		}
		socktest.WaitFor(t, "descriptors to be released", func() bool { return fdCount(t) <= fds })
	})
	rec := newRecorder(t, rt.System())
	if err := rt.Subscribe(rec.PID, events.MaskOf(events.FDAccept, events.FDClose)); err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()

	// Socket 1: 5 bytes echoed; a Send over MaxSend (refused, max_send);
	// a subscriber that does not exist (its FD_CLOSE is dropped); the
	// receive ban under discard, then 7 banned bytes.
	c1 := dial(t, addr)
	id1 := rec.Accepted(t, 1)
	pid1 := rt.SocketPID(id1)
	if got := roundTrip(t, c1, "hello"); got != "hello" {
		t.Fatalf("echo %q", got)
	}
	if _, err := rt.Send(ctx, pid1, make([]byte, 65)); !errors.Is(err, winsock.ErrMsgSize) {
		t.Fatalf("Send over MaxSend: %v", err)
	}
	ghost := actor.NewPID(rt.System().Address(), "no-such-subscriber")
	if err := rt.Caller.Subscribe(ctx, pid1, ghost, events.MaskOf(events.FDClose)); err != nil {
		t.Fatal(err)
	}
	if _, err := rt.RecvDisconnect(ctx, pid1); err != nil {
		t.Fatal(err)
	}
	if _, err := c1.Write([]byte("banned!")); err != nil {
		t.Fatal(err)
	}
	socktest.WaitFor(t, "7 banned bytes", func() bool {
		info, err := rt.Info(ctx, pid1)
		return err == nil && info.BannedBytes == 7
	})

	// Socket 2: over MaxConns (1), accepted and reset at once (so fast
	// that the client's connect may already report the reset).
	if c2, err := net.DialTimeout("tcp", addr, 5*time.Second); err == nil {
		defer c2.Close()
	}
	id2 := rec.Accepted(t, 2)
	if ev := rec.CloseEvent(t, id2); ev.Reason != "limit" {
		t.Fatalf("socket 2 closed with %q, want limit", ev.Reason)
	}

	// Socket 1 ends with the client's FIN (peer-close); the handler closes.
	_ = c1.CloseWrite()
	if ev := rec.CloseEvent(t, id1); ev.Reason != "peer-close" {
		t.Fatalf("socket 1 closed with %q", ev.Reason)
	}
	socktest.WaitFor(t, "no connection open", func() bool { return rt.Stats().Conns.Open == 0 })

	// Socket 3: 3 bytes echoed, then the client resets it (peer-reset).
	c3 := dial(t, addr)
	id3 := rec.Accepted(t, 3)
	if got := roundTrip(t, c3, "abc"); got != "abc" {
		t.Fatalf("echo %q", got)
	}
	_ = c3.SetLinger(0)
	_ = c3.Close()
	if ev := rec.CloseEvent(t, id3); ev.Reason != "peer-reset" {
		t.Fatalf("socket 3 closed with %q", ev.Reason)
	}
	socktest.WaitFor(t, "every socket released", func() bool { return rt.Stats().Sockets.Open == 0 })

	reasons := map[string]float64{"peer-close": 1, "peer-reset": 1, "limit": 1}
	closed := map[string]float64{}
	for _, r := range []string{"peer-close", "peer-reset", "local-close", "local-abort", "recv-ban", "timeout", "limit", "shutdown", "truncated", "protocol-error"} {
		closed["reason="+r] = reasons[r]
	}
	want := map[string]struct {
		typ    dto.MetricType
		series map[string]float64
	}{
		"sockactor_sockets_open":              {dto.MetricType_GAUGE, map[string]float64{"": 0}},
		"sockactor_sockets_accepted_total":    {dto.MetricType_COUNTER, map[string]float64{"": 3}},
		"sockactor_sockets_closed_total":      {dto.MetricType_COUNTER, closed},
		"sockactor_bytes_received_total":      {dto.MetricType_COUNTER, map[string]float64{"": 5 + 7 + 3}},
		"sockactor_bytes_sent_total":          {dto.MetricType_COUNTER, map[string]float64{"": 5 + 3}},
		"sockactor_banned_bytes_total":        {dto.MetricType_COUNTER, map[string]float64{"": 7}},
		"sockactor_limit_dropped_bytes_total": {dto.MetricType_COUNTER, map[string]float64{"": 0}},
		"sockactor_send_dropped_bytes_total":  {dto.MetricType_COUNTER, map[string]float64{"": 0}},
		"sockactor_events_delivered_total":    {dto.MetricType_COUNTER, map[string]float64{"": 6}}, // 3 FD_ACCEPT + 3 FD_CLOSE to rec
		"sockactor_events_dropped_total":      {dto.MetricType_COUNTER, map[string]float64{"": 1}}, // the ghost's FD_CLOSE
		"sockactor_limit_hits_total": {dto.MetricType_COUNTER, map[string]float64{
			"limit=max_conns": 1, "limit=max_inbound": 0, "limit=max_buffered": 0, "limit=max_peers": 0, "limit=send_high_water": 0, "limit=max_send": 1,
		}},
		"sockactor_sends_refused_total": {dto.MetricType_COUNTER, map[string]float64{"": 1}},
	}

	fams := prom.scrape(t)
	var names []string
	for name := range fams {
		if strings.HasPrefix(name, "sockactor") {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	var wantNames []string
	for name := range want {
		wantNames = append(wantNames, name)
	}
	slices.Sort(wantNames)
	if !slices.Equal(names, wantNames) {
		t.Fatalf("sockactor metrics scraped:\n  %v\nwant exactly\n  %v", names, wantNames)
	}
	for name, w := range want {
		fam := fams[name]
		if fam.GetType() != w.typ {
			t.Errorf("%s: type %v, want %v", name, fam.GetType(), w.typ)
		}
		if got := samples(t, fam); !mapsEqual(got, w.series) {
			t.Errorf("%s = %v, want %v", name, got, w.series)
		}
	}

	// The same numbers in Stats, as text and JSON.
	st := rt.Stats()
	if s := st.String(); !strings.Contains(s, "accepted=3") || !strings.Contains(s, "peer-reset=1") || !strings.Contains(s, "max_conns=1") {
		t.Errorf("Stats.String() = %q", s)
	}
	var decoded map[string]map[string]any
	js, err := json.Marshal(st)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(js, &decoded); err != nil {
		t.Fatal(err)
	}
	if decoded["sockets"]["accepted"] != 3.0 || decoded["events"]["delivered"] != 6.0 || decoded["limit_hits"]["max_send"] != 1.0 ||
		decoded["events"]["seq"] != float64(st.Events.Seq) || decoded["remote"]["address"] != st.Remote.Address {
		t.Errorf("Stats JSON = %s", js)
	}

	// A runtime that has shut down reports nothing any more.
	shut = true
	if err := rt.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	for name := range prom.scrape(t) {
		if strings.HasPrefix(name, "sockactor") {
			t.Errorf("%s still exported after Shutdown", name)
		}
	}
}

func mapsEqual(a, b map[string]float64) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}
