package runtime_test

import (
	"crypto/rand"
	"crypto/tls"
	"flag"
	"net"
	"testing"
	"time"

	"github.com/sockactor/sockactor/actors"
	"github.com/sockactor/sockactor/events"
	"github.com/sockactor/sockactor/internal/socktest"
	sockrt "github.com/sockactor/sockactor/runtime"
)

// Bad input on a tls:// listener through the actor layer (docs/SEMANTICS.md
// §8 "Bad input"), in both dispatch modes: plaintext, garbage, a stalled
// and a trickled handshake, then a crowd of half-open handshakes far over
// MaxTLSHandshakes. Each costs a slot for at most the handshake timeout and
// a counter, makes no socket and no event, and an established TLS socket
// keeps being served throughout; once the crowd is gone a new client gets
// its handshake.

// clientHello returns the first flight of Go's TLS client: a complete
// ClientHello record.
func clientHello(t *testing.T) []byte {
	t.Helper()
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	go func() { _ = tls.Client(a, socktest.TLSClientConfig()).Handshake() }()
	_ = b.SetReadDeadline(time.Now().Add(socktest.Timeout))
	hdr := make([]byte, 5)
	if _, err := readFullConn(b, hdr); err != nil {
		t.Fatal(err)
	}
	body := make([]byte, int(hdr[3])<<8|int(hdr[4]))
	if _, err := readFullConn(b, body); err != nil {
		t.Fatal(err)
	}
	return append(hdr, body...)
}

func readFullConn(c net.Conn, b []byte) (int, error) {
	n := 0
	for n < len(b) {
		k, err := c.Read(b[n:])
		n += k
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

var tlsCrowd = flag.Int("tlsbad.crowd", 10000, "TestTLSBadInput: half-open handshakes in the crowd per dispatch mode")

func TestTLSBadInput(t *testing.T) {
	const slots = 32
	crowd := *tlsCrowd
	raiseFDLimit(t, uint64(crowd+2000)) // the server holds at most the slots of them
	socktest.EachMode(t, modes, func(t *testing.T, mode actors.Dispatch) {
		// The timeout leaves a real client's handshake (race-built, on a
		// loaded machine) time to finish; the stall, the trickle (over 5 s)
		// and the crowd still run out of it.
		s := startRTOn(t, socktest.TLS, sockrt.Options{TLSHandshakeTimeout: 1500 * time.Millisecond, MaxTLSHandshakes: slots},
			actors.ListenOptions{Dispatch: mode}, echo)
		good := s.dial(t)
		if got := socktest.RoundTrip(t, good, "before"); got != "before" {
			t.Fatalf("echo %q", got)
		}
		hello := clientHello(t)
		junk := make([]byte, 4096)
		_, _ = rand.Read(junk)
		bad := []struct {
			name string
			send func(c net.Conn)
		}{
			{"plaintext", func(c net.Conn) { _, _ = c.Write([]byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n")) }},
			{"garbage", func(c net.Conn) { _, _ = c.Write(junk) }},
			{"stall", func(net.Conn) {}},
			{"trickle", func(c net.Conn) {
				// A real ClientHello, a byte every 20 ms: the handshake
				// timeout bounds it as a whole, not per byte.
				go func() {
					for _, b := range hello {
						if _, err := c.Write([]byte{b}); err != nil {
							return
						}
						time.Sleep(20 * time.Millisecond)
					}
				}()
			}},
		}
		for _, b := range bad {
			c := socktest.Dial(t, s.addr)
			b.send(c)
			if err := readUntilErr(c); err == nil || isTimeout(err) {
				t.Fatalf("%s: the server did not end the connection (%v)", b.name, err)
			}
			if got := socktest.RoundTrip(t, good, b.name); got != b.name {
				t.Fatalf("after %s: echo %q", b.name, got)
			}
		}
		socktest.WaitFor(t, "4 failed handshakes", func() bool { return s.rt.Stats().TLS.HandshakeFailed == 4 })

		// A crowd of connections that never say a word: slots fill, and
		// each newcomer evicts the oldest; every one is counted as evicted
		// or (its handshake timed out) failed; the established socket is
		// served all along, and a real client gets in in the middle of it.
		conns := make([]net.Conn, 0, crowd)
		t.Cleanup(func() {
			for _, c := range conns {
				_ = c.Close()
			}
		})
		for i := 0; i < crowd; i++ {
			c, err := net.DialTimeout("tcp", s.addr, socktest.ConnTimeout)
			switch {
			case err == nil:
				conns = append(conns, c)
			case !isReset(err): // a refusal can reset the connect itself
				t.Fatalf("dial %d: %v", i, err)
			}
			if i%200 == 0 {
				if got := socktest.RoundTrip(t, good, "during"); got != "during" {
					t.Fatalf("echo during the crowd: %q", got)
				}
			}
			if i == crowd/2 {
				mid := s.dial(t) // a new client's handshake while the crowd holds every slot
				if got := socktest.RoundTrip(t, mid, "mid-crowd"); got != "mid-crowd" {
					t.Fatalf("a new client during the crowd: %q", got)
				}
			}
		}
		socktest.WaitFor(t, "every crowd connection refused or timed out", func() bool {
			st := s.rt.Stats().TLS
			return st.HandshakeFailed+st.HandshakeEvicted == uint64(4+crowd) && st.Handshaking == 0
		})
		st := s.rt.Stats().TLS
		if st.HandshakeEvicted == 0 || st.HandshakeFailed < 4+slots {
			t.Fatalf("TLS stats %+v: want the slots' timeouts counted as failed and the rest as evicted", st)
		}
		c := s.dial(t)
		if got := socktest.RoundTrip(t, c, "after"); got != "after" {
			t.Fatalf("a new client after the crowd: %q", got)
		}
		// The events reach the recorder after the echo: wait for the last
		// client's, then check that no other came.
		socktest.WaitFor(t, "3 FD_ACCEPT", func() bool { return s.rec.Total(events.FDAccept) >= 3 })
		if n := s.rec.Total(events.FDAccept); n != 3 {
			t.Fatalf("%d FD_ACCEPT, want 3: no bad connection makes a socket", n)
		}
		if st := s.rt.Stats().TLS; st.Handshakes != 3 {
			t.Fatalf("TLS stats %+v, want 3 handshakes", st)
		}
	})
}

func isTimeout(err error) bool {
	ne, ok := err.(net.Error)
	return ok && ne.Timeout()
}
