package netio_test

import (
	"errors"
	"fmt"

	"github.com/sockactor/sockactor/netio"
	"github.com/sockactor/sockactor/winsock"
)

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
		fmt.Printf("%q %q %v\n", network, address, errors.Is(err, winsock.ErrInvalid))
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
	fmt.Println(errors.Is(err, winsock.ErrInvalid))
	// Output:
	// discard <nil>
	// true
}
