package netio

import "golang.org/x/sys/unix"

// shutdownWrite sends FIN on fd (shutdown(2) SHUT_WR). Loop only.
func shutdownWrite(fd int) error { return unix.Shutdown(fd, unix.SHUT_WR) }

// localAddrOf returns the bound address of a socket descriptor.
func localAddrOf(fd int) (string, error) {
	sa, err := unix.Getsockname(fd)
	if err != nil {
		return "", err
	}
	switch a := sa.(type) {
	case *unix.SockaddrInet4:
		return sockaddrString(a.Addr[:], a.Port), nil
	case *unix.SockaddrInet6:
		return sockaddrString(a.Addr[:], a.Port), nil
	}
	return "", ErrInvalid
}

func closeFD(fd int) { _ = unix.Close(fd) }
