package actors

import (
	"math/bits"
	"sync"
)

// Recycled read buffers: the copies a pooled socket makes of what it reads,
// when its SocketOptions.RecycleReads says the handler keeps nothing of
// Received.Data after Receive returns. Each copy then comes from a pool of
// buffers sized in powers of two (readBufMin up to maxJoin) and goes back
// after the handler call that got it, or when the receive ban drops it
// unread: a pooled read costs no allocation, and the garbage collector
// neither the work nor the heap headroom of a fresh copy per read.
//
// Goroutine-safety: the pools are sync.Pools, safe from any goroutine. A
// buffer has one owner at a time: the socket's pooled queue (under its
// hmu), then the worker whose handler call it is given to, then the pool.

// readBufMin is the smallest recycled buffer; readBufClasses reach maxJoin.
const (
	readBufMinShift = 9 // 512 B
	readBufMin      = 1 << readBufMinShift
	readBufClasses  = 16 - readBufMinShift + 1 // 512 B … 64 KiB (maxJoin)
)

// readBuf is a recycled buffer. The pool holds *readBuf, not a slice, so
// putting one back allocates nothing.
type readBuf struct{ b []byte }

var readBufs [readBufClasses]sync.Pool

// readBufClass is the class whose buffers hold n bytes, readBufClasses if
// none does.
func readBufClass(n int) int {
	if n <= readBufMin {
		return 0
	}
	return bits.Len(uint(n-1)) - readBufMinShift
}

// getReadBuf returns a buffer of at least n bytes (n ≤ maxJoin) holding
// nothing; nil when n is over maxJoin (the caller allocates).
func getReadBuf(n int) *readBuf {
	c := readBufClass(n)
	if c >= readBufClasses {
		return nil
	}
	if rb, _ := readBufs[c].Get().(*readBuf); rb != nil {
		return rb
	}
	return &readBuf{b: make([]byte, 0, readBufMin<<c)}
}

// putReadBuf gives rb back to its class. The caller keeps no view of it.
func putReadBuf(rb *readBuf) {
	if rb == nil {
		return
	}
	rb.b = rb.b[:0]
	readBufs[readBufClass(cap(rb.b))].Put(rb)
}
