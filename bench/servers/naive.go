package servers

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"time"

	"github.com/asynkron/protoactor-go/actor"
)

func init() {
	Register("naive", 20, "net accept + one protoactor actor per connection fed by a reader goroutine (hand-wired today)",
		func() Server { return &naiveServer{} })
}

// naiveServer is what people wire by hand today to put a socket behind an
// actor: the net package accepts, a reader goroutine per connection reads
// into a fresh copy and sends it to the connection's actor, and the actor
// writes it back.
type naiveServer struct {
	ln     net.Listener
	ctl    *Control
	system *actor.ActorSystem
	conns  connSet
	done   chan error
}

// naiveChunk carries bytes read from the connection to its actor.
type naiveChunk struct{ data []byte }

// naiveClosed tells the actor that the reader saw the connection end.
type naiveClosed struct{}

// naiveConnActor owns one connection's write side.
type naiveConnActor struct {
	id   uint64
	conn net.Conn
	ctl  *Control
}

// Receive implements actor.Actor.
func (a *naiveConnActor) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *naiveChunk:
		if _, err := a.conn.Write(m.data); err != nil {
			_ = a.conn.Close()
		}
	case *naiveClosed:
		if a.ctl != nil {
			a.ctl.RecordClose(a.id, a.conn.RemoteAddr().String(), time.Now().UnixNano(), 0)
		}
		_ = a.conn.Close()
		ctx.Stop(ctx.Self())
	}
}

// Start creates the actor system, binds and starts accepting.
func (s *naiveServer) Start(ctx context.Context, cfg Config) (net.Addr, error) {
	if cfg.network() != NetTCP {
		return nil, unsupported("this server serves tcp only, not %s", cfg.network())
	}
	if err := checkMode("naive", cfg); err != nil {
		return nil, err
	}
	s.system = actor.NewActorSystem(actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger {
		return slog.New(slog.NewTextHandler(io.Discard, nil))
	}))
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", cfg.Listen)
	if err != nil {
		s.system.Shutdown()
		return nil, err
	}
	s.ln, s.ctl = ln, cfg.Control
	s.done = make(chan error, 1)
	go func() { s.done <- acceptLoop(ln, &s.conns, s.serve) }()
	return ln.Addr(), nil
}

// serve is the reader goroutine of one connection.
func (s *naiveServer) serve(id uint64, c net.Conn) {
	a := &naiveConnActor{id: id, conn: c, ctl: s.ctl}
	pid := s.system.Root.Spawn(actor.PropsFromProducer(func() actor.Actor { return a }))
	buf := make([]byte, stdlibReadBuffer)
	for {
		n, err := c.Read(buf)
		if n > 0 {
			data := make([]byte, n)
			copy(data, buf[:n])
			s.system.Root.Send(pid, &naiveChunk{data: data})
		}
		if err != nil {
			s.system.Root.Send(pid, &naiveClosed{})
			return
		}
	}
}

// Stop closes the listener and every connection and shuts the actor system
// down.
func (s *naiveServer) Stop(ctx context.Context) error {
	err := s.ln.Close()
	s.conns.closeAll()
	var aerr error
	select {
	case aerr = <-s.done:
	case <-ctx.Done():
		aerr = ctx.Err()
	}
	s.system.Shutdown()
	return errors.Join(err, aerr)
}
