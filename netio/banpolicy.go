package netio

import (
	"github.com/sockactor/sockactor/winsock"
)

// BanPolicy says what happens to received bytes once RecvDisconnect has taken
// effect (docs/SEMANTICS.md §3.3). The zero value, BanDefault, means "the
// default": the layer above resolves it (a listener inherits its runtime's
// policy), and the transport treats it as BanReset.
type BanPolicy uint8

const (
	// BanDefault is the zero value: no policy chosen here.
	BanDefault BanPolicy = iota
	// BanReset resets the connection (RST) when banned data is queued or
	// arrives; the socket emits FD_CLOSE 10053 recv-ban. Winsock's default.
	BanReset
	// BanDiscard reads and drops banned bytes, counting them; the connection
	// stays up and sending keeps working.
	BanDiscard
)

// String returns "reset" or "discard" (BanDefault reads "reset", as the
// transport applies it).
func (p BanPolicy) String() string {
	if p == BanDiscard {
		return "discard"
	}
	return "reset"
}

// Valid reports whether p is one of the three policies.
func (p BanPolicy) Valid() bool { return p <= BanDiscard }

// resets reports whether banned data resets the connection.
func (p BanPolicy) resets() bool { return p != BanDiscard }

// ParseBanPolicy parses "reset" (or "") and "discard".
func ParseBanPolicy(s string) (BanPolicy, error) {
	switch s {
	case "reset", "":
		return BanReset, nil
	case "discard":
		return BanDiscard, nil
	}
	return BanReset, &winsock.OpError{Op: "ParseBanPolicy", Code: winsock.WSAEINVAL, Detail: "unknown ban policy " + s}
}
