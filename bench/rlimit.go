package main

import "syscall"

// raiseNoFileLimit lifts the soft limit on open descriptors to the hard
// limit: every role needs thousands of sockets. Failure is not fatal; the
// scenario that needs more descriptors reports its own error.
func raiseNoFileLimit() {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return
	}
	if lim.Cur < lim.Max {
		lim.Cur = lim.Max
		_ = syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim)
	}
}

// noFileLimit returns the soft limit on open descriptors (after
// raiseNoFileLimit, the hard limit), or 0 when it cannot be read.
func noFileLimit() uint64 {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return 0
	}
	return lim.Cur
}
