package netio

import (
	"net"
	"strconv"

	"golang.org/x/sys/unix"

	"github.com/sockactor/sockactor/winsock"
)

// What the two UDP kinds (a listener's peer, udppeer.go, and a dialled
// socket, udpdial.go) share once the socket exists: the checks before a
// datagram goes and the count after it (datagramCheck, datagramSent), the
// send side's shutdown, the error an ICMP report leaves for the next
// operation (TakeError), and what a socket is (Datagram, MaxDatagram,
// Network). A datagram never waits in a buffer: the kernel takes it whole
// or refuses it.

// datagramCheck is what Write checks before a datagram goes: the socket is
// open and not shut down for sending, no asynchronous error waits (one
// that does is taken: it is this send's error), and p fits in one
// datagram. Loop only.
func (c *Conn) datagramCheck(p []byte) error {
	if c.closed.Load() {
		return winsock.ErrNotConn
	}
	if c.send != sendOpen {
		return winsock.ErrShutdown
	}
	if code := c.t.takeError(); code != winsock.OK {
		return &winsock.OpError{Op: "Send", Code: code}
	}
	if limit := c.t.maxDatagram(c); len(p) > limit {
		return &winsock.OpError{Op: "Send", Code: winsock.WSAEMSGSIZE, Detail: "datagram over " + strconv.Itoa(limit) + " bytes"}
	}
	return nil
}

// datagramSent is Write's result for a datagram of n bytes whose send
// returned err: counted if the kernel took it. Loop only.
func (c *Conn) datagramSent(n int, err error) (int, error) {
	if err != nil {
		return 0, &winsock.OpError{Op: "Send", Code: datagramCode(err), Err: err}
	}
	c.bytesOut += uint64(n)
	c.active = true
	return n, nil
}

// shutdownDatagram is ShutdownSend on a UDP socket: UDP has no FIN, so
// nothing is sent; later sends fail. Loop only.
func (c *Conn) shutdownDatagram() error {
	if c.closed.Load() {
		return winsock.ErrNotConn
	}
	c.setSend(finSent)
	return nil
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
func (c *Conn) TakeError() winsock.Code { return c.t.takeError() }

// MaxDatagram returns the largest datagram Write takes on a UDP socket, 0
// on a stream. Safe from any goroutine.
func (c *Conn) MaxDatagram() int { return c.t.maxDatagram(c) }

// Datagram reports whether c is a UDP socket (a listener's peer or a dialled
// one): a datagram is the unit of Write and OnData. Safe from any goroutine.
func (c *Conn) Datagram() bool {
	_, isStream := c.stream()
	return !isStream
}

// Network returns the connection's transport: "tcp", "tls", "unix" or
// "udp". Safe from any goroutine.
func (c *Conn) Network() string {
	if s, ok := c.stream(); ok {
		return s.network(c)
	}
	return "udp"
}

// maxUDPPayload is the largest payload of a UDP datagram to remote.
func maxUDPPayload(remote net.Addr) int {
	if ua, ok := remote.(*net.UDPAddr); ok && ua.IP.To4() == nil {
		return maxDatagram6
	}
	return maxDatagram4
}

// sockaddrUDP converts a socket address to a *net.UDPAddr.
func sockaddrUDP(sa unix.Sockaddr) *net.UDPAddr {
	ip, port, _ := ipPortOf(sa)
	return &net.UDPAddr{IP: ip, Port: port}
}
