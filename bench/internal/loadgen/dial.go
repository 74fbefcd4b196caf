package loadgen

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// ErrNotLoopback is returned for a target outside 127.0.0.0/8 and ::1: the
// bench only ever sends traffic to this machine.
var ErrNotLoopback = errors.New("target is not a loopback address")

// ResolveLoopback resolves target (host:port) and checks that it is a
// loopback address.
func ResolveLoopback(target string) (*net.TCPAddr, error) {
	host, _, err := net.SplitHostPort(target)
	if err != nil {
		return nil, err
	}
	addr, err := net.ResolveTCPAddr("tcp", target)
	if err != nil {
		return nil, err
	}
	if !addr.IP.IsLoopback() {
		return nil, fmt.Errorf("%w: %s (%s)", ErrNotLoopback, host, addr.IP)
	}
	return addr, nil
}

// Dialer opens connections to a loopback target, spreading them over
// several source addresses (127.0.0.2, 127.0.0.3, ...) so that tens of
// thousands of connections do not exhaust one address's ephemeral ports.
type Dialer struct {
	target  *net.TCPAddr
	sources []*net.TCPAddr
	timeout time.Duration
	next    atomic.Uint64
}

// NewDialer returns a Dialer for target using up to sources source
// addresses (0: let the kernel choose). Source spreading applies to IPv4
// targets only.
func NewDialer(target string, sources int, timeout time.Duration) (*Dialer, error) {
	addr, err := ResolveLoopback(target)
	if err != nil {
		return nil, err
	}
	d := &Dialer{target: addr, timeout: timeout}
	if addr.IP.To4() != nil {
		for i := range sources {
			if i >= 250 {
				break
			}
			d.sources = append(d.sources, &net.TCPAddr{IP: net.IPv4(127, 0, 0, byte(2+i))})
		}
	}
	return d, nil
}

// ipBindAddressNoPort is Linux's IP_BIND_ADDRESS_NO_PORT: binding a
// source address does not reserve a port; connect picks one that is unique
// for the whole 4-tuple, and may reuse TIME_WAIT ports on loopback. Without
// it every bind reserves a port of the source address outright, and churn
// runs out of them.
const ipBindAddressNoPort = 24

// bindNoPort sets IP_BIND_ADDRESS_NO_PORT on the socket being dialled.
func bindNoPort(_, _ string, rc syscall.RawConn) error {
	var serr error
	err := rc.Control(func(fd uintptr) {
		serr = syscall.SetsockoptInt(int(fd), syscall.IPPROTO_IP, ipBindAddressNoPort, 1)
	})
	if err != nil {
		return err
	}
	return serr
}

// Dial opens one connection, taking the next source address in turn.
func (d *Dialer) Dial(ctx context.Context) (*net.TCPConn, error) {
	nd := net.Dialer{Timeout: d.timeout}
	if len(d.sources) > 0 {
		nd.LocalAddr = d.sources[d.next.Add(1)%uint64(len(d.sources))]
		nd.Control = bindNoPort
	}
	c, err := nd.DialContext(ctx, "tcp", d.target.String())
	if err != nil {
		return nil, err
	}
	return c.(*net.TCPConn), nil
}

// DialAll opens n connections with at most par dials in flight, running
// init (when not nil) on each as soon as it is open. On the first error it
// closes everything it opened and returns that error.
func (d *Dialer) DialAll(ctx context.Context, n, par int, init func(i int, c *net.TCPConn) error) ([]*net.TCPConn, error) {
	return dialParallel(ctx, n, par, d.Dial, init, closeAll)
}

// dialParallel opens n connections with dial, at most par at a time,
// running init (when not nil) on each as soon as it is open. On the first
// error it closes everything opened (with closeAll) and returns that error.
func dialParallel[C interface{ Close() error }](ctx context.Context, n, par int, dial func(context.Context) (C, error),
	init func(i int, c C) error, closeAll func([]C)) ([]C, error) {
	conns := make([]C, n)
	opened := make([]bool, n)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		firstErr error
		next     atomic.Int64
	)
	for range min(max(par, 1), n) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= n || ctx.Err() != nil {
					return
				}
				c, err := dial(ctx)
				if err == nil && init != nil {
					if err = init(i, c); err != nil {
						_ = c.Close()
					}
				}
				if err != nil {
					mu.Lock()
					if firstErr == nil {
						firstErr = fmt.Errorf("connection %d of %d: %w", i+1, n, err)
					}
					mu.Unlock()
					cancel()
					return
				}
				conns[i], opened[i] = c, true
			}
		}()
	}
	wg.Wait()
	if firstErr == nil && slices.Contains(opened, false) {
		firstErr = fmt.Errorf("%d connections: %w", n, context.Cause(ctx)) // the caller's ctx ended
	}
	if firstErr != nil {
		var open []C
		for i, c := range conns {
			if opened[i] {
				open = append(open, c)
			}
		}
		closeAll(open)
		return nil, firstErr
	}
	return conns, nil
}

// closeAll closes every non-nil connection with a reset (SO_LINGER 0):
// the end of a run is not measured, and a graceful close would leave every
// connection in TIME_WAIT on our side, so that a few runs of ten thousand
// connections would exhaust the ephemeral ports of the source addresses.
func closeAll(conns []*net.TCPConn) {
	for _, c := range conns {
		if c != nil {
			_ = c.SetLinger(0)
			_ = c.Close()
		}
	}
}

// DialUnixAll opens n connections to the unix socket at path with at most
// par dials in flight. On the first error it closes everything it opened
// and returns that error.
func DialUnixAll(ctx context.Context, path string, n, par int, timeout time.Duration) ([]net.Conn, error) {
	nd := net.Dialer{Timeout: timeout}
	dial := func(ctx context.Context) (net.Conn, error) { return nd.DialContext(ctx, "unix", path) }
	return dialParallel(ctx, n, par, dial, nil, closeConns)
}

// closeConns closes every non-nil connection, TCP ones with a reset as
// closeAll does.
func closeConns(conns []net.Conn) {
	for _, c := range conns {
		switch c := c.(type) {
		case nil:
		case *net.TCPConn:
			if c != nil {
				_ = c.SetLinger(0)
				_ = c.Close()
			}
		default:
			_ = c.Close()
		}
	}
}
