package netio

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/sockactor/sockactor/winsock"
)

// TestDialCode maps the errors net.Dialer returns (built the way net builds
// them) to Winsock codes: DNS failures are WSAHOST_NOT_FOUND, a cancelled
// context is never a timeout, timeouts stay WSAETIMEDOUT.
func TestDialCode(t *testing.T) {
	dial := func(err error) error { return &net.OpError{Op: "dial", Net: "tcp", Err: err} }
	sys := func(errno syscall.Errno) error { return dial(os.NewSyscallError("connect", errno)) }
	tests := []struct {
		name string
		err  error
		want winsock.Code
	}{
		{"dns not found", dial(&net.DNSError{Err: "no such host", Name: "a.invalid", IsNotFound: true}), winsock.WSAHOST_NOT_FOUND},
		{"dns server failure", dial(&net.DNSError{Err: "server misbehaving", Name: "a.invalid", Server: "127.0.0.53:53", IsTemporary: true}), winsock.WSAHOST_NOT_FOUND},
		{"dns timeout", dial(&net.DNSError{Err: "i/o timeout", Name: "a.invalid", IsTimeout: true}), winsock.WSAETIMEDOUT},
		{"dns cancelled", dial(&net.DNSError{Err: "operation was canceled", Name: "a.invalid", UnwrapErr: context.Canceled}), winsock.WSAECONNABORTED},
		{"dns deadline", dial(&net.DNSError{Err: "i/o timeout", Name: "a.invalid", IsTimeout: true, UnwrapErr: context.DeadlineExceeded}), winsock.WSAETIMEDOUT},
		{"ctx cancelled", dial(fmt.Errorf("operation was canceled: %w", context.Canceled)), winsock.WSAECONNABORTED},
		{"ctx deadline", dial(context.DeadlineExceeded), winsock.WSAETIMEDOUT},
		{"deadline", dial(os.ErrDeadlineExceeded), winsock.WSAETIMEDOUT},
		{"ETIMEDOUT", sys(syscall.ETIMEDOUT), winsock.WSAETIMEDOUT},
		{"refused", sys(syscall.ECONNREFUSED), winsock.WSAECONNREFUSED},
		{"not local", sys(syscall.EADDRNOTAVAIL), winsock.WSAEADDRNOTAVAIL},
		{"reset", sys(syscall.ECONNRESET), winsock.WSAECONNRESET},
		{"unreachable", sys(syscall.ENETUNREACH), winsock.WSAENETDOWN},
		{"host unreachable", sys(syscall.EHOSTUNREACH), winsock.WSAENETDOWN},
		{"address error", dial(&net.AddrError{Err: "missing port in address", Addr: "x"}), winsock.WSAEINVAL},
		{"unrelated", errors.New("boom"), winsock.WSAENETDOWN},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := dialCode(tc.err); got != tc.want {
				t.Errorf("dialCode(%v) = %v, want %v", tc.err, got, tc.want)
			}
		})
	}
}

// TestEngineDialErrors dials with a real engine (loopback only) and checks
// the error each failure returns: its code, its cause, and that a cancelled
// context is reported as itself and never as a timeout.
func TestEngineDialErrors(t *testing.T) {
	e, _ := startEngine(t, newTestHandler(t))
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := l.Addr().String()
	l.Close()
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	expired, cancel2 := context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
	defer cancel2()
	var dnsErr *net.DNSError
	tests := []struct {
		name    string
		ctx     context.Context
		addr    string
		code    winsock.Code
		is      []error
		isNot   []error
		timeout bool
		dns     bool
	}{
		{"refused", context.Background(), closed, winsock.WSAECONNREFUSED,
			[]error{winsock.ErrConnRefused, syscall.ECONNREFUSED}, []error{context.Canceled}, false, false},
		{"host not found", context.Background(), net.JoinHostPort(unresolvableHost, "80"), winsock.WSAHOST_NOT_FOUND,
			[]error{winsock.ErrHostNotFound}, []error{winsock.ErrInvalid, winsock.ErrTimedOut}, false, true},
		{"cancelled", cancelled, closed, winsock.WSAECONNABORTED,
			[]error{context.Canceled}, []error{winsock.ErrTimedOut, syscall.ETIMEDOUT, context.DeadlineExceeded}, false, false},
		{"deadline", expired, closed, winsock.WSAETIMEDOUT,
			[]error{winsock.ErrTimedOut, syscall.ETIMEDOUT, context.DeadlineExceeded}, []error{context.Canceled}, true, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			start := time.Now()
			err := e.Dial(tc.ctx, tc.addr, "owner")
			if d := time.Since(start); d > 5*time.Second {
				t.Errorf("Dial took %v", d)
			}
			var op *winsock.OpError
			if !errors.As(err, &op) || op.Code != tc.code || op.Err == nil {
				t.Fatalf("Dial = %#v, want an *winsock.OpError with %v and its cause", err, tc.code)
			}
			for _, target := range tc.is {
				if !errors.Is(err, target) {
					t.Errorf("errors.Is(%v, %v) = false", err, target)
				}
			}
			for _, target := range tc.isNot {
				if errors.Is(err, target) {
					t.Errorf("errors.Is(%v, %v) = true", err, target)
				}
			}
			var ne net.Error
			if !errors.As(err, &ne) || ne.Timeout() != tc.timeout {
				t.Errorf("Timeout() = %v, want %v", ne != nil && ne.Timeout(), tc.timeout)
			}
			if got := errors.As(err, &dnsErr); got != tc.dns {
				t.Errorf("errors.As(*net.DNSError) = %v, want %v", got, tc.dns)
			}
		})
	}
}

// TestEngineStartBindErrors checks that a bind failure keeps its errno: the
// error matches both the errno and the Winsock code, and CodeOf sees it.
func TestEngineStartBindErrors(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	tests := []struct {
		name  string
		addr  string
		code  winsock.Code
		errno syscall.Errno
	}{
		{"in use", busy.Addr().String(), winsock.WSAEADDRINUSE, syscall.EADDRINUSE},
		// TEST-NET-1 (RFC 5737) is assigned to no interface here: bind
		// fails, and no packet is ever sent to it.
		{"not local", "192.0.2.1:0", winsock.WSAEADDRNOTAVAIL, syscall.EADDRNOTAVAIL},
	}
	for _, tc := range tests {
		for _, disable := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/DisableReuseAddr=%v", tc.name, disable), func(t *testing.T) {
				e := NewEngine(newTestHandler(t), Options{EventLoops: 1, DisableReuseAddr: disable})
				if _, err := e.Listen(tc.addr); err != nil {
					t.Fatal(err)
				}
				err := e.Start(context.Background())
				defer func() {
					if err := e.Stop(context.Background()); err != nil {
						t.Errorf("Stop after a failed Start: %v", err)
					}
				}()
				var op *winsock.OpError
				if !errors.As(err, &op) || op.Op != "Start" || op.Code != tc.code {
					t.Fatalf("Start = %v, want an *winsock.OpError from Start with %v", err, tc.code)
				}
				if !errors.Is(err, tc.errno) || !errors.Is(err, tc.code) {
					t.Errorf("errors.Is(%v, %v / %v) = false", err, tc.errno, tc.code.Name())
				}
				var errno syscall.Errno
				if !errors.As(op.Err, &errno) || errno != tc.errno {
					t.Errorf("cause %v does not hold the errno %v", op.Err, tc.errno)
				}
				if got := winsock.CodeOf(err, winsock.WSAENETDOWN); got != tc.code {
					t.Errorf("CodeOf = %v, want %v", got, tc.code)
				}
			})
		}
	}
}
