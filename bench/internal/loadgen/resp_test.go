package loadgen

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/sockactor/sockactor/bench/servers"
)

// TestRunRESP runs the RESP client against each RESP server in-process:
// requests are answered, every reply checked, nothing is reported wrong.
func TestRunRESP(t *testing.T) {
	for _, name := range []string{"gnet", "sockactor-inline", "sockactor-pooled"} {
		t.Run(name, func(t *testing.T) {
			srv, err := servers.NewMode(name, servers.ModeRESP)
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			addr, err := srv.Start(ctx, servers.Config{Listen: "127.0.0.1:0"})
			if err != nil {
				t.Fatal(err)
			}
			defer func() {
				if err := srv.Stop(ctx); err != nil {
					t.Error(err)
				}
			}()
			for _, depth := range []int{1, 3, 16} {
				res, err := RunRESP(ctx, RESPConfig{Target: addr.String(), Conns: 4, Depth: depth, Payload: 64,
					Warmup: 20 * time.Millisecond, Duration: 100 * time.Millisecond, Sources: 1, DialParallel: 4})
				if err != nil {
					t.Fatal(err)
				}
				if len(res.Errors) > 0 || res.Metrics[MetricMsgs] == 0 || res.Metrics[MetricMismatches] != 0 {
					t.Fatalf("depth %d: %+v", depth, res)
				}
			}
		})
	}
}

// TestRESPModeUnsupported: the servers without a RESP mode say so.
func TestRESPModeUnsupported(t *testing.T) {
	for _, name := range []string{"stdlib", "naive"} {
		if _, err := servers.NewMode(name, servers.ModeRESP); !errors.Is(err, servers.ErrUnsupported) {
			t.Errorf("%s: %v, want unsupported", name, err)
		}
	}
}
