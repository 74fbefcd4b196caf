package socktest

import (
	"net"
	"strconv"
	"testing"
)

// FreePort returns a port that nothing binds now on any IPv4 address, for
// TCP and for UDP: found by a wildcard bind of each, then released, for a
// test that must declare a fixed port. Another process could still take it
// before the test binds it (the usual race of such a pick).
func FreePort(tb testing.TB) int {
	tb.Helper()
	for range 20 {
		ln, err := net.Listen("tcp4", "0.0.0.0:0")
		if err != nil {
			tb.Fatal(err)
		}
		port := ln.Addr().(*net.TCPAddr).Port
		pc, err := net.ListenPacket("udp4", "0.0.0.0:"+strconv.Itoa(port))
		_ = ln.Close()
		if err == nil {
			_ = pc.Close()
			return port
		}
	}
	tb.Fatal("no port free for both TCP and UDP")
	return 0
}
