package runtime_test

import (
	"bytes"
	"errors"
	"net"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/sockactor/sockactor/actors"
	"github.com/sockactor/sockactor/events"
	"github.com/sockactor/sockactor/internal/socktest"
	sockrt "github.com/sockactor/sockactor/runtime"
	"github.com/sockactor/sockactor/winsock"
)

// Unix domain stream sockets (docs/SEMANTICS.md §6): what is particular to
// them. The stream behaviour they share with TCP is tested by the
// transport-parameterised tests (eachTransportMode).

// isSocket reports whether path is a socket file.
func isSocket(path string) bool {
	fi, err := os.Lstat(path)
	return err == nil && fi.Mode().Type() == os.ModeSocket
}

// staleSocket leaves a socket file at path with nobody listening on it, as
// a process that crashed does.
func staleSocket(t *testing.T, path string) {
	t.Helper()
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	l.SetUnlinkOnClose(false)
	l.Close()
	if !isSocket(path) {
		t.Fatal("no stale socket file")
	}
}

// startUnixErr is New + Listen("unix://"+path) + Start; it returns Start's
// error and shuts the runtime down at cleanup.
func startUnixErr(t *testing.T, path string) (*sockrt.Runtime, *sockrt.Listener, error) {
	t.Helper()
	return newStartedRT(t, sockrt.Options{}, "unix://"+path)
}

func TestUnixAddresses(t *testing.T) {
	socktest.EachMode(t, modes, func(t *testing.T, mode actors.Dispatch) {
		s := startServer(t, serverOpts{dispatch: mode, tr: socktest.Unix})
		path := s.addr
		if !filepath.IsAbs(path) || s.ln.Addr().Network() != "unix" || s.ln.Network() != "unix" {
			t.Fatalf("listener address %s %q", s.ln.Addr().Network(), path)
		}
		// An unnamed client (the usual one): its remote address reads "".
		c, err := net.DialTimeout("unix", path, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if got := roundTrip(t, c, "hi"); got != "hi" {
			t.Fatalf("echo %q", got)
		}
		id := s.rec.Accepted(t, 1)
		acc := s.rec.Of(id)[0]
		if acc.EventKind() != events.FDAccept || acc.LocalAddr != path || acc.RemoteAddr != "" || acc.ListenerId != s.ln.ID() {
			t.Fatalf("FD_ACCEPT = %v; want local %q, remote \"\"", acc, path)
		}
		info, err := s.rt.Info(ctx5(t), s.rt.SocketPID(id))
		if err != nil || info.LocalAddr != path || info.RemoteAddr != "" || info.State != "open" {
			t.Fatalf("Info = %v, %v", info, err)
		}
		// A client bound to a name: that name.
		named := s.dial(t)
		ev := s.rec.AcceptedFor(t, named)
		if ev.RemoteAddr == "" || ev.RemoteAddr != named.LocalAddr().String() {
			t.Fatalf("FD_ACCEPT remote %q, want %q", ev.RemoteAddr, named.LocalAddr())
		}
		// A dial: local "", remote the path.
		pid, err := s.rt.Dial(ctx5(t), s.url, echo, actors.DialOptions{SocketOptions: actors.SocketOptions{Dispatch: mode}})
		if err != nil {
			t.Fatal(err)
		}
		did := actors.SocketIDOf(pid)
		if ev := s.rec.Wait(t, did, events.FDConnect); ev.Code != 0 || ev.RemoteAddr != path || ev.LocalAddr != "" {
			t.Fatalf("FD_CONNECT = %v; want 0, remote %q, local \"\"", ev, path)
		}
		info, err = s.rt.Info(ctx5(t), pid)
		if err != nil || info.RemoteAddr != path || info.LocalAddr != "" || info.State != "open" {
			t.Fatalf("Info of the dial = %v, %v", info, err)
		}
		// Its server side is accepted by our listener (3rd accept) before
		// the close, so the fd check sees no connection dropped mid-accept.
		s.rec.Accepted(t, 3)
		if err := s.rt.Close(ctx5(t), pid); err != nil {
			t.Fatal(err)
		}
	})
}

func TestUnixStaleSocketFileIsReplaced(t *testing.T) {
	path := socktest.UnixPath(t)
	staleSocket(t, path)
	rt, ln, err := startUnixErr(t, path)
	if err != nil {
		t.Fatalf("Start over a stale socket file: %v", err)
	}
	rec := newRecorder(t, rt.System())
	_ = rt.Subscribe(rec.PID, events.MaskAll)
	if got := roundTrip(t, socktest.DialUnix(t, ln.Addr().String()), "again"); got != "again" {
		t.Fatalf("echo %q", got)
	}
}

func TestUnixLiveListenerIsAddrInUse(t *testing.T) {
	path := socktest.UnixPath(t)
	live, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	defer live.Close()
	for _, second := range []bool{false, true} { // alone, and beside a TCP listener (probeBinds)
		rt, err := sockrt.New(sockrt.Options{EventLoops: 1})
		if err != nil {
			t.Fatal(err)
		}
		if second {
			if _, err := rt.Listen("tcp://127.0.0.1:0", echo, actors.ListenOptions{}); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := rt.Listen("unix://"+path, echo, actors.ListenOptions{}); err != nil {
			t.Fatal(err)
		}
		err = rt.Start(ctx5(t))
		if !errors.Is(err, winsock.ErrAddrInUse) || !errors.Is(err, syscall.EADDRINUSE) || winsock.CodeOf(err, 0) != winsock.WSAEADDRINUSE {
			t.Fatalf("Start on a live server's path: %v, want WSAEADDRINUSE", err)
		}
		if err := rt.Shutdown(ctx5(t)); err != nil {
			t.Fatal(err)
		}
	}
	// The live server kept its file and still serves (the probe connects
	// came first: accept them, then a real client).
	if !isSocket(path) {
		t.Fatal("the live server's socket file is gone")
	}
	accepted := make(chan error, 1)
	go func() {
		for i := 0; i < 3; i++ {
			c, err := live.Accept()
			if err != nil {
				accepted <- err
				return
			}
			if i == 2 {
				_, err = c.Write([]byte("ok"))
				accepted <- err
			}
			defer c.Close()
		}
	}()
	c := socktest.DialUnix(t, path)
	buf := make([]byte, 2)
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Read(buf); err != nil || string(buf) != "ok" {
		t.Fatalf("the live server after the refused Start: %q, %v", buf, err)
	}
	if err := <-accepted; err != nil {
		t.Fatal(err)
	}
}

func TestUnixPathThatIsNoSocketIsAddrInUse(t *testing.T) {
	for _, kind := range []string{"regular file", "directory", "symlink"} {
		t.Run(kind, func(t *testing.T) {
			path := socktest.UnixPath(t)
			check := func() {}
			switch kind {
			case "regular file":
				if err := os.WriteFile(path, []byte("precious"), 0o600); err != nil {
					t.Fatal(err)
				}
				check = func() {
					if b, err := os.ReadFile(path); err != nil || string(b) != "precious" {
						t.Fatalf("the file after Start: %q, %v", b, err)
					}
				}
			case "directory":
				inner := filepath.Join(path, "keep")
				if err := os.Mkdir(path, 0o700); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(inner, []byte("x"), 0o600); err != nil {
					t.Fatal(err)
				}
				check = func() {
					if _, err := os.Stat(inner); err != nil {
						t.Fatalf("the directory after Start: %v", err)
					}
				}
			case "symlink":
				target := path + ".target"
				staleSocket(t, target)
				if err := os.Symlink(target, path); err != nil {
					t.Fatal(err)
				}
				check = func() {
					if fi, err := os.Lstat(path); err != nil || fi.Mode().Type() != os.ModeSymlink || !isSocket(target) {
						t.Fatalf("the symlink after Start: %v, %v", fi, err)
					}
				}
			}
			_, _, err := startUnixErr(t, path)
			if !errors.Is(err, winsock.ErrAddrInUse) || !errors.Is(err, syscall.EADDRINUSE) {
				t.Fatalf("Start on a %s: %v, want WSAEADDRINUSE", kind, err)
			}
			check()
		})
	}
}

func TestUnixPathErrors(t *testing.T) {
	// The directory does not exist: not a valid local address.
	missing := filepath.Join(filepath.Dir(socktest.UnixPath(t)), "no", "such", "s.sock")
	if _, _, err := startUnixErr(t, missing); !errors.Is(err, winsock.ErrAddrNotAvail) {
		t.Fatalf("Start in a missing directory: %v, want WSAEADDRNOTAVAIL", err)
	}
	// Two listeners on one path (here spelt two ways) would delete each
	// other's file: the second Listen is refused.
	rt, err := sockrt.New(sockrt.Options{EventLoops: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Shutdown(ctx5(t))
	path := socktest.UnixPath(t)
	if _, err := rt.Listen("unix://"+path, echo, actors.ListenOptions{}); err != nil {
		t.Fatal(err)
	}
	alias := filepath.Join(filepath.Dir(path), ".", filepath.Base(path))
	if _, err := rt.Listen("unix://"+alias, echo, actors.ListenOptions{}); !errors.Is(err, winsock.ErrAddrInUse) {
		t.Fatalf("a second Listen on %s: %v, want WSAEADDRINUSE", alias, err)
	}
	for _, bad := range []string{"unix://", "unix://@abstract"} {
		if _, err := rt.Listen(bad, echo, actors.ListenOptions{}); !errors.Is(err, winsock.ErrInvalid) {
			t.Fatalf("Listen(%q): %v, want WSAEINVAL", bad, err)
		}
	}
}

func TestUnixSocketFileRemovedAtShutdown(t *testing.T) {
	t.Run("CloseNow", func(t *testing.T) {
		path := socktest.UnixPath(t)
		rt, _, err := startUnixErr(t, path)
		if err != nil || !isSocket(path) {
			t.Fatalf("Start: %v; socket file: %v", err, isSocket(path))
		}
		rt.CloseNow()
		if _, err := os.Lstat(path); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("socket file after CloseNow: %v, want it gone", err)
		}
	})
	path := socktest.UnixPath(t)
	rt, _, err := startUnixErr(t, path)
	if err != nil {
		t.Fatal(err)
	}
	if !isSocket(path) {
		t.Fatal("no socket file while listening")
	}
	c := socktest.DialUnix(t, path)
	if got := roundTrip(t, c, "x"); got != "x" {
		t.Fatalf("echo %q", got)
	}
	if err := rt.Shutdown(ctx5(t)); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(path); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("socket file after Shutdown: %v, want it gone", err)
	}
	if err := readUntilErr(c); err == nil || isReset(err) {
		t.Fatalf("client after Shutdown: %v, want EOF", err)
	}
}

func TestUnixDialRefused(t *testing.T) {
	s := startRT(t, sockrt.Options{}, actors.ListenOptions{}, echo)
	stale := socktest.UnixPath(t)
	staleSocket(t, stale)
	notSock := socktest.UnixPath(t)
	if err := os.WriteFile(notSock, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	for name, path := range map[string]string{
		"missing file":      filepath.Join(filepath.Dir(stale), "none.sock"),
		"missing directory": filepath.Join(filepath.Dir(stale), "none", "s.sock"),
		"stale socket":      stale,
		"regular file":      notSock,
		"full accept queue": fullUnixBacklog(t),
	} {
		pid, err := s.rt.Dial(ctx5(t), "unix://"+path, nop, actors.DialOptions{})
		if err != nil {
			t.Fatal(err)
		}
		id := actors.SocketIDOf(pid)
		if ev := s.rec.Wait(t, id, events.FDConnect); ev.Code != uint32(winsock.WSAECONNREFUSED) {
			t.Errorf("dial to a %s: FD_CONNECT %v, want 10061 WSAECONNREFUSED", name, ev)
		}
		if n := s.rec.Count(id, events.FDClose); n != 0 {
			t.Errorf("dial to a %s: %d FD_CLOSE", name, n)
		}
	}
}

// fullUnixBacklog returns the path of a unix listener with a backlog of 0
// whose queue is full: a further connect fails at once with EAGAIN.
func fullUnixBacklog(t *testing.T) string {
	t.Helper()
	path := socktest.UnixPath(t)
	fd, err := syscall.Socket(syscall.AF_UNIX, syscall.SOCK_STREAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Close(fd) })
	if err := syscall.Bind(fd, &syscall.SockaddrUnix{Name: path}); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Listen(fd, 0); err != nil {
		t.Fatal(err)
	}
	for i := 0; ; i++ {
		c, err := net.Dial("unix", path) // non-blocking: EAGAIN once full
		if errors.Is(err, syscall.EAGAIN) {
			return path
		}
		if err != nil || i == 10 {
			t.Fatalf("filling the backlog: %v after %d connects", err, i)
		}
		t.Cleanup(func() { c.Close() })
	}
}

// TestUnixPeerResetWithUnreadData: a unix peer has no RST; what resets is
// a peer that closes while bytes we sent lie unread in its socket: our side
// reads ECONNRESET, FD_CLOSE 10054 peer-reset, never peer-close.
func TestUnixPeerResetWithUnreadData(t *testing.T) {
	socktest.EachMode(t, modes, func(t *testing.T, mode actors.Dispatch) {
		s := startServer(t, serverOpts{dispatch: mode, tr: socktest.Unix, handler: nop, linger: time.Minute})
		var ids []uint64
		for i := 0; i < 20; i++ {
			c := s.dial(t)
			id := s.rec.AcceptedFor(t, c).SocketId
			ids = append(ids, id)
			if n, err := s.rt.Send(ctx5(t), s.rt.SocketPID(id), bytes.Repeat([]byte("u"), 100)); err != nil || n != 100 {
				t.Fatalf("Send = %d, %v", n, err)
			}
			// The bytes are in c's socket once Send has answered (a unix
			// write queues on the peer); c closes without reading them.
			c.Close()
		}
		for _, id := range ids {
			if ev := s.rec.CloseEvent(t, id); ev.Reason != "peer-reset" || ev.Code != uint32(winsock.WSAECONNRESET) || ev.Local {
				t.Errorf("socket %d: FD_CLOSE %d %s, want 10054 peer-reset", id, ev.Code, ev.Reason)
			}
		}
		// A half-open unix socket whose peer then leaves with bytes unread
		// gets WSAECONNRESET on the next Sends.
		c := s.dial(t)
		id := s.rec.AcceptedFor(t, c).SocketId
		pid := s.rt.SocketPID(id)
		if err := c.CloseWrite(); err != nil {
			t.Fatal(err)
		}
		if ev := s.rec.CloseEvent(t, id); ev.Reason != "peer-close" {
			t.Fatalf("FD_CLOSE %v, want peer-close", ev)
		}
		if _, err := s.rt.Send(ctx5(t), pid, []byte("unread")); err != nil {
			t.Fatal(err)
		}
		c.Close()
		var err error
		socktest.WaitFor(t, "a Send to fail after the peer left", func() bool {
			_, err = s.rt.Send(ctx5(t), pid, []byte("x"))
			return err != nil
		})
		if !errors.Is(err, winsock.ErrConnReset) {
			t.Fatalf("Send after the peer left: %v, want WSAECONNRESET", err)
		}
	})
}

// TestUnixBesideTCP: one runtime listening on TCP and on unix serves both.
func TestUnixBesideTCP(t *testing.T) {
	rt, err := sockrt.New(sockrt.Options{EventLoops: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Shutdown(ctx5(t))
	tl, err := rt.Listen("tcp://127.0.0.1:0", echo, actors.ListenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	path := socktest.UnixPath(t)
	staleSocket(t, path)
	ul, err := rt.Listen("unix://"+path, echo, actors.ListenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := rt.Start(ctx5(t)); err != nil {
		t.Fatal(err)
	}
	rec := newRecorder(t, rt.System())
	_ = rt.Subscribe(rec.PID, events.MaskAll)
	tc, uc := dial(t, tl.Addr().String()), socktest.DialUnix(t, ul.Addr().String())
	if roundTrip(t, tc, "tcp") != "tcp" || roundTrip(t, uc, "unix") != "unix" {
		t.Fatal("echo")
	}
	if rec.AcceptedFor(t, tc).ListenerId != tl.ID() || rec.AcceptedFor(t, uc).ListenerId != ul.ID() {
		t.Fatal("a connection was filed under the wrong listener")
	}
}
