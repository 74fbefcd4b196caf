package runtime_test

import (
	"flag"
	"testing"
	"time"

	"github.com/sockactor/sockactor/actors"
	"github.com/sockactor/sockactor/internal/socktest"
)

var (
	tlsBanStressN      = flag.Int("tlsbanstress.n", 500, "TestTLSBanStress: RecvDisconnect calls per dispatch mode and ban policy")
	tlsBanStressBudget = flag.Duration("tlsbanstress.budget", 4*time.Second, "TestTLSBanStress: time after which a mode and policy stops starting rounds (0: none)")
)

// TestTLSBanStress is TestBanStress over tls:// (docs/SEMANTICS.md §8 "The
// ban"): Go's TLS clients stream records while their sockets are banned
// concurrently from plain goroutines, in batches of 50 (a fifth of them
// pull-mode), under both policies and both dispatch modes; after a
// RecvDisconnect reply no plaintext byte reaches a handler or a Recv, and
// every socket gets one FD_CLOSE. By default 500 bans per mode and policy,
// 2,000 in all: about 7 s on a quiet 2-core machine under -race. Each ban
// needs a socket, so a handshake, which -race makes costly (tens of
// milliseconds when the machine is busy): -tlsbanstress.budget bounds
// each mode and policy (at least two batches of 50 are run), and 0 lifts
// the bound.
func TestTLSBanStress(t *testing.T) {
	if *tlsBanStressN <= 0 {
		t.Skip("-tlsbanstress.n=0")
	}
	socktest.EachMode(t, modes, func(t *testing.T, mode actors.Dispatch) {
		for _, policy := range []actors.BanPolicy{actors.BanReset, actors.BanDiscard} {
			t.Run(policy.String(), func(t *testing.T) {
				runBanStress(t, socktest.TLS, mode, policy, *tlsBanStressN, *tlsBanStressBudget)
			})
		}
	})
}
