package servers

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"syscall"
	"time"

	"github.com/panjf2000/gnet/v2"
	"github.com/panjf2000/gnet/v2/pkg/logging"
)

func init() {
	Register("gnet", 0, "raw gnet v2 echo: multicore, OnTraffic does c.Next(-1) then c.Write (the baseline)",
		func() Server { return &gnetServer{} })
}

// gnetServer is the baseline: the smallest correct gnet v2 echo server.
type gnetServer struct {
	gnet.BuiltinEventEngine

	ctl    *Control
	eng    gnet.Engine
	booted chan struct{}
	done   chan error
}

// Start runs the gnet engine on its own goroutine and returns once it has
// booted.
func (s *gnetServer) Start(ctx context.Context, cfg Config) (net.Addr, error) {
	s.ctl = cfg.Control
	s.booted = make(chan struct{})
	s.done = make(chan error, 1)
	// gnet's package-level logger writes to stdout, where the server role's
	// protocol lines go: send gnet's chatter to stderr, warnings and up.
	logger := stderrLogger{}
	logging.SetDefaultLoggerAndFlusher(logger, nil)
	go func() {
		s.done <- gnet.Run(s, "tcp://"+cfg.Listen,
			gnet.WithMulticore(true),
			gnet.WithLogger(logger),
			gnet.WithLogLevel(logging.ErrorLevel))
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
	return s.boundAddr()
}

// boundAddr asks the kernel for the listener's address through a duplicate
// of its descriptor: gnet keeps the listener to itself.
func (s *gnetServer) boundAddr() (net.Addr, error) {
	fd, err := s.eng.Dup()
	if err != nil {
		return nil, fmt.Errorf("gnet listener dup: %w", err)
	}
	defer syscall.Close(fd)
	sa, err := syscall.Getsockname(fd)
	if err != nil {
		return nil, fmt.Errorf("getsockname: %w", err)
	}
	switch a := sa.(type) {
	case *syscall.SockaddrInet4:
		return &net.TCPAddr{IP: net.IP(a.Addr[:]).To16(), Port: a.Port}, nil
	case *syscall.SockaddrInet6:
		return &net.TCPAddr{IP: net.IP(a.Addr[:]), Port: a.Port}, nil
	}
	return nil, fmt.Errorf("unexpected listener address type %T", sa)
}

// OnBoot implements gnet.EventHandler.
func (s *gnetServer) OnBoot(eng gnet.Engine) gnet.Action {
	s.eng = eng
	close(s.booted)
	return gnet.None
}

// OnTraffic implements gnet.EventHandler: echo everything readable.
func (s *gnetServer) OnTraffic(c gnet.Conn) gnet.Action {
	buf, _ := c.Next(-1)
	if _, err := c.Write(buf); err != nil {
		return gnet.Close
	}
	return gnet.None
}

// OnClose implements gnet.EventHandler: the close callback stands in for an
// FD_CLOSE subscriber when the harness asks for close records.
func (s *gnetServer) OnClose(c gnet.Conn, _ error) gnet.Action {
	if s.ctl != nil {
		now := time.Now().UnixNano()
		remote := ""
		if ra := c.RemoteAddr(); ra != nil {
			remote = ra.String()
		}
		s.ctl.RecordClose(uint64(c.Fd()), remote, now, 0)
	}
	return gnet.None
}

// Stop stops the engine and returns once gnet.Run has returned. (gnet's
// Engine.Stop polls for the end every 500 ms; it is left to finish on its
// own so that a stop does not cost half a second.)
func (s *gnetServer) Stop(ctx context.Context) error {
	go func() { _ = s.eng.Stop(ctx) }()
	select {
	case runErr := <-s.done:
		return runErr
	case <-ctx.Done():
		return ctx.Err()
	}
}

// stderrLogger is a gnet logging.Logger that prints warnings and errors on
// stderr and drops debug and info lines.
type stderrLogger struct{}

func (stderrLogger) Debugf(string, ...any) {}
func (stderrLogger) Infof(string, ...any)  {}
func (stderrLogger) Warnf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "gnet warning: "+format+"\n", args...)
}
func (stderrLogger) Errorf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "gnet error: "+format+"\n", args...)
}
func (stderrLogger) Fatalf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "gnet fatal: "+format+"\n", args...)
	os.Exit(1)
}
