package netio

import (
	"net"

	"golang.org/x/sys/unix"
)

// shutdownWrite sends FIN on fd (shutdown(2) SHUT_WR). Loop only.
func shutdownWrite(fd int) error { return unix.Shutdown(fd, unix.SHUT_WR) }

// localTCPAddr returns the bound address of a socket descriptor.
func localTCPAddr(fd int) (*net.TCPAddr, error) {
	sa, err := unix.Getsockname(fd)
	if err != nil {
		return nil, err
	}
	switch a := sa.(type) {
	case *unix.SockaddrInet4:
		return &net.TCPAddr{IP: net.IP(a.Addr[:]).To4(), Port: a.Port}, nil
	case *unix.SockaddrInet6:
		return &net.TCPAddr{IP: net.IP(a.Addr[:]), Port: a.Port}, nil
	}
	return nil, ErrInvalid
}

func closeFD(fd int) { _ = unix.Close(fd) }
