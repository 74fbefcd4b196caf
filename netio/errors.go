package netio

import (
	"errors"
	"io"
	"os"
	"syscall"
)

// closeCauseOf classifies the error gnet reports in OnClose.
// It never looks at error text.
func closeCauseOf(err error) Reason {
	switch {
	case err == nil:
		return ReasonLocalClose
	case errors.Is(err, io.EOF):
		return ReasonPeerClose
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE):
		return ReasonPeerReset
	case errors.Is(err, syscall.ETIMEDOUT):
		return ReasonTimeout
	case errors.Is(err, os.ErrDeadlineExceeded):
		return ReasonTimeout
	default:
		return ReasonPeerReset
	}
}
