package netio

import (
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/sockactor/sockactor/winsock"
)

func FuzzParseAddr(f *testing.F) {
	for _, s := range []string{
		"tcp://127.0.0.1:8080", "127.0.0.1:0", "tcp4://0.0.0.0:1", "tcp6://[::1]:0",
		"TCP://h:p", "udp://127.0.0.1:53", "unix:///tmp/s", "unix://rel/s", "unix://", "unix://@x", "Unix:///a\x00", "://", "tcp://", "tcp://[::1",
		"tcp://a://b:1", "[fe80::1%eth0]:80", ":0", "", "\x00://\x00:\x00",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		network, address, err := ParseAddr(in)
		if err != nil {
			if !errors.Is(err, winsock.ErrInvalid) {
				t.Fatalf("ParseAddr(%q) error %v is not WSAEINVAL", in, err)
			}
			if network != "" || address != "" {
				t.Fatalf("ParseAddr(%q) = %q, %q with an error", in, network, address)
			}
			return
		}
		if address == "" {
			t.Fatalf("ParseAddr(%q) = %q with an empty address", in, network)
		}
		switch network {
		case "tcp", "tcp4", "tcp6", "udp", "udp4", "udp6":
		case "unix":
			// A path: the input's rest, short enough for sun_path, no NUL,
			// not abstract; it parses again to itself.
			if len(address) > 107 || strings.ContainsRune(address, 0) || address[0] == '@' {
				t.Fatalf("ParseAddr(%q) accepted unix path %q", in, address)
			}
			if n2, a2, err := ParseAddr("unix://" + address); err != nil || n2 != "unix" || a2 != address {
				t.Fatalf("ParseAddr(unix://%s) = %q, %q, %v; not a round trip", address, n2, a2, err)
			}
			if i := strings.Index(in, "://"); i < 0 || address != in[i+3:] || !strings.EqualFold(in[:i], "unix") {
				t.Fatalf("ParseAddr(%q) = %q, %q", in, network, address)
			}
			return
		default:
			t.Fatalf("ParseAddr(%q) network = %q", in, network)
		}
		if _, _, err := net.SplitHostPort(address); err != nil {
			t.Fatalf("ParseAddr(%q) address %q does not split: %v", in, address, err)
		}
		if i := strings.Index(in, "://"); i >= 0 {
			if address != in[i+3:] || network != strings.ToLower(in[:i]) {
				t.Fatalf("ParseAddr(%q) = %q, %q", in, network, address)
			}
		} else if network != "tcp" || address != in {
			t.Fatalf("ParseAddr(%q) = %q, %q; want tcp and the input", in, network, address)
		}
	})
}

func FuzzCodeOf(f *testing.F) {
	f.Add(uint32(10057), 107, uint32(10050), "boom")
	f.Add(uint32(0), 0, uint32(0), "")
	f.Add(uint32(10093), int(syscall.ECONNRESET), uint32(10054), "x")
	f.Add(uint32(99999), int(syscall.EPERM), uint32(12345), "y")
	f.Add(uint32(10035), int(syscall.EAGAIN), uint32(0), "z")
	f.Fuzz(func(t *testing.T, code uint32, errno int, fallback uint32, text string) {
		c, fb, e := winsock.Code(code), winsock.Code(fallback), syscall.Errno(uint32(errno))

		// Every code formats, with its number when it is not OK.
		msg := c.Error()
		if c != winsock.OK && !strings.Contains(msg, strconv.FormatUint(uint64(code), 10)) {
			t.Fatalf("Code(%d).Error() = %q", code, msg)
		}
		_ = c.Name()
		if (c.Err() == nil) != (c == winsock.OK) {
			t.Fatalf("Code(%d).Err() = %v", code, c.Err())
		}

		// A wrapped code comes back unchanged.
		for _, err := range []error{c, fmt.Errorf("%s: %w", text, c), &winsock.OpError{Op: text, Code: c, Detail: text}} {
			if got := winsock.CodeOf(err, fb); got != c {
				t.Fatalf("CodeOf(%v) = %d, want %d", err, got, code)
			}
		}

		// errors.Is against an errno holds exactly for the code's twin.
		want := e != 0 && c.Errno() == e
		if got := errors.Is(c, e); got != want {
			t.Fatalf("errors.Is(winsock.Code(%d), Errno(%d)) = %v, want %v", code, uint32(e), got, want)
		}
		if got := errors.Is(&winsock.OpError{Code: c}, os.NewSyscallError(text, e)); got != want {
			t.Fatalf("errors.Is(winsock.OpError(%d), SyscallError(%d)) = %v, want %v", code, uint32(e), got, want)
		}

		// A wrapped errno maps to the code whose twin it is, else fallback.
		// Errno 0 is left out: see TestCodeOfErrnoZero.
		if e != 0 {
			got := winsock.CodeOf(os.NewSyscallError(text, e), fb)
			if got.Errno() != e && got != fb {
				t.Fatalf("CodeOf(Errno(%d)) = %d, want the twin's code or the fallback", uint32(e), uint32(got))
			}
			if got != fb && !errors.Is(got, e) {
				t.Fatalf("CodeOf(Errno(%d)) = %v, which does not match it", uint32(e), got)
			}
		}

		// Unrelated errors give the fallback.
		if got := winsock.CodeOf(errors.New(text), fb); got != fb {
			t.Fatalf("CodeOf(unrelated) = %v, want %v", got, fb)
		}
	})
}

func FuzzParseBanPolicy(f *testing.F) {
	for _, s := range []string{"reset", "discard", "", "bogus", "RESET", "discard ", "\xff"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := ParseBanPolicy(s)
		valid := s == "" || s == "reset" || s == "discard"
		if valid != (err == nil) {
			t.Fatalf("ParseBanPolicy(%q) = %v, %v", s, p, err)
		}
		if err != nil {
			if !errors.Is(err, winsock.ErrInvalid) || p != BanReset {
				t.Fatalf("ParseBanPolicy(%q) = %v, %v; want reset, WSAEINVAL", s, p, err)
			}
			return
		}
		back, err := ParseBanPolicy(p.String())
		if err != nil || back != p {
			t.Fatalf("round trip of %v: %v, %v", p, back, err)
		}
	})
}
