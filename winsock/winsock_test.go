package winsock_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"syscall"
	"testing"

	"github.com/sockactor/sockactor/winsock"
)

func TestCodesMatchTheirNamesAndTwins(t *testing.T) {
	tests := []struct {
		code  winsock.Code
		named error
		twin  syscall.Errno
	}{
		{winsock.WSAEINVAL, winsock.ErrInvalid, syscall.EINVAL},
		{winsock.WSAEWOULDBLOCK, winsock.ErrWouldBlock, syscall.EWOULDBLOCK},
		{winsock.WSAEADDRINUSE, winsock.ErrAddrInUse, syscall.EADDRINUSE},
		{winsock.WSAEISCONN, winsock.ErrIsConn, syscall.EISCONN},
		{winsock.WSAENOTCONN, winsock.ErrNotConn, syscall.ENOTCONN},
		{winsock.WSAESHUTDOWN, winsock.ErrShutdown, syscall.ESHUTDOWN},
		{winsock.WSAETIMEDOUT, winsock.ErrTimedOut, syscall.ETIMEDOUT},
		{winsock.WSAHOST_NOT_FOUND, winsock.ErrHostNotFound, 0},
	}
	for _, tc := range tests {
		t.Run(tc.code.Name(), func(t *testing.T) {
			err := &winsock.OpError{Op: "Send", Socket: 7, Code: tc.code}
			if !errors.Is(err, tc.named) {
				t.Errorf("errors.Is(%v, named) = false", err)
			}
			if tc.twin != 0 && !errors.Is(err, tc.twin) {
				t.Errorf("errors.Is(%v, %v) = false", err, tc.twin)
			}
			if errors.Is(err, winsock.ErrConnRefused) {
				t.Errorf("%v matches an unrelated code", err)
			}
			var ne net.Error
			if !errors.As(err, &ne) || ne.Timeout() != (tc.code == winsock.WSAETIMEDOUT) {
				t.Errorf("net.Error Timeout of %v wrong", err)
			}
		})
	}
	if winsock.OK.Err() != nil {
		t.Error("OK.Err() != nil")
	}
	if got := winsock.OK.Name(); got != "NO_ERROR" {
		t.Errorf("OK.Name() = %q, want NO_ERROR", got)
	}
	if got := winsock.OK.Error(); got != "success (0)" {
		t.Errorf("OK.Error() = %q, want %q", got, "success (0)")
	}
	if got := len(winsock.Codes()); got != 22 {
		t.Errorf("Codes() has %d codes, want the 22 of docs/SEMANTICS.md §2", got)
	}
}

func TestOpErrorKeepsItsCause(t *testing.T) {
	err := &winsock.OpError{Op: "Dial", Code: winsock.WSAECONNABORTED, Err: context.Canceled}
	if !errors.Is(err, context.Canceled) || !errors.Is(err, winsock.ErrConnAborted) {
		t.Fatalf("%v: code or cause lost", err)
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatal("a cancel reported as a timeout")
	}
}

// A reply's code becomes an error a caller can match without importing the
// transport.
func ExampleCode_Err() {
	var replyCode uint32 = 10035 // from a SendResult
	err := winsock.Code(replyCode).Err()
	fmt.Println(err)
	fmt.Println(errors.Is(err, winsock.ErrWouldBlock), errors.Is(err, syscall.EWOULDBLOCK))
	// Output:
	// WSAEWOULDBLOCK (10035): operation would block
	// true true
}

// A socket operation fails with an *OpError that carries a Winsock code. It
// matches both the runtime's named error and the syscall twin, however it is
// wrapped, and CodeOf gets the code back for the wire.
func ExampleCode() {
	var err error = &winsock.OpError{Op: "RecvDisconnect", Socket: 7, Code: winsock.WSAENOTCONN}
	err = fmt.Errorf("drain: %w", err)

	fmt.Println(errors.Is(err, winsock.ErrNotConn))
	fmt.Println(errors.Is(err, syscall.ENOTCONN))
	fmt.Println(errors.Is(err, syscall.ECONNRESET))
	code := winsock.CodeOf(err, winsock.WSAENETDOWN)
	fmt.Println(code.Name(), uint32(code))
	fmt.Println(err)
	fmt.Println(winsock.OK.Err() == nil)
	// Output:
	// true
	// true
	// false
	// WSAENOTCONN 10057
	// drain: sockactor: RecvDisconnect socket 7: WSAENOTCONN (10057): socket is not connected
	// true
}

// CodeOf maps a syscall error to its Winsock code, and anything it does not
// know to the fallback.
func ExampleCodeOf() {
	fmt.Println(winsock.CodeOf(nil, winsock.WSAENETDOWN) == winsock.OK)
	fmt.Println(winsock.CodeOf(syscall.ECONNRESET, winsock.WSAENETDOWN).Name())
	fmt.Println(winsock.CodeOf(errors.New("boom"), winsock.WSAENETDOWN).Name())
	// Output:
	// true
	// WSAECONNRESET
	// WSAENETDOWN
}
