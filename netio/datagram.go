package netio

import (
	"net"
	"strconv"

	"golang.org/x/sys/unix"

	"github.com/sockactor/sockactor/winsock"
)

// The datagram side of a Conn once it exists: sending one datagram
// (writeDatagram), the error an ICMP report leaves for the next operation
// (TakeError), and what a socket is (Datagram, MaxDatagram, Network).

// writeDatagram sends p as one datagram: to the peer from the listener's
// descriptor, or on a dialled socket's own. A datagram never waits in a
// buffer: the kernel takes it whole or refuses it. Loop only.
func (c *Conn) writeDatagram(p []byte) (int, error) {
	d := c.dg
	if code := c.TakeError(); code != winsock.OK {
		return 0, &winsock.OpError{Op: "Send", Code: code}
	}
	if limit := d.maxPayload(c); len(p) > limit {
		return 0, &winsock.OpError{Op: "Send", Code: winsock.WSAEMSGSIZE, Detail: "datagram over " + strconv.Itoa(limit) + " bytes"}
	}
	var err error
	if d.tbl != nil {
		err = unix.Sendto(d.tbl.fd, p, 0, d.sa)
		d.seen = d.tbl.tick
	} else {
		_, err = unix.Write(d.fd, p)
	}
	if err != nil {
		return 0, &winsock.OpError{Op: "Send", Code: datagramCode(err), Err: err}
	}
	c.bytesOut += uint64(len(p))
	c.active = true
	return len(p), nil
}

// datagramCode maps a send error of a datagram socket to its code.
func datagramCode(err error) winsock.Code {
	switch err {
	case unix.EAGAIN, unix.ENOBUFS:
		return winsock.WSAEWOULDBLOCK
	case unix.EMSGSIZE:
		return winsock.WSAEMSGSIZE
	case unix.ECONNREFUSED:
		return winsock.WSAECONNREFUSED
	}
	return winsock.CodeOf(err, winsock.WSAENETDOWN)
}

// TakeError returns and clears the asynchronous error waiting for the next
// operation on a dialled UDP socket (WSAECONNREFUSED after an ICMP port
// unreachable), or OK. Loop only.
func (c *Conn) TakeError() winsock.Code {
	if c.kind() == kindStream || c.dg.pending == winsock.OK {
		return winsock.OK
	}
	code := c.dg.pending
	c.dg.pending = winsock.OK
	return code
}

// MaxDatagram returns the largest datagram Write takes on a UDP socket, 0
// on a stream. Safe from any goroutine.
func (c *Conn) MaxDatagram() int {
	if c.kind() == kindStream {
		return 0
	}
	return c.dg.maxPayload(c)
}

// Datagram reports whether c is a UDP socket (a listener's peer or a dialled
// one): a datagram is the unit of Write and OnData. Safe from any goroutine.
func (c *Conn) Datagram() bool { return c.kind() != kindStream }

// Network returns the connection's transport: "tcp", "udp" or "unix".
// Safe from any goroutine.
func (c *Conn) Network() string {
	switch {
	case c.kind() != kindStream:
		return "udp"
	case c.tls != nil:
		return "tls"
	case c.remote != nil && c.remote.Network() == "unix", c.local != nil && c.local.Network() == "unix":
		return "unix"
	}
	return "tcp"
}

// sockaddrUDP converts a socket address to a *net.UDPAddr.
func sockaddrUDP(sa unix.Sockaddr) *net.UDPAddr {
	ip, port, _ := ipPortOf(sa)
	return &net.UDPAddr{IP: ip, Port: port}
}
