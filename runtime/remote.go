package runtime

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/asynkron/protoactor-go/eventstream"
	"github.com/asynkron/protoactor-go/remote"
	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/connectivity"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/keepalive"

	"github.com/sockactor/sockactor/internal/grpcorder"
	"github.com/sockactor/sockactor/winsock"
)

// Across nodes (docs/SEMANTICS.md §7): the runtime's actor system is made
// reachable through protoactor remote, with the settings that bound how
// long a lost node's subscribers stay, and a guard that keeps a message of
// a type this process does not link from crashing it.

// Defaults for RemoteOptions.
const (
	// DefaultKeepaliveTime is gRPC's minimum: an outbound connection to
	// another node that has been silent this long is pinged.
	DefaultKeepaliveTime = 10 * time.Second
	// DefaultKeepaliveTimeout is how long the ping's answer may take before
	// the connection, and the node behind it, count as lost.
	DefaultKeepaliveTimeout = 5 * time.Second
	// DefaultConnectRetries is how many times a connection to another node
	// is tried, at most DefaultConnectTimeout + 2 s each (protoactor waits
	// 2 s after a failed attempt), before it is given up and the node's
	// subscribers dropped.
	DefaultConnectRetries = 2
	// DefaultConnectTimeout bounds one connection attempt to another node.
	DefaultConnectTimeout = 3 * time.Second
)

// remoteStopWait bounds how long Runtime.Shutdown waits for the graceful
// part of remote's stop (docs/SEMANTICS.md §7). What can outlast it is
// protoactor's connection to a node that cannot be reached (nothing
// listens, or the node is stopped): its writer makes its connection
// attempts, and sleeps 2 s after each failed one, inside its start, and
// cannot be stopped before that ends, which is up to ConnectRetries x
// (DefaultConnectTimeout + 2 s) after the first message to that node. That
// remainder finishes in the background: it holds nothing of the runtime,
// and its connections are closed when it ends.
const remoteStopWait = time.Second

// RemoteOptions make a runtime reachable from other nodes through
// protoactor remote (docs/SEMANTICS.md §7). The zero value of every field
// but Listen means its default.
//
// Every node that talks to a runtime should be started with these
// settings (through Options.Remote or StartRemote): their gRPC servers
// accept the keepalive pings that detect a lost node, which a server with
// gRPC's default policy answers by closing the connection.
type RemoteOptions struct {
	// Listen is the host:port of the node's remote (gRPC) server; port 0
	// picks a free one. Unless Advertise is set, the host must be one that
	// other nodes reach this one at (not 0.0.0.0 or ::).
	Listen string
	// Advertise is the host:port other nodes reach this node at, spelled
	// as they will spell it: every PID of the runtime carries it, and
	// protoactor takes any other spelling (localhost:7100 for a node
	// advertised as 127.0.0.1:7100) for another node. "" means the bound
	// address (Listen with the real port).
	Advertise string
	// KeepaliveTime and KeepaliveTimeout: an outbound connection to another
	// node silent for KeepaliveTime is pinged, and is lost when the answer
	// takes longer than KeepaliveTimeout. With ConnectRetries they bound how
	// long the subscribers of a partitioned node stay (see §7). 0 means
	// DefaultKeepaliveTime (gRPC raises anything lower to it) and
	// DefaultKeepaliveTimeout; a negative KeepaliveTime disables pings.
	KeepaliveTime, KeepaliveTimeout time.Duration
	// ConnectRetries is how many connection attempts to another node are
	// made before it is given up; 0 means DefaultConnectRetries.
	ConnectRetries int
}

func (o *RemoteOptions) validate() error {
	if o == nil {
		return nil
	}
	bad := func(field, why string) error {
		return &winsock.OpError{Op: "New", Code: winsock.WSAEINVAL, Detail: "Options.Remote." + field + " " + why}
	}
	host, port, err := net.SplitHostPort(o.Listen)
	if err != nil {
		return bad("Listen", "is not host:port: "+err.Error())
	}
	if _, err := strconv.ParseUint(port, 10, 16); err != nil {
		return bad("Listen", "has a bad port")
	}
	if o.Advertise != "" {
		if _, _, err := net.SplitHostPort(o.Advertise); err != nil {
			return bad("Advertise", "is not host:port: "+err.Error())
		}
	} else if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		return bad("Listen", "binds every address: set Advertise to the one other nodes use")
	}
	switch {
	case o.KeepaliveTimeout < 0:
		return bad("KeepaliveTimeout", "is negative")
	case o.ConnectRetries < 0:
		return bad("ConnectRetries", "is negative")
	}
	return nil
}

// config is protoactor's remote configuration for these options, with g
// as the guard of the node's gRPC server and track seeing every outbound
// stream (remoteNode.clientStream).
func (o RemoteOptions) config(g *guard, creds *grpcorder.ServerCreds, track grpc.StreamClientInterceptor) *remote.Config {
	host, port, _ := net.SplitHostPort(o.Listen)
	p, _ := strconv.Atoi(port)
	ka, kaTimeout := o.KeepaliveTime, o.KeepaliveTimeout
	if ka == 0 {
		ka = DefaultKeepaliveTime
	}
	if kaTimeout == 0 {
		kaTimeout = DefaultKeepaliveTimeout
	}
	retries := o.ConnectRetries
	if retries == 0 {
		retries = DefaultConnectRetries
	}
	dial := []grpc.DialOption{
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpcorder.DialOption(), // its connections ordered with later starts (internal/grpcorder)
		grpc.WithConnectParams(grpc.ConnectParams{Backoff: backoff.DefaultConfig, MinConnectTimeout: DefaultConnectTimeout}),
		grpc.WithChainStreamInterceptor(track),
	}
	server := []grpc.ServerOption{
		grpc.Creds(creds), // insecure, as remote's default, plus the start barrier (internal/grpcorder)
		grpc.StreamInterceptor(g.intercept),
		// Accept the pings of peers configured like this node (at most one
		// per DefaultKeepaliveTime); gRPC's default closes the connection
		// of a client pinging more often than every 5 minutes.
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: DefaultKeepaliveTime / 2, PermitWithoutStream: true}),
	}
	if ka > 0 {
		dial = append(dial, grpc.WithKeepaliveParams(keepalive.ClientParameters{Time: ka, Timeout: kaTimeout, PermitWithoutStream: true}))
		// The server pings its silent clients too, so an inbound stream
		// from a lost node ends (and the server can stop) in bounded time.
		server = append(server, grpc.KeepaliveParams(keepalive.ServerParameters{Time: ka, Timeout: kaTimeout}))
	}
	cfg := remote.Configure(host, p,
		remote.WithDialOptions(dial...),
		remote.WithServerOptions(server...),
		remote.WithAdvertisedHost(o.Advertise),
	)
	cfg.MaxRetryCount = retries
	return cfg
}

// remoteNode is a started remote and what the runtime keeps of it.
type remoteNode struct {
	r     *remote.Remote // nil when the system came with remote started
	guard *guard
	creds *grpcorder.ServerCreds
	sub   *eventstream.Subscription
	lost  atomic.Uint64 // connections to other nodes given up or lost
	from  *remoteNode   // the StartRemote node whose counts these are
	// stopped is closed when stop's graceful part has ended (made by
	// stop, which runs once per node; nil before).
	stopped chan struct{}

	// conns are the client connections protoactor made to other nodes
	// (see clientStream), guarded by connMu.
	connMu sync.Mutex
	conns  map[*grpc.ClientConn]struct{}
}

// clientStream is the interceptor of every outbound stream: it records
// the stream's connection, so that stop can close it. protoactor's endpoint
// writer makes a new connection for each connection attempt and keeps only
// the last: one whose attempt failed is never closed and would retry in
// the background for good. Goroutine: the writer's.
func (n *remoteNode) clientStream(ctx context.Context, desc *grpc.StreamDesc, cc *grpc.ClientConn, method string,
	streamer grpc.Streamer, opts ...grpc.CallOption) (grpc.ClientStream, error) {
	n.connMu.Lock()
	if n.conns == nil {
		n.conns = map[*grpc.ClientConn]struct{}{}
	}
	for c := range n.conns {
		if c.GetState() == connectivity.Shutdown { // closed by protoactor
			delete(n.conns, c)
		}
	}
	n.conns[cc] = struct{}{}
	n.connMu.Unlock()
	return streamer(ctx, desc, cc, method, opts...)
}

// closeConns closes every client connection left once remote has stopped.
func (n *remoteNode) closeConns() {
	n.connMu.Lock()
	conns := n.conns
	n.conns = nil
	n.connMu.Unlock()
	for c := range conns {
		_ = c.Close() // closed already by protoactor, most of them
	}
}

// RemoteStats counts the remote side of a runtime.
type RemoteStats struct {
	// Address is the node's remote address, the one its PIDs carry
	// ("nonhost" without remote).
	Address string `json:"address"`
	// EndpointsLost counts connections to other nodes that were lost or
	// could not be made (protoactor's EndpointTerminatedEvent).
	EndpointsLost uint64 `json:"endpoints_lost"`
	// Refused counts inbound messages the guard did not deliver: a type
	// this process does not link, or an envelope that names no target.
	Refused uint64 `json:"refused"`
}

// StartRemote starts protoactor remote on system with sockactor's settings
// (keepalive, connection retries, and the guard against message types this
// process does not link) and returns it; stop it with StopRemote. It
// is for nodes that talk to sockactor runtimes without being one (a
// watcher); a runtime starts its own through Options.Remote. Start it
// before anything of system has a PID: PIDs made earlier keep protoactor's
// address "nonhost", which no other node can reach.
//
// Errors: WSAEINVAL for bad options or a system that already has remote;
// WSAEADDRINUSE, WSAEADDRNOTAVAIL (with the errno) when Listen cannot be
// bound. Safe for concurrent use with different systems.
func StartRemote(system *actor.ActorSystem, opts RemoteOptions) (*remote.Remote, error) {
	n, err := startRemote(system, opts)
	if err != nil {
		return nil, err
	}
	return n.r, nil
}

// StopRemote stops the remote that StartRemote started on system: its
// gRPC server at once, then its connections to other nodes, waiting for
// all of them (a connection still being attempted to a node that cannot
// be reached takes up to ConnectRetries x (DefaultConnectTimeout + 2 s);
// Runtime.Shutdown waits at most 1 s for that part). Stop the
// actors of system that send to other nodes first (see docs/SEMANTICS.md
// §7 on protoactor's shutdown). It does nothing for a system StartRemote
// did not start. Safe for concurrent use.
func StopRemote(system *actor.ActorSystem) {
	if n, ok := started.Load(system); ok {
		n.(*remoteNode).stop(system, 0)
	}
}

// hasRemote reports whether system already runs remote.
func hasRemote(system *actor.ActorSystem) bool {
	return system.Address() != "nonhost"
}

func startRemote(system *actor.ActorSystem, opts RemoteOptions) (n *remoteNode, err error) {
	if err := opts.validate(); err != nil {
		return nil, err
	}
	if hasRemote(system) {
		return nil, &winsock.OpError{Op: "StartRemote", Code: winsock.WSAEINVAL, Detail: "the actor system already runs remote"}
	}
	// remote.Start panics when it cannot listen; listen first to return
	// the error (the port is free again at once: SO_REUSEADDR).
	l, lerr := net.Listen("tcp", opts.Listen)
	if lerr != nil {
		return nil, bindError(lerr)
	}
	l.Close()
	n = &remoteNode{guard: &guard{system: system}, creds: grpcorder.NewServerCreds()}
	r := remote.NewRemote(system, opts.config(n.guard, n.creds, n.clientStream))
	err = grpcorder.Start(n.creds, func() (addr string, err error) {
		defer func() {
			if p := recover(); p != nil {
				err = &winsock.OpError{Op: "StartRemote", Code: winsock.WSAENETDOWN, Detail: fmt.Sprint("remote did not start: ", p)}
			}
		}()
		r.Start()
		return system.Address(), nil
	})
	if err != nil {
		return nil, err
	}
	n.r = r
	n.watchEvents(system)
	started.Store(system, n)
	return n, nil
}

// started maps each actor system whose remote startRemote started to its
// node, so that a runtime given that system (Options.ActorSystem) reports
// its guard's counts.
var started sync.Map // *actor.ActorSystem -> *remoteNode

// bindError gives a listen error its Winsock code, keeping the errno.
func bindError(err error) error {
	code := winsock.CodeOf(err, winsock.WSAEADDRNOTAVAIL)
	return &winsock.OpError{Op: "StartRemote", Code: code, Err: err}
}

// watchEvents counts lost endpoints from protoactor's event stream.
func (n *remoteNode) watchEvents(system *actor.ActorSystem) {
	n.sub = system.EventStream.SubscribeWithPredicate(func(any) { n.lost.Add(1) },
		func(m any) bool { _, ok := m.(*remote.EndpointTerminatedEvent); return ok })
}

func (n *remoteNode) stopEvents(system *actor.ActorSystem) {
	if n.sub != nil {
		system.EventStream.Unsubscribe(n.sub)
		n.sub = nil
	}
}

// stop shuts remote down (if this node started it). protoactor's
// Shutdown(true) writes fields that its goroutines read without
// synchronization, so it comes last: first the gRPC server stops at once
// (Shutdown(false): every inbound stream is cancelled, and waitReaders
// waits until each reader has taken its stream off protoactor's list),
// the counter the endpoint events touch is read (ordering those
// goroutines' accesses before ours), then the graceful part stops
// protoactor's endpoint watchers (stopWatchers) and closes the
// connections to other nodes. What remains unordered are goroutines
// of the application that sent to other nodes and were not waited for.
//
// bound, if not 0, bounds the wait for the graceful part (see
// remoteStopWait); it then goes on in the background, and stopped is
// closed when it ends. Goroutine: the runtime's shutdown, or StopRemote's
// caller.
func (n *remoteNode) stop(system *actor.ActorSystem, bound time.Duration) {
	if n.r == nil {
		return // not ours to stop
	}
	if _, ok := started.LoadAndDelete(system); !ok {
		return // stopped already (StopRemote, then the runtime's Shutdown)
	}
	n.stopEvents(system)
	n.r.Shutdown(false)
	waitReaders(n.r) // protoactorinternal.go: no reader may close its channel during the graceful part
	_ = n.lost.Load()
	n.stopped = make(chan struct{})
	go func() {
		defer close(n.stopped)
		stopWatchers(system, n.r) // protoactorinternal.go: their sends ordered before Shutdown(true)'s write
		n.r.Shutdown(true)
		n.closeConns()
		grpcorder.Forget(n.creds)
	}()
	if bound == 0 {
		<-n.stopped
		return
	}
	t := time.NewTimer(bound)
	defer t.Stop()
	select {
	case <-n.stopped:
	case <-t.C:
	}
}

func (n *remoteNode) stats(system *actor.ActorSystem) RemoteStats {
	st := RemoteStats{Address: system.Address()}
	if n != nil {
		if n.from != nil {
			n = n.from
		}
		st.EndpointsLost = n.lost.Load()
		st.Refused = n.guard.refused.Load()
	}
	return st
}

// startRemote starts remote on the runtime's system if the options ask
// for it. It runs in New before the hub and the host exist, so every PID
// they make carries the node's address.
func (rt *Runtime) startRemote(opts Options) error {
	switch {
	case opts.Remote != nil:
		n, err := startRemote(rt.system, *opts.Remote)
		if err != nil {
			return err
		}
		rt.remote = n
	case hasRemote(rt.system):
		// A system whose remote the caller started: with StartRemote, the
		// node it made (its guard counts); otherwise no guard (its gRPC
		// server is already built) and a count of lost endpoints of our
		// own. The node actor and the socket table all the same.
		if n, ok := started.Load(rt.system); ok {
			rt.remote = &remoteNode{guard: n.(*remoteNode).guard, from: n.(*remoteNode)}
		} else {
			rt.remote = &remoteNode{guard: &guard{system: rt.system}}
			rt.remote.watchEvents(rt.system)
		}
	}
	return nil
}

// stopRemote ends what startRemote started. Goroutine: shutdown's.
func (rt *Runtime) stopRemote() {
	if n := rt.remote; n != nil {
		if n.r == nil {
			n.stopEvents(rt.system) // the caller's remote goes on
		} else {
			n.stop(rt.system, remoteStopWait)
		}
	}
}

// Address returns the node's remote address, the one every PID of the
// runtime carries ("nonhost" without remote). Safe for concurrent use.
func (rt *Runtime) Address() string { return rt.system.Address() }

// remoteChatter reports whether r is one of protoactor remote's own log
// lines (connection attempts, endpoints lost, streams closed, even at
// ERROR): they report what the runtime counts in Stats().Remote and the
// drops of docs/SEMANTICS.md §7, so the runtime's logger leaves them out.
func remoteChatter(r slog.Record) bool { return strings.HasPrefix(r.Message, "Endpoint") }
