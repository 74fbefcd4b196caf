package runtime_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/sockactor/sockactor/actors"
	sockrt "github.com/sockactor/sockactor/runtime"
	"github.com/sockactor/sockactor/winsock"
)

func TestOptionsValidate(t *testing.T) {
	tests := []struct {
		name  string
		opts  sockrt.Options
		field string // "" means valid
	}{
		{"zero value", sockrt.Options{}, ""},
		{"explicit marks", sockrt.Options{SendHighWater: 1 << 20, SendLowWater: 1 << 18}, ""},
		{"low mark equal to high", sockrt.Options{SendHighWater: 1 << 20, SendLowWater: 1 << 20}, ""},
		{"discard", sockrt.Options{BanPolicy: actors.BanDiscard}, ""},
		{"negative linger releases at once", sockrt.Options{Linger: -1}, ""},
		{"negative MaxConns means no limit", sockrt.Options{MaxConns: -1}, ""},
		{"negative loops", sockrt.Options{EventLoops: -1}, "EventLoops"},
		{"negative MaxSend", sockrt.Options{MaxSend: -1}, "MaxSend"},
		{"negative MaxInbound", sockrt.Options{MaxInbound: -5}, "MaxInbound"},
		{"negative PoolSize", sockrt.Options{PoolSize: -1}, "PoolSize"},
		{"PoolSize of one", sockrt.Options{PoolSize: 1}, ""},
		{"negative high mark", sockrt.Options{SendHighWater: -1}, "SendHighWater"},
		{"negative low mark", sockrt.Options{SendLowWater: -1}, "SendLowWater"},
		{"low mark above high", sockrt.Options{SendHighWater: 1 << 20, SendLowWater: 2 << 20}, "SendLowWater"},
		{"low mark above the default high", sockrt.Options{SendLowWater: actors.DefaultSendHighWater + 1}, "SendLowWater"},
		{"negative request timeout", sockrt.Options{RequestTimeout: -time.Second}, "RequestTimeout"},
		{"negative idle timeout", sockrt.Options{IdleTimeout: -time.Second}, "IdleTimeout"},
		{"unknown ban policy", sockrt.Options{BanPolicy: actors.BanPolicy(7)}, "BanPolicy"},
		{"round robin (not safe beside Dial in gnet)", sockrt.Options{LoadBalancing: "round-robin"}, "LoadBalancing"},
		{"source hash", sockrt.Options{LoadBalancing: "source-addr-hash"}, ""},
		{"unknown load balancing", sockrt.Options{LoadBalancing: "random"}, "LoadBalancing"},
		{"negative read buffer", sockrt.Options{ReadBufferCap: -1}, "ReadBufferCap"},
		{"negative keepalive", sockrt.Options{TCPKeepAlive: -time.Second}, "TCPKeepAlive"},
		{"negative handshake timeout", sockrt.Options{TLSHandshakeTimeout: -time.Second}, "TLSHandshakeTimeout"},
		{"negative handshakes", sockrt.Options{MaxTLSHandshakes: -1}, "MaxTLSHandshakes"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.opts.Validate()
			if tc.field == "" {
				if err != nil {
					t.Fatalf("Validate = %v, want nil", err)
				}
				return
			}
			if !errors.Is(err, winsock.ErrInvalid) || !strings.Contains(err.Error(), "Options."+tc.field) {
				t.Fatalf("Validate = %v, want WSAEINVAL naming Options.%s", err, tc.field)
			}
			if rt, err := sockrt.New(tc.opts); err == nil || rt != nil {
				t.Fatalf("New accepted invalid options (%v)", err)
			}
		})
	}
}

// TestBanPolicyInheritance: the zero ban policy of a listener inherits the
// runtime's; a non-zero one overrides it; a bad one is refused.
func TestBanPolicyInheritance(t *testing.T) {
	tests := []struct {
		name    string
		runtime actors.BanPolicy
		listen  actors.ListenOptions
		want    string
	}{
		{"all defaults", actors.BanDefault, actors.ListenOptions{}, "reset"},
		{"inherit discard", actors.BanDiscard, actors.ListenOptions{}, "discard"},
		{"override to reset", actors.BanDiscard, actors.ListenOptions{BanPolicy: actors.BanReset}, "reset"},
		{"override to discard", actors.BanReset, actors.ListenOptions{BanPolicy: actors.BanDiscard}, "discard"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rt, err := sockrt.New(sockrt.Options{EventLoops: 1, BanPolicy: tc.runtime})
			if err != nil {
				t.Fatal(err)
			}
			defer rt.Shutdown(ctx5(t))
			ln, err := rt.Listen("tcp://127.0.0.1:0", nop, tc.listen)
			if err != nil {
				t.Fatal(err)
			}
			if got := ln.BanPolicy().String(); got != tc.want {
				t.Fatalf("listener ban policy %q, want %q", got, tc.want)
			}
		})
	}
	rt, err := sockrt.New(sockrt.Options{EventLoops: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Shutdown(ctx5(t))
	if _, err := rt.Listen("tcp://127.0.0.1:0", nop, actors.ListenOptions{BanPolicy: actors.BanPolicy(9)}); !errors.Is(err, winsock.ErrInvalid) {
		t.Fatalf("Listen with an unknown ban policy: %v, want WSAEINVAL", err)
	}
}
