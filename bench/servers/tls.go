package servers

import (
	"context"
	"crypto/tls"
	"errors"
	"log/slog"
	"net"
	"os"
	goruntime "runtime"
	"runtime/pprof"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/sockactor/sockactor/actors"
	"github.com/sockactor/sockactor/events"
	"github.com/sockactor/sockactor/internal/tlsdemo"
	sockrt "github.com/sockactor/sockactor/runtime"
)

// ModeTLS is the mode of the tls scenario: the server is a TLS 1.3 echo
// server on tcp, its certificate a fresh self-signed ECDSA P-256 one
// (internal/tlsdemo). The baseline is stdlib: crypto/tls over net, one
// goroutine per connection, the handshake on that goroutine within
// TLSHandshakeTimeout. The sockactor servers listen on tls:// with the
// runtime's defaults (MaxTLSHandshakes 1,024, TLSHandshakeTimeout 10 s).
// Other servers have no TLS mode (unsupported).
const ModeTLS = "tls"

// TLSHandshakeTimeout bounds the stdlib server's handshake, as the
// runtime's default TLSHandshakeTimeout bounds the sockactor servers'.
const TLSHandshakeTimeout = 10 * time.Second

// TLSProfileEnv names an environment variable: when set, each TLS server
// writes a CPU profile of its whole life (Start to Stop) to the file
// $TLSProfileEnv.<server>.<pid>, for go tool pprof. The harness passes its
// environment to the servers it starts.
const TLSProfileEnv = "SOCKACTOR_BENCH_TLS_CPUPROFILE"

// tlsProfile starts the CPU profile TLSProfileEnv asks for, if any, and
// returns its stop (a no-op when none).
func tlsProfile(server string) func() error {
	prefix := os.Getenv(TLSProfileEnv)
	if prefix == "" {
		return func() error { return nil }
	}
	f, err := os.Create(prefix + "." + server + "." + strconv.Itoa(os.Getpid()))
	if err != nil {
		return func() error { return err }
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		_ = f.Close()
		return func() error { return err }
	}
	return func() error { pprof.StopCPUProfile(); return f.Close() }
}

// TLSCounts is the reply to the side channel's tls command: the server's
// TLS handshake counters (for sockactor, runtime Stats().TLS).
type TLSCounts struct {
	Handshakes uint64 `json:"handshakes"` // completed
	Failed     uint64 `json:"failed"`     // failed or timed out
	Refused    uint64 `json:"refused"`    // reset over the handshake bound (sockactor: the oldest handshake is evicted)
	InFlight   int64  `json:"in_flight"`  // handshakes running now
}

// TLSCounter is implemented by the servers of the tls mode.
type TLSCounter interface {
	TLSCounts() TLSCounts
}

// NewTLS returns a fresh TLS echo server for the server name: stdlib and
// the two sockactor dispatch modes have one; any other name gets a server
// whose Start reports it unsupported.
func NewTLS(name string) (Server, error) {
	switch Canonical(name) {
	case "stdlib":
		return &stdlibTLSServer{}, nil
	case "sockactor-inline":
		return &sockactorTLSServer{dispatch: actors.Inline}, nil
	case "sockactor-pooled":
		return &sockactorTLSServer{dispatch: actors.Pooled}, nil
	}
	if _, err := New(name); err != nil {
		return nil, err
	}
	return noTLS(name), nil
}

// noTLS is a server without a TLS mode.
type noTLS string

func (s noTLS) Start(context.Context, Config) (net.Addr, error) {
	return nil, unsupported("%s has no %s mode", string(s), ModeTLS)
}
func (noTLS) Stop(context.Context) error { return nil }

// tlsServerConfig is the configuration of every TLS server of the bench:
// a fresh self-signed P-256 certificate, TLS 1.3 only, Go's defaults
// otherwise (session tickets are sent, but the bench's clients keep no
// session cache, so every handshake is a full one).
func tlsServerConfig() (*tls.Config, error) {
	cert, err := tlsdemo.SelfSigned("sockactor bench", "127.0.0.1")
	if err != nil {
		return nil, err
	}
	return &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS13}, nil
}

// stdlibTLSServer is the everyday Go TLS echo server: crypto/tls over a
// net listener, a goroutine per connection that runs its handshake (within
// TLSHandshakeTimeout) and then reads into a 4 KiB buffer and writes back.
type stdlibTLSServer struct {
	ln      net.Listener
	cfg     *tls.Config
	conns   connSet
	done    chan error
	profile func() error

	handshakes, failed atomic.Uint64
	inFlight           atomic.Int64
}

// Start binds the listener and starts the accept loop.
func (s *stdlibTLSServer) Start(ctx context.Context, cfg Config) (net.Addr, error) {
	if cfg.network() != NetTCP {
		return nil, unsupported("%s mode is over tcp only, not %s", ModeTLS, cfg.network())
	}
	tcfg, err := tlsServerConfig()
	if err != nil {
		return nil, err
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", cfg.Listen)
	if err != nil {
		return nil, err
	}
	s.ln, s.cfg = ln, tcfg
	s.profile = tlsProfile("stdlib")
	s.done = make(chan error, 1)
	go func() { s.done <- acceptLoop(ln, &s.conns, s.serve) }()
	return ln.Addr(), nil
}

func (s *stdlibTLSServer) serve(_ uint64, raw net.Conn) {
	defer raw.Close()
	c := tls.Server(raw, s.cfg)
	s.inFlight.Add(1)
	_ = c.SetDeadline(time.Now().Add(TLSHandshakeTimeout))
	err := c.Handshake()
	s.inFlight.Add(-1)
	if err != nil {
		s.failed.Add(1)
		return
	}
	s.handshakes.Add(1)
	_ = c.SetDeadline(time.Time{})
	buf := make([]byte, stdlibReadBuffer)
	for {
		n, err := c.Read(buf)
		if n > 0 {
			if _, werr := c.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// TLSCounts implements TLSCounter.
func (s *stdlibTLSServer) TLSCounts() TLSCounts {
	return TLSCounts{Handshakes: s.handshakes.Load(), Failed: s.failed.Load(), InFlight: s.inFlight.Load()}
}

// Stop closes the listener and every connection.
func (s *stdlibTLSServer) Stop(ctx context.Context) error {
	err := s.ln.Close()
	s.conns.closeAll()
	select {
	case aerr := <-s.done:
		return errors.Join(err, aerr, s.profile())
	case <-ctx.Done():
		return errors.Join(err, ctx.Err(), s.profile())
	}
}

// sockactorTLSServer is the sockactor echo on a tls:// listener, its
// runtime configured as the echo servers' (as many loops as CPUs) with the
// runtime's TLS defaults.
type sockactorTLSServer struct {
	dispatch actors.Dispatch
	rt       *sockrt.Runtime
	profile  func() error
}

// Start builds the runtime, declares the tls:// listener and starts.
func (s *sockactorTLSServer) Start(ctx context.Context, cfg Config) (net.Addr, error) {
	if cfg.network() != NetTCP {
		return nil, unsupported("%s mode is over tcp only, not %s", ModeTLS, cfg.network())
	}
	tcfg, err := tlsServerConfig()
	if err != nil {
		return nil, err
	}
	rt, err := sockrt.New(sockrt.Options{
		Logger:     slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
		EventLoops: goruntime.NumCPU(),
	})
	if err != nil {
		return nil, err
	}
	s.rt = rt
	ln, err := rt.Listen("tls://"+cfg.Listen, actors.HandlerFunc(tlsEcho),
		actors.ListenOptions{Dispatch: s.dispatch, RecycleReads: true, TLS: tcfg})
	if err == nil {
		err = rt.Start(ctx)
	}
	if err != nil {
		_ = rt.Shutdown(ctx)
		return nil, err
	}
	addr, err := listenerAddr(NetTCP, ln.Listener.Addr(), cfg.Listen)
	if err != nil {
		_ = rt.Shutdown(ctx)
		return nil, err
	}
	name := "sockactor-inline"
	if s.dispatch == actors.Pooled {
		name = "sockactor-pooled"
	}
	s.profile = tlsProfile(name)
	return addr, nil
}

// tlsEcho is the handler of the tls mode: the echo server's (plaintext
// in, the same plaintext out), and a close once the peer has closed,
// with close_notify or without.
func tlsEcho(c *actors.Context) {
	switch m := c.Message().(type) {
	case *actors.Received:
		_, _ = c.Write(m.Data)
	case *events.Event:
		if events.Kind(m.Kind) == events.FDClose {
			c.Send(c.Self(), &actors.Close{})
		}
	}
}

// TLSCounts implements TLSCounter: the runtime's TLS counters.
func (s *sockactorTLSServer) TLSCounts() TLSCounts {
	st := s.rt.Stats().TLS
	return TLSCounts{Handshakes: st.Handshakes, Failed: st.HandshakeFailed, Refused: st.HandshakeEvicted, InFlight: st.Handshaking}
}

// Stop shuts the runtime down.
func (s *sockactorTLSServer) Stop(ctx context.Context) error {
	return errors.Join(s.rt.Shutdown(ctx), s.profile())
}
