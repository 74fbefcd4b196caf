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
	sockrt "github.com/sockactor/sockactor/runtime"
)

// A protocol mode (ModeRESP, ModeHTTP) makes the server speak a
// request/response protocol of the examples instead of echo. The sockactor
// servers run the example's own handler; the raw gnet server, the
// baseline, runs the same protocol package straight in gnet's OnTraffic.
// The other servers have no protocol mode.

// protocol is what the servers of one protocol mode run.
type protocol struct {
	mode string
	// gnetConns returns, for one gnet server, the maker of each
	// connection's state (sharing what the server shares: RESP's store).
	gnetConns func() func() protocolConn
	// handler returns the handler of one sockactor server's listener.
	handler func() actors.Handler
}

// protocolConn is one connection's protocol state on raw gnet: Serve takes
// what was read and returns the replies, written at once, and whether to
// close after them.
type protocolConn interface {
	Serve(in []byte) (out []byte, closeAfter bool)
}

// protocols are the protocol modes by name.
var protocols = map[string]protocol{
	ModeRESP: respProtocol,
	ModeHTTP: httpProtocol,
}

// NewMode returns a fresh server registered under name, for mode: in a
// protocol mode (ModeRESP, ModeHTTP) the protocol server of that name (gnet:
// gnet v2 directly, the protocol's connection state in OnTraffic, the
// baseline; sockactor-inline and sockactor-pooled: the example's handler),
// an *UnsupportedError for any other server; otherwise New(name).
func NewMode(name, mode string) (Server, error) {
	if mode == ModeTLS {
		return NewTLS(name) // tls.go
	}
	p, ok := protocols[mode]
	if !ok {
		return New(name)
	}
	switch Canonical(name) {
	case "gnet":
		return &gnetProtocol{proto: p}, nil
	case "sockactor-inline":
		return &sockactorProtocol{proto: p, dispatch: actors.Inline}, nil
	case "sockactor-pooled":
		return &sockactorProtocol{proto: p, dispatch: actors.Pooled}, nil
	}
	if _, err := New(name); err != nil {
		return nil, err
	}
	return nil, unsupported("%s has no %s mode", name, mode)
}

// gnetProtocol is a protocol's baseline: raw gnet v2, multicore (the echo
// gnetServer's engine, boot and stop), each connection's protocolConn in
// its context; OnTraffic serves all it can read and writes the replies at
// once, as the sockactor handlers do.
type gnetProtocol struct {
	gnetServer
	proto   protocol
	newConn func() protocolConn
}

// Start runs the engine on its own goroutine and returns once it has
// booted.
func (s *gnetProtocol) Start(ctx context.Context, cfg Config) (net.Addr, error) {
	if cfg.network() != NetTCP {
		return nil, unsupported("%s mode is over tcp only, not %s", s.proto.mode, cfg.network())
	}
	s.newConn = s.proto.gnetConns()
	s.network = NetTCP
	logger := stderrLogger{}
	logging.SetDefaultLoggerAndFlusher(logger, nil)
	if err := s.run(ctx, s, "tcp://"+cfg.Listen, logger); err != nil {
		return nil, err
	}
	return s.boundAddr()
}

// OnOpen implements gnet.EventHandler: the connection's protocol state.
func (s *gnetProtocol) OnOpen(c gnet.Conn) ([]byte, gnet.Action) {
	c.SetContext(s.newConn())
	return nil, gnet.None
}

// OnTraffic implements gnet.EventHandler: what is readable, served; the
// replies in one write; close after them when the protocol says so.
func (s *gnetProtocol) OnTraffic(c gnet.Conn) gnet.Action {
	buf, _ := c.Next(-1)
	out, closeAfter := c.Context().(protocolConn).Serve(buf)
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

// sockactorProtocol is an example's server on the bench's terms: one
// runtime with as many loops as raw gnet, one listener whose handler is
// the example's.
type sockactorProtocol struct {
	proto    protocol
	dispatch actors.Dispatch
	rt       *sockrt.Runtime
}

// Start builds the runtime, declares the listener and starts.
func (s *sockactorProtocol) Start(ctx context.Context, cfg Config) (net.Addr, error) {
	if cfg.network() != NetTCP {
		return nil, unsupported("%s mode is over tcp only, not %s", s.proto.mode, cfg.network())
	}
	rt, err := sockrt.New(sockrt.Options{
		Logger:     slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
		EventLoops: goruntime.NumCPU(), // as many as raw gnet's WithMulticore
	})
	if err != nil {
		return nil, err
	}
	s.rt = rt
	ln, err := rt.Listen("tcp://"+cfg.Listen, s.proto.handler(), actors.ListenOptions{Dispatch: s.dispatch, RecycleReads: true}) // the handlers keep no Received.Data
	if err == nil {
		err = rt.Start(ctx)
	}
	if err != nil {
		_ = rt.Shutdown(context.Background())
		return nil, err
	}
	addr := ln.Addr()
	if addr == nil {
		_ = rt.Shutdown(context.Background())
		return nil, errors.New("listener has no address after Start")
	}
	return addr, nil
}

// Stop shuts the runtime down.
func (s *sockactorProtocol) Stop(ctx context.Context) error { return s.rt.Shutdown(ctx) }
