package fleet

import (
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	"google.golang.org/grpc"

	"github.com/sockactor/sockactor/internal/grpcorder"
)

// Defaults for Config.
const (
	// DefaultPrefix is the key prefix a fleet registers under.
	DefaultPrefix = "/sockactor/fleet/"
	// DefaultTTL is the lease TTL of a registration: a gateway that stops
	// keeping its lease alive (dead, hung, cut off from etcd) leaves the
	// fleet this long after its last keep-alive.
	DefaultTTL = 5 * time.Second
	// DefaultRequestTimeout bounds one etcd request, and a watcher's
	// snapshot request to a gateway.
	DefaultRequestTimeout = 5 * time.Second
)

// Named errors, matched with errors.Is.
var (
	// ErrConfig: a Config or an option that makes no sense.
	ErrConfig = errors.New("fleet: invalid configuration")
	// ErrNoRemote: the actor system has no protoactor remote, so no other
	// node can reach it.
	ErrNoRemote = errors.New("fleet: the actor system runs no remote")
	// ErrClosed: the Registration or Watcher is closed.
	ErrClosed = errors.New("fleet: closed")
	// ErrRevoke: Close could not revoke the lease (etcd unreachable before
	// the context ended); the registration then ends when its TTL runs out.
	ErrRevoke = errors.New("fleet: lease not revoked")
)

// Config says where the fleet lives: the etcd cluster and the key prefix.
// The zero value of each field but Endpoints means its default. A Config is
// read once, by Register or NewWatcher; it is not modified.
type Config struct {
	// Endpoints are the etcd client URLs ("http://127.0.0.1:2379"), at
	// least one.
	Endpoints []string
	// Prefix is the key prefix of the fleet (DefaultPrefix if ""); each
	// gateway is the key Prefix + its remote address.
	Prefix string
	// TTL is a registration's lease TTL (DefaultTTL if 0; at least 1 s:
	// etcd counts in seconds, and raises a TTL below 1.5 of its election
	// timeouts).
	TTL time.Duration
	// RequestTimeout bounds one etcd request and a watcher's snapshot
	// request (DefaultRequestTimeout if 0).
	RequestTimeout time.Duration
	// TLS, Username and Password are passed to the etcd client as they are.
	TLS                *tls.Config
	Username, Password string
	// Logger gets the package's few lines (registration lost and made
	// again, etcd unreachable) at Info and Debug; nil means slog.Default().
	// The etcd client's own logging is off.
	Logger *slog.Logger
}

// Validate reports the first field that makes no sense, wrapping ErrConfig.
func (c Config) Validate() error {
	switch {
	case len(c.Endpoints) == 0:
		return fmt.Errorf("%w: Endpoints is empty", ErrConfig)
	case c.TTL < 0 || (c.TTL > 0 && c.TTL < time.Second):
		return fmt.Errorf("%w: TTL %v is below 1 s", ErrConfig, c.TTL)
	case c.RequestTimeout < 0:
		return fmt.Errorf("%w: RequestTimeout is negative", ErrConfig)
	case c.Prefix != "" && !strings.HasSuffix(c.Prefix, "/"):
		return fmt.Errorf("%w: Prefix %q does not end with /", ErrConfig, c.Prefix)
	}
	return nil
}

func (c Config) prefix() string {
	if c.Prefix == "" {
		return DefaultPrefix
	}
	return c.Prefix
}

func (c Config) ttl() time.Duration {
	if c.TTL == 0 {
		return DefaultTTL
	}
	return c.TTL
}

func (c Config) requestTimeout() time.Duration {
	if c.RequestTimeout == 0 {
		return DefaultRequestTimeout
	}
	return c.RequestTimeout
}

func (c Config) logger() *slog.Logger {
	if c.Logger == nil {
		return slog.Default()
	}
	return c.Logger
}

// client makes an etcd client that does not wait for a connection: a node
// whose etcd is down starts and serves all the same.
func (c Config) client() (*clientv3.Client, error) {
	cli, err := clientv3.New(clientv3.Config{
		Endpoints:            c.Endpoints,
		TLS:                  c.TLS,
		Username:             c.Username,
		Password:             c.Password,
		DialKeepAliveTime:    c.ttl(),
		DialKeepAliveTimeout: c.ttl(),
		Logger:               zap.NewNop(),
		// Its connections ordered with the remotes' starts in this
		// process (internal/grpcorder).
		DialOptions: []grpc.DialOption{grpcorder.DialOption()},
	})
	if err != nil {
		return nil, fmt.Errorf("%w: etcd client: %w", ErrConfig, err)
	}
	return cli, nil
}
