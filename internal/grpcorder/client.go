package grpcorder

import (
	"context"
	"net"
	"strings"
	"sync/atomic"

	"google.golang.org/grpc"
)

// The client side. A gRPC client's goroutines read the logger too, and
// they outlive what they serve: a transport whose peer went away (a
// remote node stopped, etcd restarted) is closed by its reader goroutine,
// which logs the close (reading the logger) and then closes its socket,
// and nothing in the process waits for that goroutine. A later Start's
// write of the logger would then race with that read (the race detector
// reported it between two tests of one process).
//
// DialOption orders them: every connection a client dials through it takes
// starts.mu once when it is dialed and once when it is closed. gRPC closes
// a transport's socket after the close's logging, and a client dials again
// only from the balancer's handling of the lost transport (after its
// logging too), so whatever those goroutines read before is ordered
// before the next Start, and a Start in progress makes them wait for its
// end (it holds starts.mu for its pokes and remote.Start, bounded by
// pokeWait per server). Not covered: what a live client logs between
// its dial and its close, such as the warning of a failed dial, which a
// client retrying a dead peer logs after the dial returns. So a process
// should start its remotes before they carry traffic, not while a client
// of its own retries.

// DialOption returns the dial option that orders a gRPC client's
// connections with Start: the remote nodes' clients and the fleet's etcd
// client use it. It dials TCP (host:port) and unix ("unix:path",
// "unix:///abs/path") addresses as gRPC's default dialer does, without a
// proxy. Safe for concurrent use.
func DialOption() grpc.DialOption {
	return grpc.WithContextDialer(dial)
}

// dial is the context dialer of DialOption. Goroutine: gRPC's (an
// addrConn's connect).
func dial(ctx context.Context, addr string) (net.Conn, error) {
	order()
	network, address := "tcp", addr
	if rest, ok := strings.CutPrefix(addr, "unix://"); ok {
		network, address = "unix", rest
	} else if rest, ok := strings.CutPrefix(addr, "unix:"); ok {
		network, address = "unix", rest
	}
	var d net.Dialer
	c, err := d.DialContext(ctx, network, address)
	if err != nil {
		return nil, err
	}
	return &orderedConn{Conn: c}, nil
}

// order takes starts.mu and lets it go: what the calling goroutine did
// before is ordered before any later Start, and any Start in progress
// ends first.
func order() {
	starts.mu.Lock()
	starts.mu.Unlock() //nolint:staticcheck // an empty critical section is the point: ordering
}

// orderedConn is a dialed connection whose Close orders with Start.
type orderedConn struct {
	net.Conn
}

// closes counts the Close calls of ordered connections (tests wait on it).
var closes atomic.Int64

// Close orders the closing goroutine's past with later Starts, then
// closes the connection. Goroutine: gRPC's (a transport's reader, or the
// client's Close).
func (c *orderedConn) Close() error {
	order()
	closes.Add(1)
	return c.Conn.Close()
}
