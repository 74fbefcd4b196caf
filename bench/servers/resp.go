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
	"github.com/sockactor/sockactor/examples/redis/resp"
	sockrt "github.com/sockactor/sockactor/runtime"
)

// ModeRESP is the resp scenario's mode: the server speaks RESP2 (Redis)
// with examples/redis/resp, not echo. Only the raw gnet server and the
// sockactor servers have it (NewMode).
const ModeRESP = "resp"

// NewMode returns a fresh server registered under name, for mode: in
// ModeRESP the RESP server of that name (gnet: gnet v2 directly, a
// resp.Session per connection in OnTraffic, the baseline;
// sockactor-inline and sockactor-pooled: examples/redis's handler,
// resp.Handler), an *UnsupportedError for any other; otherwise New(name).
func NewMode(name, mode string) (Server, error) {
	if mode != ModeRESP {
		return New(name)
	}
	switch Canonical(name) {
	case "gnet":
		return &gnetRESP{}, nil
	case "sockactor-inline":
		return &sockactorRESP{dispatch: actors.Inline}, nil
	case "sockactor-pooled":
		return &sockactorRESP{dispatch: actors.Pooled}, nil
	}
	return nil, unsupported("%s has no %s mode", name, ModeRESP)
}

// gnetRESP is the RESP baseline: raw gnet v2, multicore, each connection's
// resp.Session in its context; OnTraffic serves all it can read and writes
// the replies at once, as the sockactor handler does.
type gnetRESP struct {
	gnet.BuiltinEventEngine

	store  *resp.Store
	eng    gnet.Engine
	booted chan struct{}
	done   chan error
}

type gnetRESPConn struct {
	sess *resp.Session
	out  []byte
}

// Start runs the engine on its own goroutine and returns once it has
// booted.
func (s *gnetRESP) Start(ctx context.Context, cfg Config) (net.Addr, error) {
	if cfg.network() != NetTCP {
		return nil, unsupported("%s mode is over tcp only, not %s", ModeRESP, cfg.network())
	}
	s.store = resp.NewStore(0)
	s.booted, s.done = make(chan struct{}), make(chan error, 1)
	logger := stderrLogger{}
	logging.SetDefaultLoggerAndFlusher(logger, nil)
	go func() {
		s.done <- gnet.Run(s, "tcp://"+cfg.Listen, gnet.WithMulticore(true),
			gnet.WithLogger(logger), gnet.WithLogLevel(logging.ErrorLevel))
	}()
	select {
	case <-s.booted:
	case err := <-s.done:
		if err == nil {
			err = errors.New("gnet engine stopped before booting")
		}
		return nil, err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	return (&gnetServer{eng: s.eng, network: NetTCP}).boundAddr()
}

// OnBoot implements gnet.EventHandler.
func (s *gnetRESP) OnBoot(eng gnet.Engine) gnet.Action {
	s.eng = eng
	close(s.booted)
	return gnet.None
}

// OnOpen implements gnet.EventHandler: a session per connection.
func (s *gnetRESP) OnOpen(c gnet.Conn) ([]byte, gnet.Action) {
	c.SetContext(&gnetRESPConn{sess: resp.NewSession(s.store)})
	return nil, gnet.None
}

// OnTraffic implements gnet.EventHandler: every command read, its replies
// in one write; close after a protocol error or QUIT.
func (s *gnetRESP) OnTraffic(c gnet.Conn) gnet.Action {
	st := c.Context().(*gnetRESPConn)
	buf, _ := c.Next(-1)
	var err error
	st.out, err = st.sess.Serve(buf, st.out[:0])
	if len(st.out) > 0 {
		if _, werr := c.Write(st.out); werr != nil {
			return gnet.Close
		}
	}
	if err != nil {
		return gnet.Close
	}
	return gnet.None
}

// Stop stops the engine and waits for gnet.Run to return.
func (s *gnetRESP) Stop(ctx context.Context) error {
	go func() { _ = s.eng.Stop(ctx) }()
	select {
	case err := <-s.done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// sockactorRESP is examples/redis on the bench's terms: one runtime with as
// many loops as raw gnet, one listener whose handler is resp.Handler.
type sockactorRESP struct {
	dispatch actors.Dispatch
	rt       *sockrt.Runtime
}

// Start builds the runtime, declares the listener and starts.
func (s *sockactorRESP) Start(ctx context.Context, cfg Config) (net.Addr, error) {
	if cfg.network() != NetTCP {
		return nil, unsupported("%s mode is over tcp only, not %s", ModeRESP, cfg.network())
	}
	rt, err := sockrt.New(sockrt.Options{
		Logger:     slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
		EventLoops: goruntime.NumCPU(), // as many as raw gnet's WithMulticore
	})
	if err != nil {
		return nil, err
	}
	s.rt = rt
	ln, err := rt.Listen("tcp://"+cfg.Listen, resp.Handler(resp.NewStore(0)), actors.ListenOptions{Dispatch: s.dispatch})
	if err == nil {
		err = rt.Start(ctx)
	}
	if err != nil {
		_ = rt.Shutdown(context.Background())
		return nil, err
	}
	return ln.Addr(), nil
}

// Stop shuts the runtime down.
func (s *sockactorRESP) Stop(ctx context.Context) error { return s.rt.Shutdown(ctx) }
