package embedetcd

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"sync"
	"time"

	"go.etcd.io/etcd/server/v3/embed"
	"go.uber.org/zap"
)

// ErrNotReady is returned by Start when the server did not become ready
// before the context ended or it failed to start.
var ErrNotReady = errors.New("embedetcd: server not ready")

// Config configures a Server (a value: Start copies it). The zero value of
// each field means its default.
type Config struct {
	// Dir is the data directory (required). A server started again on the
	// same Dir (and the same addresses) finds its keys and leases again.
	Dir string
	// ClientAddr and PeerAddr are the host:port of the client and peer
	// listeners; "" picks a free port on 127.0.0.1.
	ClientAddr, PeerAddr string
	// TickMs and ElectionMs are raft's heartbeat and election timeout (50
	// and 500 ms if 0: short, so that a lease TTL of 1 s is honoured; etcd
	// raises a TTL below 1.5 election timeouts).
	TickMs, ElectionMs uint
	// LogLevel is the server's zap level ("none" if "": no log at all;
	// "error", "warn", "info" or "debug" log to stderr).
	LogLevel string
}

// NewConfig returns a Config for dir with its two addresses picked now
// (free ports on 127.0.0.1), so that the endpoints are known before the
// server starts. Safe for concurrent use.
func NewConfig(dir string) (Config, error) {
	cfg := Config{Dir: dir}
	var err error
	if cfg.ClientAddr, err = freeAddr(); err != nil {
		return cfg, err
	}
	cfg.PeerAddr, err = freeAddr()
	return cfg, err
}

// Endpoints returns the client URLs of a server with this Config ("" for
// a ClientAddr still to be picked).
func (c Config) Endpoints() []string {
	if c.ClientAddr == "" {
		return nil
	}
	return []string{"http://" + c.ClientAddr}
}

// Server is a running embedded etcd. Its methods are safe for concurrent
// use; Close is idempotent.
type Server struct {
	cfg  Config
	e    *embed.Etcd
	once sync.Once
	err  error
}

// Start starts a server and waits until it serves clients or ctx ends; the
// caller owns the Server and closes it. Safe for concurrent use with
// different directories and ports.
// Errors: ErrNotReady (wrapped with the cause), or the configuration's.
func Start(ctx context.Context, cfg Config) (*Server, error) {
	if cfg.Dir == "" {
		return nil, errors.New("embedetcd: Config.Dir is required")
	}
	var err error
	if cfg.ClientAddr == "" {
		if cfg.ClientAddr, err = freeAddr(); err != nil {
			return nil, err
		}
	}
	if cfg.PeerAddr == "" {
		if cfg.PeerAddr, err = freeAddr(); err != nil {
			return nil, err
		}
	}
	if cfg.TickMs == 0 {
		cfg.TickMs = 50
	}
	if cfg.ElectionMs == 0 {
		cfg.ElectionMs = 500
	}
	if cfg.LogLevel == "" {
		cfg.LogLevel = "none"
	}
	ec := embed.NewConfig()
	ec.Name = "sockactor-embedded"
	ec.Dir = cfg.Dir
	ec.LogLevel = cfg.LogLevel
	if cfg.LogLevel == "none" {
		ec.LogLevel = "error"
		ec.ZapLoggerBuilder = embed.NewZapLoggerBuilder(zap.NewNop())
	}
	ec.TickMs, ec.ElectionMs = cfg.TickMs, cfg.ElectionMs
	cu := url.URL{Scheme: "http", Host: cfg.ClientAddr}
	pu := url.URL{Scheme: "http", Host: cfg.PeerAddr}
	ec.ListenClientUrls, ec.AdvertiseClientUrls = []url.URL{cu}, []url.URL{cu}
	ec.ListenPeerUrls, ec.AdvertisePeerUrls = []url.URL{pu}, []url.URL{pu}
	ec.InitialCluster = ec.InitialClusterFromName(ec.Name)
	e, err := embed.StartEtcd(ec)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrNotReady, err)
	}
	s := &Server{cfg: cfg, e: e}
	select {
	case <-e.Server.ReadyNotify():
		return s, nil
	case err := <-e.Err():
		s.Close()
		return nil, fmt.Errorf("%w: %w", ErrNotReady, err)
	case <-ctx.Done():
		s.Close()
		return nil, fmt.Errorf("%w: %w", ErrNotReady, ctx.Err())
	}
}

// Endpoints returns the client URLs to give an etcd client
// (fleet.Config.Endpoints).
func (s *Server) Endpoints() []string { return s.cfg.Endpoints() }

// Config returns the configuration the server runs with (its ports
// filled in), to start it again on the same addresses and data.
func (s *Server) Config() Config { return s.cfg }

// Close stops the server and waits for it. It waits for its clients'
// open streams (watches, lease keep-alives) up to etcd's request timeout
// (5 s + 2 election timeouts: 6 s by default here): close the clients
// first for a quick stop. Idempotent.
func (s *Server) Close() error {
	s.once.Do(func() {
		done := make(chan struct{})
		go func() { defer close(done); s.e.Close() }()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			s.err = errors.New("embedetcd: the server did not stop within 30 s")
		}
	})
	return s.err
}

// freeAddr returns a free loopback host:port.
func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}
