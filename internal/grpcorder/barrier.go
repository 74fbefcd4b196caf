package grpcorder

import (
	"net"
	"slices"
	"sync"
	"time"

	"golang.org/x/sys/unix"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
)

// The server side. protoactor's remote.Start sets gRPC's process-wide
// logger (grpclog.SetLoggerV2) without synchronization, while every gRPC
// goroutine already running in the process reads it: a second remote in
// one process is a data race (one the race detector reports). The start
// barrier orders those accesses, for remotes started before they carry
// traffic:
//
//   - every server started through Start hands each accepted connection
//     to ServerCreds.ServerHandshake, the first thing gRPC does on it,
//     which waits for any Start in progress to end (so everything the
//     connection does later is ordered after that Start);
//   - a Start takes starts.mu, pokes every server already started (one TCP
//     connection each, from a port it registered first) and waits for the
//     poke's handshake, which tells it that the server's goroutines run (so
//     everything they did before is ordered before the Start goes on); then
//     it runs remote.Start. The handshake gives a poke back to gRPC as
//     dispatched (credentials.ErrConnDispatched) and closes it itself, so
//     the poke's goroutine ends there: gRPC neither logs nor touches the
//     connection again (a poke that failed in gRPC's own way would log,
//     reading the logger, after the Start it belongs to, concurrently with
//     the next one).
//
// The client side is client.go.

var starts struct {
	mu      sync.Mutex // held for the whole of a Start
	servers []*ServerCreds

	pokeMu sync.Mutex       // guards pokes (read by handshakes while a Start holds mu)
	pokes  map[int]struct{} // local ports of the pokes in flight
}

// pokeWait bounds how long a Start waits for a server to answer its poke.
const pokeWait = 2 * time.Second

// ServerCreds is a remote server's transport credentials: insecure (as
// remote's default), plus the barrier. Give it to the server
// (grpc.Creds) and to Start. Safe for concurrent use.
type ServerCreds struct {
	credentials.TransportCredentials
	addr  string        // the server's listening address, set once started
	poked chan struct{} // one token per handshake, for a waiting Start
}

// NewServerCreds returns the credentials of one server to start.
func NewServerCreds() *ServerCreds {
	return &ServerCreds{TransportCredentials: insecure.NewCredentials(), poked: make(chan struct{}, 1)}
}

// ServerHandshake runs on the goroutine gRPC starts for an accepted
// connection.
func (c *ServerCreds) ServerHandshake(conn net.Conn) (net.Conn, credentials.AuthInfo, error) {
	if isPoke(conn.RemoteAddr()) {
		select {
		case c.poked <- struct{}{}:
		default:
		}
		_ = conn.Close()
		return nil, nil, credentials.ErrConnDispatched // gRPC lets go of it, silently
	}
	starts.mu.Lock() // a Start in progress ends first
	starts.mu.Unlock()
	return c.TransportCredentials.ServerHandshake(conn)
}

// isPoke reports whether a connection comes from a poke in flight.
func isPoke(remote net.Addr) bool {
	ta, ok := remote.(*net.TCPAddr)
	if !ok {
		return false
	}
	starts.pokeMu.Lock()
	defer starts.pokeMu.Unlock()
	_, ok = starts.pokes[ta.Port]
	return ok
}

// poke connects to addr from a local port registered as a poke before the
// connect, so the server's handshake knows it; it returns once connected
// (or failed), the port still registered. Goroutine: a Start's.
func poke(addr string) (port int, closeFn func(), err error) {
	ta, err := net.ResolveTCPAddr("tcp", addr)
	if err != nil {
		return 0, nil, err
	}
	family, sa := unix.AF_INET, unix.Sockaddr(nil)
	if ip4 := ta.IP.To4(); ip4 != nil || ta.IP == nil {
		s4 := &unix.SockaddrInet4{Port: ta.Port}
		if ip4 == nil {
			ip4 = net.IPv4(127, 0, 0, 1).To4()
		}
		copy(s4.Addr[:], ip4)
		sa = s4
	} else {
		family = unix.AF_INET6
		s6 := &unix.SockaddrInet6{Port: ta.Port}
		copy(s6.Addr[:], ta.IP.To16())
		sa = s6
	}
	fd, err := unix.Socket(family, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return 0, nil, err
	}
	closeFn = func() { _ = unix.Close(fd) }
	var local unix.Sockaddr = &unix.SockaddrInet4{}
	if family == unix.AF_INET6 {
		local = &unix.SockaddrInet6{}
	}
	if err = unix.Bind(fd, local); err == nil {
		var got unix.Sockaddr
		if got, err = unix.Getsockname(fd); err == nil {
			switch a := got.(type) {
			case *unix.SockaddrInet4:
				port = a.Port
			case *unix.SockaddrInet6:
				port = a.Port
			}
		}
	}
	if err != nil {
		closeFn()
		return 0, nil, err
	}
	starts.pokeMu.Lock()
	if starts.pokes == nil {
		starts.pokes = map[int]struct{}{}
	}
	starts.pokes[port] = struct{}{}
	starts.pokeMu.Unlock()
	tv := unix.NsecToTimeval(pokeWait.Nanoseconds())
	_ = unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_SNDTIMEO, &tv) // bounds the connect
	if err = unix.Connect(fd, sa); err != nil {
		unpoke(port)
		closeFn()
		return 0, nil, err
	}
	return port, closeFn, nil
}

// unpoke forgets a poke's port.
func unpoke(port int) {
	starts.pokeMu.Lock()
	delete(starts.pokes, port)
	starts.pokeMu.Unlock()
}

// Clone keeps the barrier (gRPC clones credentials it is given).
func (c *ServerCreds) Clone() credentials.TransportCredentials { return c }

// Start runs start (a remote.Start whose server has c as credentials)
// behind the barrier; addr returns the server's address once started.
// Goroutine: any.
func Start(c *ServerCreds, start func() (addr string, err error)) error {
	starts.mu.Lock()
	defer starts.mu.Unlock()
	for _, s := range starts.servers {
		select { // a stale token from an earlier connection
		case <-s.poked:
		default:
		}
		port, closeFn, err := poke(s.addr)
		if err != nil {
			continue // stopping: nothing of it runs any more
		}
		select {
		case <-s.poked:
		case <-time.After(pokeWait):
		}
		closeFn()
		unpoke(port)
	}
	addr, err := start()
	if err != nil {
		return err
	}
	c.addr = addr
	starts.servers = append(starts.servers, c)
	return nil
}

// Forget removes a stopped server from the barrier. Goroutine: any.
func Forget(c *ServerCreds) {
	starts.mu.Lock()
	starts.servers = slices.DeleteFunc(starts.servers, func(s *ServerCreds) bool { return s == c })
	starts.mu.Unlock()
}
