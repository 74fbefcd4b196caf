package netio

import (
	"context"
	"errors"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/sockactor/sockactor/winsock"
)

// Unix domain stream sockets ("unix:///path"), docs/SEMANTICS.md §6. They
// run on the same gnet loops, read path and close classification as TCP;
// what differs is here: the path's checks, the socket file left behind by
// an earlier run, and the addresses.

// unixMaxPath is the longest socket path: sun_path holds 108 bytes, the
// terminating NUL included.
const unixMaxPath = 107

// unixProbeTimeout bounds the connect that tells a live listener from a
// stale socket file (a live one answers at once, or with EAGAIN).
const unixProbeTimeout = time.Second

// unnamedUnix is the address of a unix socket bound to no path (a client
// that connects without binding: the usual case). It reads "".
var unnamedUnix = &net.UnixAddr{Name: "", Net: "unix"}

// parseUnix checks the path of a "unix://" address: not empty, at most
// unixMaxPath bytes, no NUL, and not an abstract name ("@..."): gnet
// treats the path as a file and removes it around its listener's life, which
// for "@name" would be a file of that name in the working directory.
func parseUnix(path string) (network, address string, err error) {
	detail := ""
	switch {
	case path == "":
		detail = "empty unix socket path"
	case len(path) > unixMaxPath:
		detail = "unix socket path longer than 107 bytes"
	case strings.IndexByte(path, 0) >= 0:
		detail = "NUL in unix socket path"
	case path[0] == '@':
		detail = "abstract unix socket names are not supported"
	}
	if detail != "" {
		return "", "", &winsock.OpError{Op: "ParseAddr", Code: winsock.WSAEINVAL, Detail: detail}
	}
	return "unix", path, nil
}

// listenUnix declares a unix listener on path. Two listeners of one engine
// on one file would delete each other's socket (gnet removes the path before
// it binds), so the second is refused with WSAEADDRINUSE. Goroutine: Listen's,
// with e.mu held.
func (e *Engine) listenUnix(path string) (*Listener, error) {
	abs := absPath(path)
	for _, l := range e.listeners {
		if l.network == "unix" && absPath(l.address) == abs {
			return nil, &winsock.OpError{Op: "Listen", Code: winsock.WSAEADDRINUSE, Detail: "unix socket path " + path + " already has a listener", Err: syscall.EADDRINUSE}
		}
	}
	// gnet reports an accepted unix connection's LocalAddr as the path as
	// given: that is its key, and every connection shares bound.
	ua := &net.UnixAddr{Name: path, Net: "unix"}
	l := &Listener{eng: e, network: "unix", address: path, addr: path, cfgKey: path, bound: ua, boundS: ua.String()}
	e.listeners = append(e.listeners, l)
	return l, nil
}

func absPath(p string) string {
	if a, err := filepath.Abs(p); err == nil {
		return a
	}
	return filepath.Clean(p)
}

// prepareUnix readies every unix listener's path before gnet binds, because
// gnet's listener removes whatever is at the path first (os.RemoveAll): a
// live server's socket, a regular file, a whole directory. Here:
//   - nothing at the path: fine;
//   - a socket nobody listens on (connect refused: a stale file from a run
//     that did not shut down): removed, then gnet binds;
//   - a socket that accepts the probe connect (or is too busy to: EAGAIN), or
//     that cannot be probed: WSAEADDRINUSE, and it is left alone;
//   - anything else (regular file, directory, symlink): WSAEADDRINUSE, left
//     alone;
//   - a directory part of the path missing: WSAEADDRNOTAVAIL.
//
// The probe connect is seen by a live listener as a connection closed at
// once. Between this check and gnet's bind another process could still take
// the path (the usual race of any unix server). Goroutine: Start's.
func (e *Engine) prepareUnix(ctx context.Context) error {
	for _, l := range e.listeners {
		if l.network != "unix" {
			continue
		}
		if err := clearUnixPath(ctx, l.address); err != nil {
			return err
		}
	}
	return nil
}

// unixFree readies path for a unix listener declared while the engine
// runs (bound at once by an acceptor): no other listener of the engine on
// it, and the path as prepareUnix leaves it. e.mu held.
func (e *Engine) unixFree(path string) error {
	abs := absPath(path)
	for _, ls := range [][]*Listener{e.listeners, e.acceptors} {
		for _, l := range ls {
			if l.network == "unix" && !l.isClosed() && absPath(l.address) == abs {
				return &winsock.OpError{Op: "Listen", Code: winsock.WSAEADDRINUSE, Detail: "unix socket path " + path + " already has a listener", Err: syscall.EADDRINUSE}
			}
		}
	}
	return clearUnixPath(context.Background(), path)
}

func clearUnixPath(ctx context.Context, path string) error {
	fi, err := os.Lstat(path)
	if errors.Is(err, fs.ErrNotExist) {
		if _, derr := os.Stat(filepath.Dir(path)); derr != nil {
			return &winsock.OpError{Op: "Start", Code: winsock.WSAEADDRNOTAVAIL, Detail: "unix socket directory: " + derr.Error(), Err: derr}
		}
		return nil
	}
	if err != nil {
		return &winsock.OpError{Op: "Start", Code: winsock.CodeOf(err, winsock.WSAEADDRNOTAVAIL), Detail: err.Error(), Err: err}
	}
	if fi.Mode().Type() != fs.ModeSocket {
		return inUse(path, "exists and is not a socket")
	}
	d := net.Dialer{Timeout: unixProbeTimeout}
	c, err := d.DialContext(ctx, "unix", path)
	switch {
	case err == nil:
		_ = c.Close()
		return inUse(path, "has a live listener")
	case errors.Is(err, syscall.ECONNREFUSED):
		// Stale: nobody listens. Remove it (only if it is still a socket).
		if rerr := os.Remove(path); rerr != nil && !errors.Is(rerr, fs.ErrNotExist) {
			return &winsock.OpError{Op: "Start", Code: winsock.WSAEADDRINUSE, Detail: "removing stale unix socket: " + rerr.Error(), Err: rerr}
		}
		return nil
	case errors.Is(err, syscall.ENOENT):
		return nil // gone meanwhile
	case ctx.Err() != nil:
		return ctx.Err()
	}
	return inUse(path, "cannot be probed: "+err.Error())
}

func inUse(path, why string) error {
	return &winsock.OpError{Op: "Start", Code: winsock.WSAEADDRINUSE, Detail: "unix socket path " + path + " " + why, Err: syscall.EADDRINUSE}
}

// unixDialCode maps the errno of a failed unix connect to its Winsock code:
// a missing path (ENOENT, ENOTDIR) and a listener whose accept queue is full
// (EAGAIN) are WSAECONNREFUSED, as Winsock's AF_UNIX reports nobody
// listening (there is no WSAENOENT); others as dialCode maps them.
func unixDialCode(err error) winsock.Code {
	if errors.Is(err, syscall.ENOENT) || errors.Is(err, syscall.ENOTDIR) || errors.Is(err, syscall.EAGAIN) {
		return winsock.WSAECONNREFUSED
	}
	return dialCode(err)
}

// localAddr returns the bound address of fd, TCP or unix (unnamedUnix for
// a unix socket bound to no path). Loop only (OnOpen).
func localAddr(fd int) (net.Addr, error) {
	sa, err := unix.Getsockname(fd)
	if err != nil {
		return nil, err
	}
	if a, ok := sa.(*unix.SockaddrUnix); ok {
		return peerAddr(&net.UnixAddr{Name: a.Name, Net: "unix"}), nil
	}
	if ip, port, ok := ipPortOf(sa); ok {
		return &net.TCPAddr{IP: ip, Port: port}, nil
	}
	return nil, winsock.ErrInvalid
}

// peerAddr is a as the connection reports it: unchanged, except that a
// unix peer bound to no path (which Linux spells "@", the abstract
// namespace's empty name) reads "". Loop only (OnOpen).
func peerAddr(a net.Addr) net.Addr {
	if ua, ok := a.(*net.UnixAddr); ok && (ua.Name == "@" || ua.Name == "") {
		return unnamedUnix
	}
	return a
}
