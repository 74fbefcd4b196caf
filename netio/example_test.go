package netio_test

import (
	"errors"
	"fmt"
	"syscall"

	"github.com/sockactor/sockactor/netio"
)

// A socket operation fails with an *OpError that carries a Winsock code. It
// matches both the runtime's named error and the syscall twin, however it is
// wrapped, and CodeOf gets the code back for the wire.
func ExampleCode() {
	var err error = &netio.OpError{Op: "RecvDisconnect", Socket: 7, Code: netio.WSAENOTCONN}
	err = fmt.Errorf("drain: %w", err)

	fmt.Println(errors.Is(err, netio.ErrNotConn))
	fmt.Println(errors.Is(err, syscall.ENOTCONN))
	fmt.Println(errors.Is(err, syscall.ECONNRESET))
	code := netio.CodeOf(err, netio.WSAENETDOWN)
	fmt.Println(code.Name(), uint32(code))
	fmt.Println(err)
	fmt.Println(netio.OK.Err() == nil)
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
	fmt.Println(netio.CodeOf(nil, netio.WSAENETDOWN) == netio.OK)
	fmt.Println(netio.CodeOf(syscall.ECONNRESET, netio.WSAENETDOWN).Name())
	fmt.Println(netio.CodeOf(errors.New("boom"), netio.WSAENETDOWN).Name())
	// Output:
	// true
	// WSAECONNRESET
	// WSAENETDOWN
}

// Every FD_CLOSE carries a Reason: its word, its Winsock code and whether
// this side ended the connection.
func ExampleReason() {
	for _, r := range []netio.Reason{
		netio.ReasonPeerClose, netio.ReasonPeerReset, netio.ReasonLocalClose,
		netio.ReasonLocalAbort, netio.ReasonRecvBan, netio.ReasonTimeout,
		netio.ReasonLimit, netio.ReasonShutdown,
	} {
		fmt.Printf("%-11s %5d local=%v\n", r, uint32(r.Code()), r.Local())
	}
	// Output:
	// peer-close      0 local=false
	// peer-reset  10054 local=false
	// local-close     0 local=true
	// local-abort 10053 local=true
	// recv-ban    10053 local=true
	// timeout     10060 local=true
	// limit       10055 local=true
	// shutdown    10050 local=true
}

func ExampleParseAddr() {
	for _, a := range []string{"tcp://127.0.0.1:9000", "udp://127.0.0.1:53", "sctp://127.0.0.1:9"} {
		network, address, err := netio.ParseAddr(a)
		fmt.Printf("%q %q %v\n", network, address, errors.Is(err, netio.ErrInvalid))
	}
	// Output:
	// "tcp" "127.0.0.1:9000" false
	// "udp" "127.0.0.1:53" false
	// "" "" true
}

func ExampleParseBanPolicy() {
	p, err := netio.ParseBanPolicy("discard")
	fmt.Println(p, err)
	_, err = netio.ParseBanPolicy("bogus")
	fmt.Println(errors.Is(err, netio.ErrInvalid))
	// Output:
	// discard <nil>
	// true
}
