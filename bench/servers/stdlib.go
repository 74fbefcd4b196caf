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
	// period is the slow consumer's time per ConsumeChunk; consumed its
	// counters (slow-consumer mode).
	period   time.Duration
	consumed consumerCounts
	conns    connSet
	done     chan error
}

// Start binds the listener and starts the accept loop.
func (s *stdlibServer) Start(ctx context.Context, cfg Config) (net.Addr, error) {
	if cfg.network() != NetTCP {
		return nil, unsupported("this server serves tcp only, not %s", cfg.network())
	}
	if err := checkMode("stdlib", cfg, ModeFloodWriter, ModeSlowConsumer); err != nil {
		return nil, err
	}
	serve := s.serve
	switch cfg.Mode {
	case ModeFloodWriter:
		s.flood, serve = cfg.floodBytes(), s.serveFlood
	case ModeSlowConsumer:
		s.period, serve = cfg.consumePeriod(), s.serveSlow
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

// serveSlow is the slow consumer's goroutine: blocking reads of up to
// ConsumeChunk, each followed by a sleep that keeps the connection at the
// consumer's rate. While it sleeps, the kernel's buffers fill and TCP's
// flow control holds the peer; the server holds nothing but its buffer.
func (s *stdlibServer) serveSlow(_ uint64, c net.Conn) {
	defer c.Close()
	s.consumed.conns.Add(1)
	buf := make([]byte, ConsumeChunk)
	p := pacer{period: s.period}
	for {
		n, err := c.Read(buf)
		s.consumed.bytes.Add(int64(n))
		if err != nil {
			if !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) {
				s.consumed.closed.Add(1) // a reset: not the peer's own close
			}
			return
		}
		time.Sleep(p.after(n))
	}
}

// ConsumerStats implements Consumer.
func (s *stdlibServer) ConsumerStats() ConsumerStats { return s.consumed.stats() }

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
