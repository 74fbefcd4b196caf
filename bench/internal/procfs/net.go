package procfs

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"fmt"
	"net/netip"
	"os"
	"strconv"
	"strings"
)

// The socket tables of /proc/net/tcp and /proc/net/udp (IPv4 only): the
// hostile scenario reads the queues of one server's sockets there, which
// no other process can ask the server's descriptors for.

// ProcAddr returns how /proc/net/tcp and /proc/net/udp print an IPv4
// address and port: the address as a native-endian 32-bit word and the
// port, each in upper-case hex ("0100007F:1F90" for 127.0.0.1:8080 on a
// little-endian machine). ok is false for anything but IPv4.
func ProcAddr(ap netip.AddrPort) (string, bool) {
	a := ap.Addr().Unmap()
	if !a.Is4() {
		return "", false
	}
	b := a.As4()
	return fmt.Sprintf("%08X:%04X", binary.NativeEndian.Uint32(b[:]), ap.Port()), true
}

// tcpEstablished is the st column of an established TCP socket.
const tcpEstablished = "01"

// TCPQueues sums the queues of the established TCP connections of one
// server address.
type TCPQueues struct {
	// ServerConns counts established sockets whose local address is the
	// server's; ServerTx sums their tx_queue: bytes written and not yet
	// acknowledged by the peer, sent or not.
	ServerConns int
	ServerTx    int64
	// PeerConns counts established sockets whose remote address is the
	// server's (its peers, on this machine); PeerRx sums their rx_queue
	// (bytes received and not read), PeerNonEmpty counts those with any.
	PeerConns    int
	PeerRx       int64
	PeerNonEmpty int
}

// ParseTCPQueues sums, from the contents of /proc/net/tcp, the queues of
// the established connections of server, a ProcAddr string.
func ParseTCPQueues(b []byte, server string) (TCPQueues, error) {
	var q TCPQueues
	err := eachSocket(b, func(f []string) error {
		if len(f) < 5 || f[3] != tcpEstablished {
			return nil
		}
		local, remote := f[1] == server, f[2] == server
		if !local && !remote {
			return nil
		}
		tx, rx, err := parseQueues(f[4])
		if err != nil {
			return err
		}
		if local {
			q.ServerConns++
			q.ServerTx += tx
		}
		if remote {
			q.PeerConns++
			q.PeerRx += rx
			if rx > 0 {
				q.PeerNonEmpty++
			}
		}
		return nil
	})
	return q, err
}

// UDPQueues sums the receive queues of the UDP sockets bound to one
// address (a server with SO_REUSEPORT has several).
type UDPQueues struct {
	// Sockets counts them.
	Sockets int
	// Rx sums their rx_queue (the receive buffer's allocation, bytes),
	// MaxRx is the largest.
	Rx, MaxRx int64
	// Drops sums their drops column: datagrams the kernel threw away, a
	// full receive buffer's among them.
	Drops int64
}

// ParseUDPQueues sums, from the contents of /proc/net/udp, the queues and
// drops of the sockets bound to server, a ProcAddr string.
func ParseUDPQueues(b []byte, server string) (UDPQueues, error) {
	var q UDPQueues
	err := eachSocket(b, func(f []string) error {
		if len(f) < 13 || f[1] != server {
			return nil
		}
		_, rx, err := parseQueues(f[4])
		if err != nil {
			return err
		}
		drops, err := strconv.ParseInt(f[12], 10, 64)
		if err != nil {
			return fmt.Errorf("%w: udp drops %q", ErrMalformed, f[12])
		}
		q.Sockets++
		q.Rx += rx
		q.MaxRx = max(q.MaxRx, rx)
		q.Drops += drops
		return nil
	})
	return q, err
}

// eachSocket calls fn with the fields of every line of a /proc/net socket
// table but its header.
func eachSocket(b []byte, fn func(fields []string) error) error {
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 4096), 1<<20)
	first := true
	for sc.Scan() {
		if first {
			first = false
			continue
		}
		if err := fn(strings.Fields(sc.Text())); err != nil {
			return err
		}
	}
	return sc.Err()
}

// parseQueues parses a "tx_queue:rx_queue" column (two hex numbers).
func parseQueues(s string) (tx, rx int64, err error) {
	t, r, ok := strings.Cut(s, ":")
	if !ok {
		return 0, 0, fmt.Errorf("%w: queues %q", ErrMalformed, s)
	}
	tu, err1 := strconv.ParseUint(t, 16, 32)
	ru, err2 := strconv.ParseUint(r, 16, 32)
	if err1 != nil || err2 != nil {
		return 0, 0, fmt.Errorf("%w: queues %q", ErrMalformed, s)
	}
	return int64(tu), int64(ru), nil
}

// ReadTCPQueues reads /proc/net/tcp for server's queues.
func ReadTCPQueues(server string) (TCPQueues, error) {
	b, err := os.ReadFile("/proc/net/tcp")
	if err != nil {
		return TCPQueues{}, err
	}
	return ParseTCPQueues(b, server)
}

// ReadUDPQueues reads /proc/net/udp for server's queues.
func ReadUDPQueues(server string) (UDPQueues, error) {
	b, err := os.ReadFile("/proc/net/udp")
	if err != nil {
		return UDPQueues{}, err
	}
	return ParseUDPQueues(b, server)
}
