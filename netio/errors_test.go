package netio

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// codeCases is SEMANTICS §2's table, plus WSAEMSGSIZE which the runtime also
// reports: every Code with its name, named error and syscall twin (0 when
// Winsock's code has none).
var codeCases = []struct {
	code  Code
	num   uint32
	name  string
	named error
	twin  syscall.Errno
}{
	{WSAEFAULT, 10014, "WSAEFAULT", ErrFault, syscall.EFAULT},
	{WSAEINVAL, 10022, "WSAEINVAL", ErrInvalid, syscall.EINVAL},
	{WSAEWOULDBLOCK, 10035, "WSAEWOULDBLOCK", ErrWouldBlock, syscall.EWOULDBLOCK},
	{WSAEINPROGRESS, 10036, "WSAEINPROGRESS", ErrInProgress, syscall.EINPROGRESS},
	{WSAENOTSOCK, 10038, "WSAENOTSOCK", ErrNotSock, syscall.ENOTSOCK},
	{WSAEMSGSIZE, 10040, "WSAEMSGSIZE", ErrMsgSize, syscall.EMSGSIZE},
	{WSAENOPROTOOPT, 10042, "WSAENOPROTOOPT", ErrNoProtoOpt, syscall.ENOPROTOOPT},
	{WSAENETDOWN, 10050, "WSAENETDOWN", ErrNetDown, syscall.ENETDOWN},
	{WSAECONNABORTED, 10053, "WSAECONNABORTED", ErrConnAborted, syscall.ECONNABORTED},
	{WSAECONNRESET, 10054, "WSAECONNRESET", ErrConnReset, syscall.ECONNRESET},
	{WSAENOBUFS, 10055, "WSAENOBUFS", ErrNoBufs, syscall.ENOBUFS},
	{WSAENOTCONN, 10057, "WSAENOTCONN", ErrNotConn, syscall.ENOTCONN},
	{WSAESHUTDOWN, 10058, "WSAESHUTDOWN", ErrShutdown, syscall.ESHUTDOWN},
	{WSAETIMEDOUT, 10060, "WSAETIMEDOUT", ErrTimedOut, syscall.ETIMEDOUT},
	{WSAECONNREFUSED, 10061, "WSAECONNREFUSED", ErrConnRefused, syscall.ECONNREFUSED},
	{WSANOTINITIALISED, 10093, "WSANOTINITIALISED", ErrNotInitialised, 0},
	{WSAEDISCON, 10101, "WSAEDISCON", ErrDiscon, 0},
}

// TestCodeTableComplete guards codeCases: every code in the package table
// is tested, and nothing else.
func TestCodeTableComplete(t *testing.T) {
	if len(codeCases) != len(codeTable) {
		t.Fatalf("codeCases has %d codes, codeTable %d", len(codeCases), len(codeTable))
	}
	for _, tc := range codeCases {
		if _, ok := codeTable[tc.code]; !ok {
			t.Errorf("%s (%d) is not in codeTable", tc.name, tc.num)
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
			op := &OpError{Op: "Send", Socket: 7, Code: c}
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
				if got := CodeOf(e.err, WSAENETDOWN); got != c {
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
	for _, c := range []Code{WSANOTINITIALISED, WSAEDISCON} {
		if c.Errno() != 0 {
			t.Errorf("%s: Errno() = %v, want 0", c.Name(), c.Errno())
		}
		for e := syscall.Errno(0); e < 200; e++ {
			if errors.Is(c, e) || errors.Is(&OpError{Op: "x", Code: c}, e) {
				t.Errorf("%s matches errno %d (%v)", c.Name(), int(e), e)
			}
		}
	}
}

func TestCodeOK(t *testing.T) {
	if OK.Err() != nil {
		t.Errorf("OK.Err() = %v, want nil", OK.Err())
	}
	if OK.Name() != "" {
		t.Errorf("OK.Name() = %q, want empty", OK.Name())
	}
	if !OK.Known() {
		t.Error("OK.Known() = false")
	}
	if OK.Errno() != 0 {
		t.Errorf("OK.Errno() = %v, want 0", OK.Errno())
	}
	if got := OK.Error(); got != "success (0)" {
		t.Errorf("OK.Error() = %q", got)
	}
	if errors.Is(OK, syscall.Errno(0)) {
		t.Error("errors.Is(OK, Errno(0)) = true, want false")
	}
}

func TestCodeUnknown(t *testing.T) {
	c := Code(12345)
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
	if got := CodeOf(fmt.Errorf("x: %w", c), WSAENETDOWN); got != c {
		t.Errorf("CodeOf(wrapped unknown code) = %v, want %v", got, c)
	}
}

func TestCodeOf(t *testing.T) {
	const fallback = WSAENETDOWN
	tests := []struct {
		name string
		err  error
		want Code
	}{
		{"nil", nil, OK},
		{"code", WSAENOTCONN, WSAENOTCONN},
		{"wrapped code", fmt.Errorf("a: %w", fmt.Errorf("b: %w", WSAESHUTDOWN)), WSAESHUTDOWN},
		{"OpError", &OpError{Op: "Recv", Code: WSAEWOULDBLOCK}, WSAEWOULDBLOCK},
		{"errno", syscall.ECONNRESET, WSAECONNRESET},
		{"wrapped errno", fmt.Errorf("read: %w", syscall.ECONNRESET), WSAECONNRESET},
		{"SyscallError", os.NewSyscallError("connect", syscall.ECONNREFUSED), WSAECONNREFUSED},
		{"net-style chain", fmt.Errorf("dial: %w", os.NewSyscallError("connect", syscall.ETIMEDOUT)), WSAETIMEDOUT},
		{"EAGAIN is EWOULDBLOCK", syscall.EAGAIN, WSAEWOULDBLOCK},
		{"errno without a code", syscall.EPERM, fallback},
		{"unrelated", errors.New("boom"), fallback},
		{"io.EOF", io.EOF, fallback},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := CodeOf(tc.err, fallback); got != tc.want {
				t.Errorf("CodeOf(%v) = %v, want %v", tc.err, got, tc.want)
			}
		})
	}
	if got := CodeOf(errors.New("x"), OK); got != OK {
		t.Errorf("CodeOf(unrelated, OK) = %v, want OK", got)
	}
}

func TestOpError(t *testing.T) {
	tests := []struct {
		err  *OpError
		want string
	}{
		{&OpError{Op: "RecvDisconnect", Socket: 42, Code: WSAENOTCONN},
			"sockactor: RecvDisconnect socket 42: WSAENOTCONN (10057): socket is not connected"},
		{&OpError{Op: "Listen", Code: WSAEINVAL, Detail: "no port"},
			"sockactor: Listen: WSAEINVAL (10022): invalid argument: no port"},
		{&OpError{Op: "Send", Socket: 1, Code: WSAESHUTDOWN, Detail: "after SendDisconnect"},
			"sockactor: Send socket 1: WSAESHUTDOWN (10058): socket has been shut down in that direction: after SendDisconnect"},
	}
	for _, tc := range tests {
		if got := tc.err.Error(); got != tc.want {
			t.Errorf("Error() = %q\n want %q", got, tc.want)
		}
		if got := tc.err.Unwrap(); got != error(tc.err.Code) {
			t.Errorf("Unwrap() = %v, want %v", got, tc.err.Code)
		}
		var c Code
		if !errors.As(tc.err, &c) || c != tc.err.Code {
			t.Errorf("errors.As(*OpError, *Code) = %v", c)
		}
		var op *OpError
		if !errors.As(fmt.Errorf("x: %w", tc.err), &op) || op != tc.err {
			t.Error("errors.As(wrapped, **OpError) failed")
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
	if zero != BanReset {
		t.Error("the zero BanPolicy is not BanReset")
	}
	if got, err := ParseBanPolicy(""); err != nil || got != BanReset {
		t.Errorf(`ParseBanPolicy("") = %v, %v; want reset`, got, err)
	}
	for _, s := range []string{"bogus", "Reset", "DISCARD", " reset"} {
		_, err := ParseBanPolicy(s)
		if !errors.Is(err, ErrInvalid) || !errors.Is(err, syscall.EINVAL) {
			t.Errorf("ParseBanPolicy(%q) error = %v, want WSAEINVAL", s, err)
		}
		var op *OpError
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
		{"udp://127.0.0.1:53", "", "", false},
		{"unix:///tmp/sock", "", "", false},
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
		if !errors.Is(err, ErrInvalid) || !errors.Is(err, syscall.EINVAL) {
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
		if got := CodeOf(syscall.Errno(0), WSAENETDOWN); got != WSAENETDOWN {
			t.Fatalf("CodeOf(Errno(0)) = %v, want the fallback", got)
		}
	}
}
