package servers

import (
	"context"
	"net"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	otelprom "go.opentelemetry.io/otel/exporters/prometheus"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"

	"github.com/sockactor/sockactor/actors"
)

func init() {
	RegisterOptional("sockactor-inline-metrics", 31,
		"sockactor-inline with its metrics exported through OpenTelemetry's Prometheus exporter and gathered every second",
		func() Server { return &metricsServer{sockactorServer: sockactorServer{dispatch: actors.Inline}} })
}

// scrapeEvery is how often the metrics server gathers its metrics: far
// more often than a Prometheus server would (15 s is usual), so that any
// cost of collecting shows.
const scrapeEvery = time.Second

// metricsServer is sockactorServer with an OpenTelemetry MeterProvider
// (the Prometheus exporter's reader) and a goroutine that gathers the
// registry every scrapeEvery, as an HTTP scrape would, without the HTTP.
type metricsServer struct {
	sockactorServer
	mp   *sdkmetric.MeterProvider
	stop chan struct{}
	done chan struct{}
}

func (s *metricsServer) Start(ctx context.Context, cfg Config) (net.Addr, error) {
	reg := prometheus.NewRegistry()
	exp, err := otelprom.New(otelprom.WithRegisterer(reg))
	if err != nil {
		return nil, err
	}
	s.mp = sdkmetric.NewMeterProvider(sdkmetric.WithReader(exp))
	s.meterProvider = s.mp
	addr, err := s.sockactorServer.Start(ctx, cfg)
	if err != nil {
		return nil, err
	}
	s.stop, s.done = make(chan struct{}), make(chan struct{})
	go func() {
		defer close(s.done)
		t := time.NewTicker(scrapeEvery)
		defer t.Stop()
		for {
			select {
			case <-s.stop:
				return
			case <-t.C:
				_, _ = reg.Gather()
			}
		}
	}()
	return addr, nil
}

func (s *metricsServer) Stop(ctx context.Context) error {
	close(s.stop)
	<-s.done
	err := s.sockactorServer.Stop(ctx)
	_ = s.mp.Shutdown(ctx)
	return err
}
