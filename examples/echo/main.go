// Command echo is a sockactor echo server: every byte a client sends comes
// back. Each connection is a socket actor on a gnet event loop.
//
//	go run ./examples/echo -listen 127.0.0.1:7000 -dispatch inline|pooled -metrics 127.0.0.1:9100
//	go run ./examples/echo -listen unix:///tmp/echo.sock
//	go run ./examples/echo -listen udp://127.0.0.1:7000
//	go run ./examples/echo -listen tls://127.0.0.1:7443 [-cert cert.pem -key key.pem]
//
// It prints "listening <host:port>" as its first line (the real port when
// given port 0), or "listening <path>" for a unix domain socket; that line
// is the same for every network, for scripts. On stderr it then names the
// network for people: "<network> echo on <addr>" ("udp echo on
// 127.0.0.1:7000"). Over UDP every datagram goes back to its sender, one
// for one. With -metrics it also serves the runtime's metrics in the
// Prometheus text format (through the OpenTelemetry Prometheus exporter)
// and prints "metrics http://<host:port>/metrics" as its second line. It
// runs until SIGINT or SIGTERM, then shuts down gracefully.
//
// Over tls:// it serves TLS (TLS 1.2 and 1.3, ALPN "echo") with the
// certificate of -cert and -key, or without them a self-signed demo
// certificate made at start for 127.0.0.1, ::1 and localhost, whose SHA-256
// fingerprint it prints on stderr ("tls certificate sha256 AB:CD:…") for
// clients to pin.
//
// Drive it without nc: go run ./examples/client -addr 127.0.0.1:7000 (type
// lines, read the echo; -addr takes udp://host:port, unix:///path and
// tls://host:port too, with -fingerprint to pin the demo certificate).
package main

import (
	"context"
	"crypto/tls"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/sockactor/sockactor/examples/internal/echo"
	"github.com/sockactor/sockactor/internal/command"
	"github.com/sockactor/sockactor/internal/tlsdemo"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	otelprom "go.opentelemetry.io/otel/exporters/prometheus"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"

	"github.com/sockactor/sockactor/actors"
	sockrt "github.com/sockactor/sockactor/runtime"
)

func main() {
	command.Main("echo", func(ctx context.Context, args []string) error {
		return run(ctx, args, os.Stdout, os.Stderr)
	})
}

// run is the whole command: it parses args, serves until ctx is done, then
// shuts down gracefully.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("echo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	listen := fs.String("listen", "127.0.0.1:7000", "address to listen on: host:port (TCP), tcp://host:port, tls://host:port, udp://host:port or unix:///path")
	certFile := fs.String("cert", "", "tls://: the certificate chain (PEM); empty: a self-signed demo certificate")
	keyFile := fs.String("key", "", "tls://: the private key of -cert (PEM)")
	dispatch := fs.String("dispatch", "inline", "handler dispatch: inline or pooled")
	loops := fs.Int("loops", 0, "event loops (0 = GOMAXPROCS; Start then gives each a spare P, see sockrt.SuggestedGOMAXPROCS)")
	metricsAddr := fs.String("metrics", "", "serve Prometheus /metrics on this host:port (empty: off)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	d, err := actors.ParseDispatch(*dispatch)
	if err != nil {
		return err
	}

	opts := sockrt.Options{EventLoops: *loops}
	var metrics *metricsServer
	if *metricsAddr != "" {
		if metrics, err = newMetricsServer(*metricsAddr); err != nil {
			return err
		}
		defer metrics.close()
		opts.MeterProvider = metrics.provider
	}
	rt, err := sockrt.New(opts)
	if err != nil {
		return err
	}
	addr := *listen
	if !strings.Contains(addr, "://") {
		addr = "tcp://" + addr // host:port is TCP
	}
	lopts := actors.ListenOptions{Dispatch: d}
	if strings.HasPrefix(addr, "tls://") {
		cert, err := loadCert(*certFile, *keyFile)
		if err != nil {
			_ = rt.Shutdown(context.Background())
			return err
		}
		if *certFile == "" {
			fmt.Fprintf(stderr, "tls certificate sha256 %s (self-signed demo certificate)\n", tlsdemo.Fingerprint(cert))
		}
		lopts.TLS = &tls.Config{Certificates: []tls.Certificate{cert}, NextProtos: []string{"echo"}}
	} else if *certFile != "" || *keyFile != "" {
		_ = rt.Shutdown(context.Background())
		return fmt.Errorf("-cert and -key are for a tls:// address")
	}
	ln, err := rt.Listen(addr, echo.Handler, lopts)
	if err == nil {
		err = rt.Start(ctx)
	}
	if err != nil {
		_ = rt.Shutdown(context.Background())
		return err
	}
	fmt.Fprintf(stdout, "listening %s\n", ln.Addr())
	fmt.Fprintf(stderr, "%s echo on %s\n", ln.Network(), ln.Addr())
	if metrics != nil {
		fmt.Fprintf(stdout, "metrics http://%s/metrics\n", metrics.addr)
		go metrics.serve()
	}

	<-ctx.Done()
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return rt.Shutdown(sctx)
}

// loadCert loads -cert and -key, or makes the demo certificate when both
// are empty.
func loadCert(certFile, keyFile string) (tls.Certificate, error) {
	switch {
	case certFile == "" && keyFile == "":
		return tlsdemo.SelfSigned("sockactor echo demo")
	case certFile == "" || keyFile == "":
		return tls.Certificate{}, fmt.Errorf("-cert and -key go together")
	}
	return tls.LoadX509KeyPair(certFile, keyFile)
}

// metricsServer serves a MeterProvider's metrics at /metrics, in the
// Prometheus text format.
type metricsServer struct {
	provider *sdkmetric.MeterProvider
	lis      net.Listener
	addr     string
	srv      *http.Server
}

func newMetricsServer(addr string) (*metricsServer, error) {
	reg := prometheus.NewRegistry()
	exp, err := otelprom.New(otelprom.WithRegisterer(reg))
	if err != nil {
		return nil, err
	}
	lis, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	return &metricsServer{
		provider: sdkmetric.NewMeterProvider(sdkmetric.WithReader(exp)),
		lis:      lis,
		addr:     lis.Addr().String(),
		srv:      &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second},
	}, nil
}

func (m *metricsServer) serve() { _ = m.srv.Serve(m.lis) }

func (m *metricsServer) close() {
	_ = m.srv.Close()
	_ = m.lis.Close()
	_ = m.provider.Shutdown(context.Background())
}
