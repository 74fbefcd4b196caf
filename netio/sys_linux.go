package netio

import (
	"net"
	"strings"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/sockactor/sockactor/winsock"
)

// shutdownWrite sends FIN on fd (shutdown(2) SHUT_WR). Loop only.
func shutdownWrite(fd int) error { return unix.Shutdown(fd, unix.SHUT_WR) }

// localTCPAddr returns the bound address of a socket descriptor.
func localTCPAddr(fd int) (*net.TCPAddr, error) {
	sa, err := unix.Getsockname(fd)
	if err != nil {
		return nil, err
	}
	if ip, port, ok := ipPortOf(sa); ok {
		return &net.TCPAddr{IP: ip, Port: port}, nil
	}
	return nil, winsock.ErrInvalid
}

// ipPortOf returns the IP and port of an internet socket address; ok is
// false for another family. The IP shares sa's memory.
func ipPortOf(sa unix.Sockaddr) (ip net.IP, port int, ok bool) {
	switch a := sa.(type) {
	case *unix.SockaddrInet4:
		return net.IP(a.Addr[:]).To4(), a.Port, true
	case *unix.SockaddrInet6:
		return net.IP(a.Addr[:]), a.Port, true
	}
	return nil, 0, false
}

func closeFD(fd int) { _ = unix.Close(fd) }

// bindHeld binds a socket of sotype (unix.SOCK_STREAM or SOCK_DGRAM) to
// ip:port with SO_REUSEADDR, and SO_REUSEPORT if reusePort, without
// listening, and returns it with the port it got: how a port is held until
// gnet binds its own socket beside it (a second TCP port-0 listener,
// Engine.reservePort; every UDP port-0 listener, udpSide.reserve). The
// family follows ip, and the network's "4" or "6" when ip is nil. The
// errors are the system calls' own.
func bindHeld(network string, sotype int, ip net.IP, port int, reusePort bool) (fd, bound int, err error) {
	family, sa := unix.AF_INET6, unix.Sockaddr(nil)
	if ip4 := ip.To4(); (ip4 != nil || (ip == nil && strings.HasSuffix(network, "4"))) && !strings.HasSuffix(network, "6") {
		s4 := &unix.SockaddrInet4{Port: port}
		copy(s4.Addr[:], ip4) // nil ip4: the wildcard
		family, sa = unix.AF_INET, s4
	} else {
		s6 := &unix.SockaddrInet6{Port: port}
		copy(s6.Addr[:], ip.To16())
		sa = s6
	}
	fd, err = unix.Socket(family, sotype|unix.SOCK_CLOEXEC|unix.SOCK_NONBLOCK, 0)
	if err != nil {
		return -1, 0, err
	}
	_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEADDR, 1)
	if reusePort {
		_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEPORT, 1)
	}
	if err = unix.Bind(fd, sa); err == nil {
		var got unix.Sockaddr
		if got, err = unix.Getsockname(fd); err == nil {
			if _, p, ok := ipPortOf(got); ok {
				return fd, p, nil
			}
			err = unix.EAFNOSUPPORT
		}
	}
	_ = unix.Close(fd)
	return -1, 0, err
}

// resetPending reports whether the socket on fd was reset rather than
// closed gracefully by its peer: a pending socket error (ECONNRESET, or
// EPIPE for a reset after the peer's FIN), or, while this side has sent no
// FIN, the TCP state CLOSE, which only a reset reaches from there (after our
// own FIN, the peer's FIN also ends in CLOSE). Loop only, from OnClose,
// while gnet's descriptor is still open.
//
// A TCP socket that has sent no FIN is asked its state first, and one
// system call answers the common case, a peer's plain close: a reset takes
// the socket to CLOSE whatever state it was in (Linux's tcp_reset ends in
// tcp_done), so CLOSE_WAIT (the peer's FIN, and nothing after it) means no
// reset. (A pending error without CLOSE needs IP_RECVERR, which no socket
// here sets.)
func resetPending(fd int, finSent bool) bool {
	if !finSent {
		switch state, ok := tcpState(fd); {
		case ok && state == tcpStateClose:
			return true
		case ok && state == tcpStateCloseWait:
			return false
		}
	}
	soErr, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_ERROR)
	return err == nil && soErr != 0
}

// tcpState reads tcpi_state, the first byte of TCP_INFO, into a buffer on
// the stack: the kernel copies no more than the length asked for, and
// unix.GetsockoptTCPInfo would allocate the whole 232-byte struct on every
// peer close. ok is false for a socket that is not TCP.
func tcpState(fd int) (state uint8, ok bool) {
	var buf [8]byte
	n := uint32(len(buf))
	_, _, errno := unix.Syscall6(unix.SYS_GETSOCKOPT, uintptr(fd), unix.IPPROTO_TCP, unix.TCP_INFO,
		uintptr(unsafe.Pointer(&buf[0])), uintptr(unsafe.Pointer(&n)), 0)
	if errno != 0 || n < 1 {
		return 0, false
	}
	return buf[0], true
}

// Linux's TCP_CLOSE and TCP_CLOSE_WAIT (include/net/tcp_states.h).
const (
	tcpStateClose     = 7
	tcpStateCloseWait = 8
)

// outq returns the bytes the kernel holds in fd's send queue (SIOCOUTQ:
// for TCP not yet acknowledged, for a unix stream not yet read by the
// peer); 0 if it cannot tell.
func outq(fd int) int {
	n, err := unix.IoctlGetInt(fd, unix.SIOCOUTQ)
	if err != nil {
		return 0
	}
	return n
}
