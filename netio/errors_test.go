package netio

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/sockactor/sockactor/winsock"
)

// codeCases is docs/SEMANTICS.md §2's table, plus WSAEMSGSIZE which the runtime also
// reports: every Code with its name, named error and syscall twin (0 when
// Winsock's code has none).
var codeCases = []struct {
	code  winsock.Code
	num   uint32
	name  string
	named error
	twin  syscall.Errno
}{
	{winsock.WSAEFAULT, 10014, "WSAEFAULT", winsock.ErrFault, syscall.EFAULT},
	{winsock.WSAEINVAL, 10022, "WSAEINVAL", winsock.ErrInvalid, syscall.EINVAL},
	{winsock.WSAEWOULDBLOCK, 10035, "WSAEWOULDBLOCK", winsock.ErrWouldBlock, syscall.EWOULDBLOCK},
	{winsock.WSAEINPROGRESS, 10036, "WSAEINPROGRESS", winsock.ErrInProgress, syscall.EINPROGRESS},
	{winsock.WSAENOTSOCK, 10038, "WSAENOTSOCK", winsock.ErrNotSock, syscall.ENOTSOCK},
	{winsock.WSAEMSGSIZE, 10040, "WSAEMSGSIZE", winsock.ErrMsgSize, syscall.EMSGSIZE},
	{winsock.WSAENOPROTOOPT, 10042, "WSAENOPROTOOPT", winsock.ErrNoProtoOpt, syscall.ENOPROTOOPT},
	{winsock.WSAEOPNOTSUPP, 10045, "WSAEOPNOTSUPP", winsock.ErrOpNotSupp, syscall.EOPNOTSUPP},
	{winsock.WSAEADDRINUSE, 10048, "WSAEADDRINUSE", winsock.ErrAddrInUse, syscall.EADDRINUSE},
	{winsock.WSAEADDRNOTAVAIL, 10049, "WSAEADDRNOTAVAIL", winsock.ErrAddrNotAvail, syscall.EADDRNOTAVAIL},
	{winsock.WSAENETDOWN, 10050, "WSAENETDOWN", winsock.ErrNetDown, syscall.ENETDOWN},
	{winsock.WSAECONNABORTED, 10053, "WSAECONNABORTED", winsock.ErrConnAborted, syscall.ECONNABORTED},
	{winsock.WSAECONNRESET, 10054, "WSAECONNRESET", winsock.ErrConnReset, syscall.ECONNRESET},
	{winsock.WSAENOBUFS, 10055, "WSAENOBUFS", winsock.ErrNoBufs, syscall.ENOBUFS},
	{winsock.WSAEISCONN, 10056, "WSAEISCONN", winsock.ErrIsConn, syscall.EISCONN},
	{winsock.WSAENOTCONN, 10057, "WSAENOTCONN", winsock.ErrNotConn, syscall.ENOTCONN},
	{winsock.WSAESHUTDOWN, 10058, "WSAESHUTDOWN", winsock.ErrShutdown, syscall.ESHUTDOWN},
	{winsock.WSAETIMEDOUT, 10060, "WSAETIMEDOUT", winsock.ErrTimedOut, syscall.ETIMEDOUT},
	{winsock.WSAECONNREFUSED, 10061, "WSAECONNREFUSED", winsock.ErrConnRefused, syscall.ECONNREFUSED},
	{winsock.WSANOTINITIALISED, 10093, "WSANOTINITIALISED", winsock.ErrNotInitialised, 0},
	{winsock.WSAEDISCON, 10101, "WSAEDISCON", winsock.ErrDiscon, 0},
	{winsock.WSAHOST_NOT_FOUND, 11001, "WSAHOST_NOT_FOUND", winsock.ErrHostNotFound, 0},
}

// TestCodeTableComplete guards codeCases: every code in the package table
// is tested, and nothing else.
func TestCodeTableComplete(t *testing.T) {
	known := winsock.Codes()
	if len(codeCases) != len(known) {
		t.Fatalf("codeCases has %d codes, winsock.Codes %d", len(codeCases), len(known))
	}
	for _, tc := range codeCases {
		if !slices.Contains(known, tc.code) {
			t.Errorf("%s (%d) is not in winsock.Codes", tc.name, tc.num)
		}
	}
}

// otherErrno returns an errno that is not twin (and not 0).
func otherErrno(twin syscall.Errno) syscall.Errno {
	if twin == syscall.EPERM {
		return syscall.ENOENT
	}
	return syscall.EPERM
}

func TestCodes(t *testing.T) {
	for _, tc := range codeCases {
		t.Run(tc.name, func(t *testing.T) {
			c := tc.code
			if uint32(c) != tc.num {
				t.Fatalf("value = %d, want %d", uint32(c), tc.num)
			}
			if got := c.Name(); got != tc.name {
				t.Errorf("Name() = %q, want %q", got, tc.name)
			}
			if !c.Known() {
				t.Errorf("Known() = false")
			}
			if got := c.Errno(); got != tc.twin {
				t.Errorf("Errno() = %v, want %v", got, tc.twin)
			}
			msg := c.Error()
			if !strings.Contains(msg, tc.name) || !strings.Contains(msg, strconv.Itoa(int(tc.num))) {
				t.Errorf("Error() = %q, want the name %s and the number %d", msg, tc.name, tc.num)
			}
			if c.Err() != error(c) {
				t.Errorf("Err() = %v, want the code itself", c.Err())
			}

			wrapped := fmt.Errorf("context: %w", c)
			op := &winsock.OpError{Op: "Send", Socket: 7, Code: c}
			opWrapped := fmt.Errorf("outer: %w", op)
			for _, e := range []struct {
				what string
				err  error
			}{{"code", c}, {"fmt %w", wrapped}, {"*OpError", op}, {"fmt %w of *OpError", opWrapped}} {
				if !errors.Is(e.err, tc.named) {
					t.Errorf("errors.Is(%s, named error) = false", e.what)
				}
				if !errors.Is(e.err, c) {
					t.Errorf("errors.Is(%s, %s) = false", e.what, tc.name)
				}
				if tc.twin != 0 {
					if !errors.Is(e.err, tc.twin) {
						t.Errorf("errors.Is(%s, %v) = false", e.what, tc.twin)
					}
					// The twin wrapped as an os.SyscallError is still the twin.
					if !errors.Is(e.err, os.NewSyscallError("read", tc.twin)) {
						t.Errorf("errors.Is(%s, SyscallError(%v)) = false", e.what, tc.twin)
					}
				}
				if other := otherErrno(tc.twin); errors.Is(e.err, other) {
					t.Errorf("errors.Is(%s, %v) = true, want false", e.what, other)
				}
				if errors.Is(e.err, syscall.Errno(0)) {
					t.Errorf("errors.Is(%s, Errno(0)) = true, want false", e.what)
				}
				if got := winsock.CodeOf(e.err, winsock.WSAENETDOWN); got != c {
					t.Errorf("CodeOf(%s) = %v, want %v", e.what, got, c)
				}
			}
			// A code is not another code, nor another code's named error.
			for _, other := range codeCases {
				if other.code == c {
					continue
				}
				if errors.Is(c, other.named) || errors.Is(wrapped, other.named) || errors.Is(op, other.named) {
					t.Errorf("%s matches %s", tc.name, other.name)
				}
			}
		})
	}
}

// TestCodesWithoutTwin checks that the codes without a POSIX twin match no
// errno at all.
func TestCodesWithoutTwin(t *testing.T) {
	for _, c := range []winsock.Code{winsock.WSANOTINITIALISED, winsock.WSAEDISCON, winsock.WSAHOST_NOT_FOUND} {
		if c.Errno() != 0 {
			t.Errorf("%s: Errno() = %v, want 0", c.Name(), c.Errno())
		}
		for e := syscall.Errno(0); e < 200; e++ {
			if errors.Is(c, e) || errors.Is(&winsock.OpError{Op: "x", Code: c}, e) {
				t.Errorf("%s matches errno %d (%v)", c.Name(), int(e), e)
			}
		}
	}
}

func TestCodeOK(t *testing.T) {
	if winsock.OK.Err() != nil {
		t.Errorf("OK.Err() = %v, want nil", winsock.OK.Err())
	}
	if winsock.OK.Name() != "NO_ERROR" {
		t.Errorf("OK.Name() = %q, want NO_ERROR", winsock.OK.Name())
	}
	if !winsock.OK.Known() {
		t.Error("OK.Known() = false")
	}
	if winsock.OK.Errno() != 0 {
		t.Errorf("OK.Errno() = %v, want 0", winsock.OK.Errno())
	}
	if got := winsock.OK.Error(); got != "success (0)" {
		t.Errorf("OK.Error() = %q", got)
	}
	if errors.Is(winsock.OK, syscall.Errno(0)) {
		t.Error("errors.Is(winsock.OK, Errno(0)) = true, want false")
	}
}

func TestCodeUnknown(t *testing.T) {
	c := winsock.Code(12345)
	if c.Known() {
		t.Error("Known() = true for 12345")
	}
	if got := c.Name(); got != "WSA12345" {
		t.Errorf("Name() = %q, want WSA12345", got)
	}
	if got := c.Error(); !strings.Contains(got, "12345") {
		t.Errorf("Error() = %q, want the number", got)
	}
	if c.Errno() != 0 {
		t.Errorf("Errno() = %v, want 0", c.Errno())
	}
	if c.Err() == nil {
		t.Error("Err() = nil for a non-zero code")
	}
	if got := winsock.CodeOf(fmt.Errorf("x: %w", c), winsock.WSAENETDOWN); got != c {
		t.Errorf("CodeOf(wrapped unknown code) = %v, want %v", got, c)
	}
}

func TestCodeOf(t *testing.T) {
	const fallback = winsock.WSAENETDOWN
	tests := []struct {
		name string
		err  error
		want winsock.Code
	}{
		{"nil", nil, winsock.OK},
		{"code", winsock.WSAENOTCONN, winsock.WSAENOTCONN},
		{"wrapped code", fmt.Errorf("a: %w", fmt.Errorf("b: %w", winsock.WSAESHUTDOWN)), winsock.WSAESHUTDOWN},
		{"OpError", &winsock.OpError{Op: "Recv", Code: winsock.WSAEWOULDBLOCK}, winsock.WSAEWOULDBLOCK},
		{"errno", syscall.ECONNRESET, winsock.WSAECONNRESET},
		{"wrapped errno", fmt.Errorf("read: %w", syscall.ECONNRESET), winsock.WSAECONNRESET},
		{"SyscallError", os.NewSyscallError("connect", syscall.ECONNREFUSED), winsock.WSAECONNREFUSED},
		{"net-style chain", fmt.Errorf("dial: %w", os.NewSyscallError("connect", syscall.ETIMEDOUT)), winsock.WSAETIMEDOUT},
		{"EAGAIN is EWOULDBLOCK", syscall.EAGAIN, winsock.WSAEWOULDBLOCK},
		{"errno without a code", syscall.EPERM, fallback},
		{"unrelated", errors.New("boom"), fallback},
		{"io.EOF", io.EOF, fallback},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := winsock.CodeOf(tc.err, fallback); got != tc.want {
				t.Errorf("CodeOf(%v) = %v, want %v", tc.err, got, tc.want)
			}
		})
	}
	if got := winsock.CodeOf(errors.New("x"), winsock.OK); got != winsock.OK {
		t.Errorf("CodeOf(unrelated, winsock.OK) = %v, want OK", got)
	}
}

func TestOpError(t *testing.T) {
	tests := []struct {
		err  *winsock.OpError
		want string
	}{
		{&winsock.OpError{Op: "RecvDisconnect", Socket: 42, Code: winsock.WSAENOTCONN},
			"sockactor: RecvDisconnect socket 42: WSAENOTCONN (10057): socket is not connected"},
		{&winsock.OpError{Op: "Listen", Code: winsock.WSAEINVAL, Detail: "no port"},
			"sockactor: Listen: WSAEINVAL (10022): invalid argument: no port"},
		{&winsock.OpError{Op: "Send", Socket: 1, Code: winsock.WSAESHUTDOWN, Detail: "after SendDisconnect"},
			"sockactor: Send socket 1: WSAESHUTDOWN (10058): socket has been shut down in that direction: after SendDisconnect"},
	}
	for _, tc := range tests {
		if got := tc.err.Error(); got != tc.want {
			t.Errorf("Error() = %q\n want %q", got, tc.want)
		}
		if got := tc.err.Unwrap(); len(got) != 1 || got[0] != error(tc.err.Code) {
			t.Errorf("Unwrap() = %v, want [%v]", got, tc.err.Code)
		}
		var c winsock.Code
		if !errors.As(tc.err, &c) || c != tc.err.Code {
			t.Errorf("errors.As(*winsock.OpError, *winsock.Code) = %v", c)
		}
		var op *winsock.OpError
		if !errors.As(fmt.Errorf("x: %w", tc.err), &op) || op != tc.err {
			t.Error("errors.As(wrapped, **winsock.OpError) failed")
		}
	}
}

func TestBanPolicy(t *testing.T) {
	for _, p := range []BanPolicy{BanReset, BanDiscard} {
		got, err := ParseBanPolicy(p.String())
		if err != nil || got != p {
			t.Errorf("ParseBanPolicy(%q) = %v, %v; want %v", p.String(), got, err, p)
		}
	}
	if BanReset.String() != "reset" || BanDiscard.String() != "discard" {
		t.Errorf("String: %q %q", BanReset, BanDiscard)
	}
	var zero BanPolicy
	if zero != BanDefault || !zero.resets() || zero.String() != "reset" || !zero.Valid() {
		t.Error("the zero BanPolicy is not BanDefault, applied as a reset")
	}
	if BanPolicy(3).Valid() {
		t.Error("BanPolicy(3) is valid")
	}
	if got, err := ParseBanPolicy(""); err != nil || got != BanReset {
		t.Errorf(`ParseBanPolicy("") = %v, %v; want reset`, got, err)
	}
	for _, s := range []string{"bogus", "Reset", "DISCARD", " reset"} {
		_, err := ParseBanPolicy(s)
		if !errors.Is(err, winsock.ErrInvalid) || !errors.Is(err, syscall.EINVAL) {
			t.Errorf("ParseBanPolicy(%q) error = %v, want WSAEINVAL", s, err)
		}
		var op *winsock.OpError
		if !errors.As(err, &op) || op.Op != "ParseBanPolicy" {
			t.Errorf("ParseBanPolicy(%q) error = %#v, want an *OpError", s, err)
		}
	}
}

func TestParseAddr(t *testing.T) {
	tests := []struct {
		in      string
		network string
		address string
		ok      bool
	}{
		{"tcp://127.0.0.1:8080", "tcp", "127.0.0.1:8080", true},
		{"127.0.0.1:0", "tcp", "127.0.0.1:0", true},
		{":9000", "tcp", ":9000", true},
		{"localhost:http", "tcp", "localhost:http", true},
		{"tcp4://0.0.0.0:1", "tcp4", "0.0.0.0:1", true},
		{"TCP4://10.0.0.1:2", "tcp4", "10.0.0.1:2", true},
		{"tcp6://[::1]:0", "tcp6", "[::1]:0", true},
		{"udp://127.0.0.1:53", "udp", "127.0.0.1:53", true},
		{"UDP6://[::1]:0", "udp6", "[::1]:0", true},
		{"sctp://127.0.0.1:53", "", "", false},
		{"unix:///tmp/sock", "unix", "/tmp/sock", true},
		{"UNIX://rel/dir/s.sock", "unix", "rel/dir/s.sock", true},
		{"unix://s", "unix", "s", true},
		{"unix://", "", "", false},
		{"unix://@abstract", "", "", false},
		{"unix:///tmp/a\x00b", "", "", false},
		{"unix:///" + strings.Repeat("p", 106), "unix", "/" + strings.Repeat("p", 106), true},
		{"unix:///" + strings.Repeat("p", 107), "", "", false},
		{"://127.0.0.1:1", "", "", false},
		{"tcp://127.0.0.1", "", "", false},
		{"127.0.0.1", "", "", false},
		{"tcp6://::1:80", "", "", false},
		{"", "", "", false},
	}
	for _, tc := range tests {
		network, address, err := ParseAddr(tc.in)
		if tc.ok {
			if err != nil || network != tc.network || address != tc.address {
				t.Errorf("ParseAddr(%q) = %q, %q, %v; want %q, %q", tc.in, network, address, err, tc.network, tc.address)
			}
			continue
		}
		if err == nil {
			t.Errorf("ParseAddr(%q) = %q, %q, nil; want an error", tc.in, network, address)
			continue
		}
		if !errors.Is(err, winsock.ErrInvalid) || !errors.Is(err, syscall.EINVAL) {
			t.Errorf("ParseAddr(%q) error = %v, want WSAEINVAL", tc.in, err)
		}
		if network != "" || address != "" {
			t.Errorf("ParseAddr(%q) returned %q, %q with an error", tc.in, network, address)
		}
	}
}

// TestCodeOfErrnoZero documents a bug: CodeOf(syscall.Errno(0), fallback)
// matches the table entries without a twin (errno 0), so it returns
// WSANOTINITIALISED or WSAEDISCON, whichever map iteration meets first.
func TestCodeOfErrnoZero(t *testing.T) {
	for i := 0; i < 50; i++ {
		if got := winsock.CodeOf(syscall.Errno(0), winsock.WSAENETDOWN); got != winsock.WSAENETDOWN {
			t.Fatalf("CodeOf(Errno(0)) = %v, want the fallback", got)
		}
	}
}

// unresolvableHost is a host name under the reserved .invalid TLD whose first
// label is longer than DNS allows (63 octets): every resolver (Go's and the
// C library's) rejects it locally, so the lookup fails at once and no query
// leaves the machine. A plain "nohost.invalid" would be sent to the
// configured name server.
var unresolvableHost = strings.Repeat("x", 64) + ".invalid"

// TestCodeNetError checks that every Code and every *OpError is a net.Error
// whose Timeout is true exactly for WSAETIMEDOUT and whose (deprecated)
// Temporary is true for WSAEWOULDBLOCK and WSAETIMEDOUT.
func TestCodeNetError(t *testing.T) {
	all := append([]winsock.Code{winsock.OK, winsock.Code(12345)}, func() []winsock.Code {
		var cs []winsock.Code
		for _, tc := range codeCases {
			cs = append(cs, tc.code)
		}
		return cs
	}()...)
	for _, c := range all {
		wantTimeout := c == winsock.WSAETIMEDOUT
		wantTemp := c == winsock.WSAETIMEDOUT || c == winsock.WSAEWOULDBLOCK
		for _, e := range []struct {
			what string
			err  error
		}{
			{"code", c},
			{"*OpError", &winsock.OpError{Op: "Dial", Code: c}},
			{"*winsock.OpError with a cause", &winsock.OpError{Op: "Dial", Code: c, Err: errors.New("cause")}},
			{"fmt %w of *OpError", fmt.Errorf("x: %w", &winsock.OpError{Op: "Dial", Code: c})},
		} {
			var ne net.Error
			if !errors.As(e.err, &ne) {
				t.Errorf("%s %v: not a net.Error", e.what, c.Name())
				continue
			}
			// Temporary is deprecated by net but part of the interface tested.
			if ne.Timeout() != wantTimeout || ne.Temporary() != wantTemp {
				t.Errorf("%s %v: Timeout() = %v, Temporary() = %v; want %v, %v",
					e.what, c.Name(), ne.Timeout(), ne.Temporary(), wantTimeout, wantTemp)
			}
		}
		if got := os.IsTimeout(c); got != wantTimeout {
			t.Errorf("os.IsTimeout(%v) = %v, want %v", c.Name(), got, wantTimeout)
		}
	}
}

// TestOpErrorCause checks that an *OpError with Err set matches both its
// code (and the code's twin) and its cause, that CodeOf and errors.As see the
// OpError's own code first, and that Error() is unchanged by the cause.
func TestOpErrorCause(t *testing.T) {
	bindErr := os.NewSyscallError("bind", syscall.EADDRINUSE)
	dnsErr := &net.DNSError{Err: "no such host", Name: "nohost.invalid", IsNotFound: true}
	inner := &winsock.OpError{Op: "inner", Code: winsock.WSAECONNRESET}
	tests := []struct {
		name    string
		err     *winsock.OpError
		is      []error      // errors.Is must hold for each
		isNot   []error      // and must not for these
		code    winsock.Code // winsock.CodeOf and errors.As(*winsock.Code)
		asDNS   bool         // errors.As(*net.DNSError) holds
		timeout bool
	}{
		{"bind errno", &winsock.OpError{Op: "Start", Code: winsock.WSAEADDRINUSE, Err: bindErr},
			[]error{winsock.ErrAddrInUse, syscall.EADDRINUSE, bindErr}, []error{winsock.ErrAddrNotAvail, syscall.EADDRNOTAVAIL},
			winsock.WSAEADDRINUSE, false, false},
		{"dns", &winsock.OpError{Op: "Dial", Code: winsock.WSAHOST_NOT_FOUND, Err: fmt.Errorf("dial tcp: %w", dnsErr)},
			[]error{winsock.ErrHostNotFound, dnsErr}, []error{winsock.ErrTimedOut, winsock.ErrInvalid},
			winsock.WSAHOST_NOT_FOUND, true, false},
		{"cancelled", &winsock.OpError{Op: "Dial", Code: winsock.WSAECONNABORTED, Err: context.Canceled},
			[]error{context.Canceled, winsock.ErrConnAborted}, []error{context.DeadlineExceeded, winsock.ErrTimedOut, syscall.ETIMEDOUT},
			winsock.WSAECONNABORTED, false, false},
		{"deadline", &winsock.OpError{Op: "Dial", Code: winsock.WSAETIMEDOUT, Err: context.DeadlineExceeded},
			[]error{context.DeadlineExceeded, winsock.ErrTimedOut, syscall.ETIMEDOUT}, []error{context.Canceled},
			winsock.WSAETIMEDOUT, false, true},
		{"cause holds another code", &winsock.OpError{Op: "outer", Code: winsock.WSAENETDOWN, Err: inner},
			[]error{winsock.ErrNetDown, winsock.ErrConnReset, inner}, nil,
			winsock.WSAENETDOWN, false, false},
		{"no cause", &winsock.OpError{Op: "Send", Code: winsock.WSAESHUTDOWN},
			[]error{winsock.ErrShutdown, syscall.ESHUTDOWN}, []error{context.Canceled},
			winsock.WSAESHUTDOWN, false, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for _, err := range []error{tc.err, fmt.Errorf("wrapped: %w", tc.err)} {
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
				if got := winsock.CodeOf(err, winsock.WSAEINVAL); got != tc.code {
					t.Errorf("CodeOf = %v, want %v", got, tc.code)
				}
				var c winsock.Code
				if !errors.As(err, &c) || c != tc.code {
					t.Errorf("errors.As(*winsock.Code) = %v, want %v", c, tc.code)
				}
				var d *net.DNSError
				if got := errors.As(err, &d); got != tc.asDNS {
					t.Errorf("errors.As(*net.DNSError) = %v, want %v", got, tc.asDNS)
				}
				var ne net.Error
				if !errors.As(err, &ne) || ne.Timeout() != tc.timeout {
					t.Errorf("net.Error Timeout = %v, want %v", ne != nil && ne.Timeout(), tc.timeout)
				}
			}
			want := 1
			if tc.err.Err != nil {
				want = 2
			}
			if got := tc.err.Unwrap(); len(got) != want || got[0] != error(tc.err.Code) || (want == 2 && got[1] != tc.err.Err) {
				t.Errorf("Unwrap() = %v, want the code then the cause", got)
			}
			// The message is the code's; the cause adds nothing to it.
			if got, bare := tc.err.Error(), (&winsock.OpError{Op: tc.err.Op, Code: tc.err.Code}).Error(); got != bare {
				t.Errorf("Error() = %q, want %q", got, bare)
			}
		})
	}
}
