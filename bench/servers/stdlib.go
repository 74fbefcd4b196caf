package servers

import (
	"context"
	"errors"
	"io"
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
	flood int // bytes written to each accepted connection (flood-writer mode), 0 to echo
	conns connSet
	done  chan error
}

// Start binds the listener and starts the accept loop.
func (s *stdlibServer) Start(ctx context.Context, cfg Config) (net.Addr, error) {
	if cfg.network() != NetTCP {
		return nil, unsupported("this server serves tcp only, not %s", cfg.network())
	}
	if err := checkMode("stdlib", cfg, true); err != nil {
		return nil, err
	}
	serve := s.serve
	if cfg.Mode == ModeFloodWriter {
		s.flood, serve = cfg.floodBytes(), s.serveFlood
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", cfg.Listen)
	if err != nil {
		return nil, err
	}
	s.ln, s.ctl = ln, cfg.Control
	s.done = make(chan error, 1)
	go func() { s.done <- acceptLoop(ln, &s.conns, serve) }()
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

// serveFlood is the flood writer's goroutine: blocking writes of
// FloodChunk bytes (the goroutine parks in the netpoller while the socket
// is full), then reads, discarded, until the connection ends.
func (s *stdlibServer) serveFlood(_ uint64, c net.Conn) {
	defer c.Close()
	for left := s.flood; left > 0; {
		n := min(left, FloodChunk)
		if _, err := c.Write(floodBuf[:n]); err != nil {
			return
		}
		left -= n
	}
	_, _ = io.Copy(io.Discard, c)
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
