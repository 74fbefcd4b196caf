package loadgen

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"
)

// The tls scenarios' load generators (the bench's tls scenario, against
// TLS 1.3 echo servers: see servers.ModeTLS).
const (
	// ScenarioTLSHandshake: Workers loops, each a full handshake (no
	// session resumption: the client keeps no session cache), one 8-byte
	// echo and a close (close_notify, FIN), in turn.
	ScenarioTLSHandshake = "tls-handshake"
	// ScenarioTLSEcho: Conns established TLS connections, Payload-byte
	// request/response echo, as the echo scenario over TCP.
	ScenarioTLSEcho = "tls-echo"
	// ScenarioTLSIdle: TLS connections opened in cumulative Steps, one
	// 8-byte echo each, then idle; the server's RSS and live heap+stacks.
	ScenarioTLSIdle = "tls-idle"
	// ScenarioTLSHalfOpen: Conns raw TCP connections that never send a
	// ClientHello, while a few established TLS connections echo.
	ScenarioTLSHalfOpen = "tls-halfopen"
)

// Metric keys of the tls scenarios (the echo's own keys too: msgs/s,
// CPU/msg, p50/p99; and rss_per_conn_N for idle).
const (
	MetricTLSHandshakesPerSec = "tls_handshakes_per_s"        // full handshakes (+ one echo + close) per second
	MetricTLSCPUPerHandshake  = "tls_cpu_us_per_handshake"    // server CPU per handshake, µs
	MetricTLSHandshakeErrors  = "tls_handshake_errors"        // failed handshakes (or their echo)
	MetricTLSHeapPerConnPfx   = "tls_heapstack_per_conn_"     // live heap + stacks per idle connection, bytes (after a forced GC)
	MetricTLSGoroutinesPfx    = "tls_goroutines_"             // server goroutines with N idle connections
	MetricTLSHOConns          = "tls_ho_conns"                // half-open connections made
	MetricTLSHORefused        = "tls_ho_refused"              // of them, closed by the server during the hold (sockactor: evicted over MaxTLSHandshakes)
	MetricTLSHOHeld           = "tls_ho_held"                 // of them, still open at the end of the hold (a handshake slot, or a goroutine, each)
	MetricTLSHOSrvRefused     = "tls_ho_srv_refused"          // the server's own count of refused (sockactor: evicted) handshakes
	MetricTLSHOSrvFailed      = "tls_ho_srv_failed"           // the server's count of failed handshakes once the half-open connections closed
	MetricTLSHORSSDelta       = "tls_ho_rss_delta_mb"         // server RSS during the attack − before, MiB
	MetricTLSHOHeapDelta      = "tls_ho_heapstack_delta_mb"   // live heap + stacks during the attack − before, MiB
	MetricTLSHORSSPerHeld     = "tls_ho_rss_per_held"         // RSS delta / held half-open connections, bytes
	MetricTLSHOHeapPerHeld    = "tls_ho_heapstack_per_held"   // heap+stack delta / held, bytes
	MetricTLSHOCPUPerConn     = "tls_ho_cpu_us_per_conn"      // server CPU while the half-open connections were made, per connection, µs
	MetricTLSHOHoldCorePct    = "tls_ho_hold_core_pct"        // server CPU during the hold, % of a core (the established echo included)
	MetricTLSHOP99Before      = "tls_ho_p99_before_us"        // established echo round trip p99 before the attack, µs
	MetricTLSHOP99During      = "tls_ho_p99_during_us"        // the same from the first half-open connect to the end of the hold
	MetricTLSHOMaxDuring      = "tls_ho_max_during_us"        // its maximum
	MetricTLSHONewOK          = "tls_ho_new_ok"               // fresh handshakes tried during the hold that succeeded
	MetricTLSHONewTried       = "tls_ho_new_tried"            // fresh handshakes tried during the hold
	MetricTLSHOAfterOK        = "tls_ho_after_ok"             // a fresh handshake once the half-open connections are gone: 1 ok, 0 not
	MetricTLSHOGoroutines     = "tls_ho_goroutines"           // server goroutines during the attack
	metricTLSHOEchoMsgs       = "tls_ho_echo_msgs"            // established echoes during the attack
	metricTLSHOEchoErrors     = "tls_ho_echo_errors"          // established echoes that failed
	metricTLSHandshakesServer = "tls_server_handshakes_delta" // the server's count of completed handshakes in the window
)

// TLSConfig configures a tls scenario run.
type TLSConfig struct {
	// Target is the TLS server's host:port (loopback only); Notify its
	// side channel (idle and half-open: the live heap and TLS counters).
	Target, Notify string
	// Conns is the echo connections (echo) or the half-open ones.
	Conns int
	// Payload is the echo message size (echo).
	Payload int
	// Workers is the concurrent handshake loops (handshake).
	Workers int
	// Warmup and Duration are the warm-up and the measured window
	// (handshake, echo) or the hold of the half-open connections.
	Warmup, Duration time.Duration
	// Steps are the cumulative connection counts of idle, comma-separated.
	Steps string
	// Settle is the pause before each memory reading (idle, half-open).
	Settle time.Duration
	// ServerPID is the server process, for its CPU time and RSS.
	ServerPID int
	// Sources is the source addresses to spread connections over;
	// DialParallel bounds concurrent dials (and handshakes).
	Sources, DialParallel int
}

// tlsClientConfig is the client side of every tls scenario: TLS 1.3, no
// session cache (every handshake is a full one). The server's
// certificate is a fresh self-signed one per server process, so it is not
// verified against roots; crypto/tls still checks the server's signature
// over the handshake with the certificate's key.
func tlsClientConfig() *tls.Config {
	return &tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS13} //nolint:gosec // a loopback bench against its own self-signed server
}

// tlsHandshakeTimeout bounds one client handshake.
const tlsHandshakeTimeout = 10 * time.Second

// dialTLS opens one TCP connection with d and runs the client handshake.
func dialTLS(ctx context.Context, d *Dialer, cfg *tls.Config) (*tls.Conn, error) {
	tc, err := d.Dial(ctx)
	if err != nil {
		return nil, err
	}
	c := tls.Client(tc, cfg)
	hctx, cancel := context.WithTimeout(ctx, tlsHandshakeTimeout)
	defer cancel()
	if err := c.HandshakeContext(hctx); err != nil {
		_ = tc.SetLinger(0)
		_ = tc.Close()
		return nil, fmt.Errorf("tls handshake: %w", err)
	}
	return c, nil
}

// dialTLSAll opens n TLS connections, at most par dials and handshakes in
// flight, running init on each.
func dialTLSAll(ctx context.Context, d *Dialer, n, par int, init func(i int, c *tls.Conn) error) ([]*tls.Conn, error) {
	cfg := tlsClientConfig()
	dial := func(ctx context.Context) (*tls.Conn, error) { return dialTLS(ctx, d, cfg) }
	return dialParallel(ctx, n, par, dial, init, closeTLS)
}

// closeTLS closes every non-nil connection with a reset, as closeAll does
// (no close_notify: the end of a run is not measured).
func closeTLS(conns []*tls.Conn) {
	for _, c := range conns {
		if c == nil {
			continue
		}
		if tc, ok := c.NetConn().(*net.TCPConn); ok {
			_ = tc.SetLinger(0)
		}
		_ = c.NetConn().Close()
	}
}

// RunTLS runs one of the tls scenarios.
func RunTLS(ctx context.Context, scenario string, cfg TLSConfig) (Result, error) {
	switch scenario {
	case ScenarioTLSHandshake:
		return runTLSHandshakes(ctx, cfg)
	case ScenarioTLSEcho:
		return runTLSEcho(ctx, cfg)
	case ScenarioTLSIdle:
		return runTLSIdle(ctx, cfg)
	case ScenarioTLSHalfOpen:
		return runTLSHalfOpen(ctx, cfg)
	}
	return newResult(scenario), fmt.Errorf("unknown tls scenario %q", scenario)
}

// serverTLS is the side channel's tls reply.
type serverTLS struct {
	Handshakes uint64 `json:"handshakes"`
	Failed     uint64 `json:"failed"`
	Refused    uint64 `json:"refused"`
	InFlight   int64  `json:"in_flight"`
	Error      string `json:"error"`
}

func (t *serverTLS) replyError() string { return t.Error }

// queryTLS asks the side channel for the server's TLS counters.
func queryTLS(ctx context.Context, cc *controlClient) (serverTLS, error) {
	var t serverTLS
	err := queryJSON(ctx, cc, "tls", 10*time.Second, &t)
	return t, err
}

// dialSideChannel connects to the server's side channel (close records,
// which the tls servers never send, are drained).
func dialSideChannel(ctx context.Context, addr string) (*controlClient, func(), error) {
	closes := make(chan closeRecord, 64)
	drained := make(chan struct{})
	go func() {
		defer close(drained)
		for range closes {
		}
	}()
	cc, err := dialControl(ctx, addr, closes)
	if err != nil {
		close(closes)
		<-drained
		return nil, nil, err
	}
	return cc, func() { cc.close(); close(closes); <-drained }, nil
}

// parseSteps parses comma-separated ascending connection counts.
func parseSteps(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 || (len(out) > 0 && n <= out[len(out)-1]) {
			return nil, fmt.Errorf("steps %q: want ascending positive counts", s)
		}
		out = append(out, n)
	}
	return out, nil
}
