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
	Register("gnet", 0, "raw gnet v2 echo: multicore, OnTraffic does c.Next(-1) then c.Write (the baseline; also over udp:// and unix://)",
		func() Server { return &gnetServer{} })
}

// udpReserveAttempts bounds the retries of a UDP start whose reserved port
// was taken by someone else before gnet bound it.
const udpReserveAttempts = 3

// gnetServer is the baseline: the smallest correct gnet v2 echo server.
type gnetServer struct {
	gnet.BuiltinEventEngine

	ctl     *Control
	network string
	flood   int // bytes written to each accepted connection (flood-writer mode), 0 to echo
	eng     gnet.Engine
	booted  chan struct{}
	done    chan error
}

// Start runs the gnet engine on its own goroutine and returns once it has
// booted.
//
// The same OnTraffic serves every network. Over UDP gnet hands each
// datagram to OnTraffic as a conn whose Write sends one datagram back to
// its sender, so the handler is a datagram echo. gnet forces SO_REUSEPORT
// on UDP listeners and, multicore, binds one socket per event loop: with
// port 0 every loop would get a port of its own, and the first loop's port
// would serve only the first loop. The UDP server therefore reserves a
// concrete port first and binds every loop to it, keeping the same loop
// count as TCP (one per CPU, as the sockactor runtime's default): the
// kernel spreads peers over the loops by their address hash, as it spreads
// TCP connections over the loops.
func (s *gnetServer) Start(ctx context.Context, cfg Config) (net.Addr, error) {
	s.ctl = cfg.Control
	s.network = cfg.network()
	if err := checkMode("gnet", cfg, ModeFloodWriter); err != nil {
		return nil, err
	}
	if cfg.Mode == ModeFloodWriter {
		s.flood = cfg.floodBytes()
	}
	// gnet's package-level logger writes to stdout, where the server role's
	// protocol lines go: send gnet's chatter to stderr, warnings and up.
	logger := stderrLogger{}
	logging.SetDefaultLoggerAndFlusher(logger, nil)
	for attempt := 1; ; attempt++ {
		var protoAddr string
		switch s.network {
		case NetTCP:
			protoAddr = "tcp://" + cfg.Listen
		case NetUnix:
			protoAddr = "unix://" + cfg.Listen
		case NetUDP:
			listen, err := reserveUDPPort(cfg.Listen)
			if err != nil {
				return nil, err
			}
			protoAddr = "udp://" + listen
		default:
			return nil, unsupported("gnet server: network %q", s.network)
		}
		err := s.run(ctx, s, protoAddr, logger)
		if err == nil {
			return s.boundAddr()
		}
		if s.network != NetUDP || !errors.Is(err, syscall.EADDRINUSE) || attempt >= udpReserveAttempts {
			return nil, err
		}
	}
}

// run starts gnet on protoAddr with h, s itself or a server embedding it
// (its OnBoot is s's), and waits for its boot.
func (s *gnetServer) run(ctx context.Context, h gnet.EventHandler, protoAddr string, logger logging.Logger) error {
	s.booted = make(chan struct{})
	s.done = make(chan error, 1)
	go func() {
		s.done <- gnet.Run(h, protoAddr,
			gnet.WithMulticore(true),
			gnet.WithLogger(logger),
			gnet.WithLogLevel(logging.ErrorLevel))
	}()
	select {
	case <-s.booted:
		return nil
	case err := <-s.done:
		if err == nil {
			err = errors.New("gnet engine stopped before booting")
		}
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// reserveUDPPort returns listen with a concrete port: when its port is 0,
// one the kernel picks for a throw-away socket, closed at once (it has no
// SO_REUSEPORT and would keep gnet's sockets from binding).
func reserveUDPPort(listen string) (string, error) {
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return "", err
	}
	if port != "0" {
		return listen, nil
	}
	pc, err := net.ListenPacket("udp", net.JoinHostPort(host, "0"))
	if err != nil {
		return "", fmt.Errorf("reserve a UDP port: %w", err)
	}
	addr := pc.LocalAddr().String()
	if err := pc.Close(); err != nil {
		return "", err
	}
	return addr, nil
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
	var ip net.IP
	var port int
	switch a := sa.(type) {
	case *syscall.SockaddrInet4:
		ip, port = net.IP(a.Addr[:]).To16(), a.Port
	case *syscall.SockaddrInet6:
		ip, port = net.IP(a.Addr[:]), a.Port
	case *syscall.SockaddrUnix:
		return &net.UnixAddr{Name: a.Name, Net: "unix"}, nil
	default:
		return nil, fmt.Errorf("unexpected listener address type %T", sa)
	}
	if s.network == NetUDP {
		return &net.UDPAddr{IP: ip, Port: port}, nil
	}
	return &net.TCPAddr{IP: ip, Port: port}, nil
}

// OnBoot implements gnet.EventHandler.
func (s *gnetServer) OnBoot(eng gnet.Engine) gnet.Action {
	s.eng = eng
	close(s.booted)
	return gnet.None
}

// OnOpen implements gnet.EventHandler: in flood-writer mode, the whole
// flood at once, in FloodChunk writes. gnet writes what the socket takes
// and copies the rest into the connection's outbound buffer, which has no
// bound: the flood total is the bound.
func (s *gnetServer) OnOpen(c gnet.Conn) ([]byte, gnet.Action) {
	for left := s.flood; left > 0; {
		n := min(left, FloodChunk)
		if _, err := c.Write(floodBuf[:n]); err != nil {
			return nil, gnet.Close
		}
		left -= n
	}
	return nil, gnet.None
}

// OnTraffic implements gnet.EventHandler: echo everything readable (over
// UDP: the datagram, to its sender; gnet ignores the returned action for
// a datagram). A flood writer discards what it reads.
func (s *gnetServer) OnTraffic(c gnet.Conn) gnet.Action {
	if s.flood > 0 {
		_, _ = c.Discard(-1)
		return gnet.None
	}
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
