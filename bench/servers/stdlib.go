package servers

import (
	"context"
	"errors"
	"net"
	"time"
)

func init() {
	Register("stdlib", 10, "net package, one goroutine per connection, 4 KiB read buffer",
		func() Server { return &stdlibServer{} })
}

// stdlibReadBuffer is the per-connection read buffer of the stdlib and naive
// servers: the size net/http's bufio reader uses.
const stdlibReadBuffer = 4 << 10

// stdlibServer is the everyday Go echo server: a goroutine per connection
// that reads into its buffer and writes it back.
type stdlibServer struct {
	ln    net.Listener
	ctl   *Control
	conns connSet
	done  chan error
}

// Start binds the listener and starts the accept loop.
func (s *stdlibServer) Start(ctx context.Context, cfg Config) (net.Addr, error) {
	if cfg.network() != NetTCP {
		return nil, unsupported("this server serves tcp only, not %s", cfg.network())
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", cfg.Listen)
	if err != nil {
		return nil, err
	}
	s.ln, s.ctl = ln, cfg.Control
	s.done = make(chan error, 1)
	go func() { s.done <- acceptLoop(ln, &s.conns, s.serve) }()
	return ln.Addr(), nil
}

func (s *stdlibServer) serve(id uint64, c net.Conn) {
	defer c.Close()
	buf := make([]byte, stdlibReadBuffer)
	for {
		n, err := c.Read(buf)
		if n > 0 {
			if _, werr := c.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			if s.ctl != nil {
				s.ctl.RecordClose(id, c.RemoteAddr().String(), time.Now().UnixNano(), 0)
			}
			return
		}
	}
}

// Stop closes the listener and every connection.
func (s *stdlibServer) Stop(ctx context.Context) error {
	err := s.ln.Close()
	s.conns.closeAll()
	select {
	case aerr := <-s.done:
		return errors.Join(err, aerr)
	case <-ctx.Done():
		return errors.Join(err, ctx.Err())
	}
}
