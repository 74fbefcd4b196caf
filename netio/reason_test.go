package netio

import (
	"errors"
	"fmt"
	"io"
	"os"
	"syscall"
	"testing"

	"github.com/sockactor/sockactor/winsock"
)

// TestReasons is docs/SEMANTICS.md §4's FD_CLOSE table.
func TestReasons(t *testing.T) {
	tests := []struct {
		r        Reason
		word     string
		code     winsock.Code
		num      uint32
		local    bool
		abortive bool
	}{
		{ReasonPeerClose, "peer-close", winsock.OK, 0, false, false},
		{ReasonPeerReset, "peer-reset", winsock.WSAECONNRESET, 10054, false, false},
		{ReasonLocalClose, "local-close", winsock.OK, 0, true, false},
		{ReasonLocalAbort, "local-abort", winsock.WSAECONNABORTED, 10053, true, true},
		{ReasonRecvBan, "recv-ban", winsock.WSAECONNABORTED, 10053, true, true},
		{ReasonTimeout, "timeout", winsock.WSAETIMEDOUT, 10060, true, true},
		{ReasonLimit, "limit", winsock.WSAENOBUFS, 10055, true, true},
		{ReasonShutdown, "shutdown", winsock.WSAENETDOWN, 10050, true, false},
	}
	for _, tc := range tests {
		t.Run(tc.word, func(t *testing.T) {
			if got := tc.r.String(); got != tc.word {
				t.Errorf("String() = %q, want %q", got, tc.word)
			}
			if got := tc.r.Code(); got != tc.code {
				t.Errorf("Code() = %v, want %v", got, tc.code)
			}
			if got := uint32(tc.r.Code()); got != tc.num {
				t.Errorf("Code() = %d, want %d", got, tc.num)
			}
			if got := tc.r.Local(); got != tc.local {
				t.Errorf("Local() = %v, want %v", got, tc.local)
			}
			if got := tc.r.abortive(); got != tc.abortive {
				t.Errorf("abortive() = %v, want %v", got, tc.abortive)
			}
		})
	}
}

func TestReasonNoneAndUnknown(t *testing.T) {
	if ReasonNone.String() != "" || ReasonNone.Code() != winsock.OK || ReasonNone.Local() {
		t.Errorf("ReasonNone = %q %v %v", ReasonNone.String(), ReasonNone.Code(), ReasonNone.Local())
	}
	r := Reason(200)
	if r.String() != "unknown" {
		t.Errorf("String() = %q, want unknown", r.String())
	}
	if r.Code() != winsock.WSAECONNABORTED {
		t.Errorf("Code() = %v, want WSAECONNABORTED", r.Code())
	}
}

func TestCloseCauseOf(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want Reason
	}{
		{"nil", nil, ReasonLocalClose},
		{"io.EOF", io.EOF, ReasonPeerClose},
		{"read EOF", os.NewSyscallError("read", io.EOF), ReasonPeerClose},
		{"ECONNRESET", syscall.ECONNRESET, ReasonPeerReset},
		{"read ECONNRESET", os.NewSyscallError("read", syscall.ECONNRESET), ReasonPeerReset},
		{"EPIPE", syscall.EPIPE, ReasonPeerReset},
		{"write EPIPE", os.NewSyscallError("write", syscall.EPIPE), ReasonPeerReset},
		{"ETIMEDOUT", syscall.ETIMEDOUT, ReasonTimeout},
		{"read ETIMEDOUT", os.NewSyscallError("read", syscall.ETIMEDOUT), ReasonTimeout},
		{"deadline", fmt.Errorf("x: %w", os.ErrDeadlineExceeded), ReasonTimeout},
		{"other", errors.New("boom"), ReasonPeerReset},
		{"EHOSTUNREACH", os.NewSyscallError("read", syscall.EHOSTUNREACH), ReasonPeerReset},
	}
	for _, tc := range tests {
		if got := closeCauseOf(tc.err); got != tc.want {
			t.Errorf("closeCauseOf(%s) = %v, want %v", tc.name, got, tc.want)
		}
	}
}
