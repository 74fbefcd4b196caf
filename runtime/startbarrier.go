package runtime

import (
	"net"
	"slices"
	"sync"
	"time"

	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
)

// protoactor's remote.Start sets gRPC's process-wide logger
// (grpclog.SetLoggerV2) without synchronization, while every gRPC
// goroutine already running in the process reads it: a second remote in
// one process is a data race (one the race detector reports). The start
// barrier orders those accesses, for remotes started before they carry
// traffic:
//
//   - every server started here hands each accepted connection to
//     barrierCreds.ServerHandshake, the first thing gRPC does on it: the
//     handshake tells a waiting starter that it runs (so everything its
//     server goroutine did before is ordered before the starter goes on),
//     then waits for any Start in progress to end (so everything it and its
//     connection do later is ordered after that Start);
//   - a Start takes starts.mu, pokes every server already started (one TCP
//     connection each) and waits for its handshake, then runs remote.Start.
//
// Connections made before a later Start are not covered: start every
// remote of a process before they talk to each other.

var starts struct {
	mu      sync.Mutex // held for the whole of a Start
	servers []*barrierCreds
}

// pokeWait bounds how long a Start waits for a server to answer its poke.
const pokeWait = 2 * time.Second

// barrierCreds is the servers' transport credentials: insecure (as remote's
// default), plus the barrier.
type barrierCreds struct {
	credentials.TransportCredentials
	addr  string        // the server's listening address, set once started
	poked chan struct{} // one token per handshake, for a waiting Start
}

func newBarrierCreds() *barrierCreds {
	return &barrierCreds{TransportCredentials: insecure.NewCredentials(), poked: make(chan struct{}, 1)}
}

// ServerHandshake runs on the goroutine gRPC starts for an accepted
// connection.
func (c *barrierCreds) ServerHandshake(conn net.Conn) (net.Conn, credentials.AuthInfo, error) {
	select {
	case c.poked <- struct{}{}:
	default:
	}
	starts.mu.Lock() // a Start in progress ends first
	starts.mu.Unlock()
	return c.TransportCredentials.ServerHandshake(conn)
}

// Clone keeps the barrier (gRPC clones credentials it is given).
func (c *barrierCreds) Clone() credentials.TransportCredentials { return c }

// barrierStart runs start (a remote.Start) behind the barrier; addr
// returns the server's address once started. Goroutine: any.
func barrierStart(c *barrierCreds, start func() (addr string, err error)) error {
	starts.mu.Lock()
	defer starts.mu.Unlock()
	for _, s := range starts.servers {
		select { // a stale token from an earlier connection
		case <-s.poked:
		default:
		}
		conn, err := net.DialTimeout("tcp", s.addr, pokeWait)
		if err != nil {
			continue // stopping: nothing of it runs any more
		}
		select {
		case <-s.poked:
		case <-time.After(pokeWait):
		}
		conn.Close()
	}
	addr, err := start()
	if err != nil {
		return err
	}
	c.addr = addr
	starts.servers = append(starts.servers, c)
	return nil
}

// barrierForget removes a stopped server from the barrier.
func barrierForget(c *barrierCreds) {
	starts.mu.Lock()
	starts.servers = slices.DeleteFunc(starts.servers, func(s *barrierCreds) bool { return s == c })
	starts.mu.Unlock()
}
