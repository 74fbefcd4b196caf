package servers

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"os"
	goruntime "runtime"

	"github.com/panjf2000/gnet/v2"
	"github.com/panjf2000/gnet/v2/pkg/logging"

	"github.com/sockactor/sockactor/actors"
	"github.com/sockactor/sockactor/examples/http/h1"
	"github.com/sockactor/sockactor/examples/http/server"
	sockrt "github.com/sockactor/sockactor/runtime"
)

// ModeHTTP is the mode of the http scenario: the server is an HTTP/1.1
// server (GET /plaintext, GET /json, POST /echo) instead of an echo. The
// sockactor servers run examples/http's own handler (server.Handler); the
// raw gnet one runs the same h1 protocol package and routes (h1.Conn,
// server.Route) straight in gnet's OnTraffic, the baseline. Other servers
// have no HTTP mode (unsupported).
const ModeHTTP = "http"

// NewHTTP returns a fresh HTTP server for the server name: gnet and the two
// sockactor dispatch modes have one; any other name gets a server whose
// Start reports it unsupported.
func NewHTTP(name string) (Server, error) {
	switch Canonical(name) {
	case "gnet":
		return &gnetHTTPServer{}, nil
	case "sockactor-inline":
		return &sockactorHTTPServer{dispatch: actors.Inline}, nil
	case "sockactor-pooled":
		return &sockactorHTTPServer{dispatch: actors.Pooled}, nil
	}
	if _, err := New(name); err != nil {
		return nil, err
	}
	return noHTTP(name), nil
}

// noHTTP is a server without an HTTP mode.
type noHTTP string

func (s noHTTP) Start(context.Context, Config) (net.Addr, error) {
	return nil, unsupported("%s has no %s mode", string(s), ModeHTTP)
}
func (noHTTP) Stop(context.Context) error { return nil }

// gnetHTTPServer is the HTTP baseline: gnet v2 directly, multicore, each
// connection an h1.Conn in its context, each OnTraffic one Serve and one
// Write.
type gnetHTTPServer struct {
	gnet.BuiltinEventEngine
	addr   gnetServer // its boundAddr, on this engine
	booted chan struct{}
	done   chan error
}

// Start runs the engine and returns once it has booted.
func (s *gnetHTTPServer) Start(ctx context.Context, cfg Config) (net.Addr, error) {
	if cfg.network() != NetTCP {
		return nil, unsupported("%s mode is over tcp only, not %s", ModeHTTP, cfg.network())
	}
	logger := stderrLogger{}
	logging.SetDefaultLoggerAndFlusher(logger, nil)
	s.addr.network = NetTCP
	s.booted, s.done = make(chan struct{}), make(chan error, 1)
	go func() {
		s.done <- gnet.Run(s, "tcp://"+cfg.Listen, gnet.WithMulticore(true),
			gnet.WithLogger(logger), gnet.WithLogLevel(logging.ErrorLevel))
	}()
	select {
	case <-s.booted:
		return s.addr.boundAddr()
	case err := <-s.done:
		if err == nil {
			err = errors.New("gnet engine stopped before booting")
		}
		return nil, err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// OnBoot implements gnet.EventHandler.
func (s *gnetHTTPServer) OnBoot(eng gnet.Engine) gnet.Action {
	s.addr.eng = eng
	close(s.booted)
	return gnet.None
}

// OnOpen implements gnet.EventHandler: the connection's HTTP state.
func (s *gnetHTTPServer) OnOpen(c gnet.Conn) ([]byte, gnet.Action) {
	c.SetContext(h1.NewConn(server.Route))
	return nil, gnet.None
}

// OnTraffic implements gnet.EventHandler: what is readable, served; the
// replies in one write.
func (s *gnetHTTPServer) OnTraffic(c gnet.Conn) gnet.Action {
	hc := c.Context().(*h1.Conn)
	buf, _ := c.Next(-1)
	out, closeAfter := hc.Serve(buf)
	if len(out) > 0 {
		if _, err := c.Write(out); err != nil {
			return gnet.Close
		}
	}
	if closeAfter {
		return gnet.Close
	}
	return gnet.None
}

// Stop stops the engine (see gnetServer.Stop).
func (s *gnetHTTPServer) Stop(ctx context.Context) error {
	go func() { _ = s.addr.eng.Stop(ctx) }()
	select {
	case err := <-s.done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// sockactorHTTPServer is examples/http on a runtime configured as the echo
// servers are (as many loops as gnet's multicore).
type sockactorHTTPServer struct {
	dispatch actors.Dispatch
	rt       *sockrt.Runtime
}

// Start builds the runtime, declares the listener with examples/http's
// handler and starts.
func (s *sockactorHTTPServer) Start(ctx context.Context, cfg Config) (net.Addr, error) {
	if cfg.network() != NetTCP {
		return nil, unsupported("%s mode is over tcp only, not %s", ModeHTTP, cfg.network())
	}
	rt, err := sockrt.New(sockrt.Options{
		Logger:     slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
		EventLoops: goruntime.NumCPU(),
	})
	if err != nil {
		return nil, err
	}
	s.rt = rt
	ln, err := rt.Listen("tcp://"+cfg.Listen, server.Handler(), actors.ListenOptions{Dispatch: s.dispatch})
	if err == nil {
		err = rt.Start(ctx)
	}
	if err != nil {
		_ = rt.Shutdown(ctx)
		return nil, err
	}
	addr := ln.Addr()
	if addr == nil {
		_ = rt.Shutdown(ctx)
		return nil, errors.New("listener has no address after Start")
	}
	return addr, nil
}

// Stop shuts the runtime down.
func (s *sockactorHTTPServer) Stop(ctx context.Context) error { return s.rt.Shutdown(ctx) }
