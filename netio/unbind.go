package netio

import (
	"os"
	"slices"
	"strconv"
	"sync/atomic"

	"golang.org/x/sys/unix"

	"github.com/sockactor/sockactor/winsock"
)

// Closing a listener gnet bound at Start. gnet keeps its listeners for the
// engine's life and has no call to close one; closing its descriptor under
// it would make its accept fail, which stops the whole engine. So the
// descriptor number is kept and the socket behind it swapped: a listening
// unix socket with an abstract name of its own (no file, and nobody ever
// connects to it) takes the number with dup3, which releases the TCP (or
// unix) listening socket (its address is free at once) and leaves gnet a
// listener that is never readable; an accept that was already under way
// finds no connection (EAGAIN), which gnet takes in stride. gnet closes the
// placeholder when the engine stops.
//
// The descriptor gnet holds is found by the socket's inode (a duplicate
// from gnet's DupListener shares it), so nothing of gnet's internals is
// read.

// placeholders numbers the placeholder sockets' abstract names.
var placeholders atomic.Uint64

// unbound marks a listener gnet bound that Close has released. Atomic.
type unbound = atomic.Bool

// closeBound releases l, a listener gnet binds at Start, or drops it from
// Start's list when Start has not run yet. Idempotent; any goroutine
// except an event loop (it waits for a Start under way to bind).
func (e *Engine) closeBound(l *Listener) error {
	e.mu.Lock()
	if !e.started {
		// Closed before Start: gnet never binds it (a port Listen
		// reserved for it goes with the others at Start).
		e.listeners = slices.DeleteFunc(e.listeners, func(x *Listener) bool { return x == l })
		l.released.Store(true)
		e.mu.Unlock()
		return nil
	}
	e.mu.Unlock()
	select { // Start is binding: wait for gnet to have bound it, or failed
	case <-e.booted:
	case <-e.done:
		return nil // nothing is bound
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if l.released.Load() {
		return nil
	}
	if e.stopping.Load() {
		return nil // the engine closes it
	}
	network := "tcp"
	if l.network == "unix" {
		network = "unix"
	}
	dup, err := e.geng.DupListener(network, l.address)
	if err != nil {
		return &winsock.OpError{Op: "Close", Code: winsock.WSAEOPNOTSUPP, Detail: "gnet does not know the listener: " + err.Error(), Err: err}
	}
	defer closeFD(dup)
	orig, err := sameSocketFD(dup)
	if err != nil {
		return &winsock.OpError{Op: "Close", Code: winsock.CodeOf(err, winsock.WSAEOPNOTSUPP), Detail: "finding the listener's descriptor: " + err.Error(), Err: err}
	}
	ph, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return &winsock.OpError{Op: "Close", Code: winsock.CodeOf(err, winsock.WSAENOBUFS), Detail: err.Error(), Err: err}
	}
	defer closeFD(ph)
	name := "@sockactor-released-" + strconv.Itoa(os.Getpid()) + "-" + strconv.FormatUint(placeholders.Add(1), 10)
	if err := unix.Bind(ph, &unix.SockaddrUnix{Name: name}); err != nil {
		return &winsock.OpError{Op: "Close", Code: winsock.CodeOf(err, winsock.WSAENOBUFS), Detail: err.Error(), Err: err}
	}
	if err := unix.Listen(ph, 1); err != nil {
		return &winsock.OpError{Op: "Close", Code: winsock.CodeOf(err, winsock.WSAENOBUFS), Detail: err.Error(), Err: err}
	}
	if err := unix.Dup3(ph, orig, unix.O_CLOEXEC); err != nil {
		return &winsock.OpError{Op: "Close", Code: winsock.CodeOf(err, winsock.WSAENOBUFS), Detail: err.Error(), Err: err}
	}
	l.released.Store(true)
	if l.network == "unix" {
		_ = os.Remove(l.address) // the socket file of a listener no longer there
	}
	return nil
}

// sameSocketFD returns the other descriptor of this process open on the
// socket of fd (the one gnet holds).
func sameSocketFD(fd int) (int, error) {
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return -1, err
	}
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return -1, err
	}
	found := -1
	for _, ent := range ents {
		n, err := strconv.Atoi(ent.Name())
		if err != nil || n == fd {
			continue
		}
		var o unix.Stat_t
		if unix.Fstat(n, &o) != nil || o.Ino != st.Ino || o.Dev != st.Dev || o.Mode&unix.S_IFMT != unix.S_IFSOCK {
			continue
		}
		if found >= 0 {
			return -1, winsock.ErrInvalid // more than one: not knowing which is gnet's, touch none
		}
		found = n
	}
	if found < 0 {
		return -1, winsock.ErrNotSock
	}
	return found, nil
}
