package servers

import "sync"

// CloseFanIn joins the deliveries of one close event to several
// subscribers: it records the close on the Control once the last of n
// subscribers has received it, timestamped with the latest receipt, so the
// latency measured is the one to the last subscriber. A socket whose event
// arrives more than n times is counted as a duplicate.
type CloseFanIn struct {
	n   int
	ctl *Control

	mu         sync.Mutex
	seen       map[uint64]*fanInEntry
	duplicates int64
}

type fanInEntry struct {
	count  int
	latest int64
}

// NewCloseFanIn returns a fan-in for n subscribers (n < 1 means 1) that
// records on ctl.
func NewCloseFanIn(n int, ctl *Control) *CloseFanIn {
	if n < 1 {
		n = 1
	}
	return &CloseFanIn{n: n, ctl: ctl, seen: make(map[uint64]*fanInEntry)}
}

// Deliver notes that one subscriber received, at unixNano, the close of
// socket id (remote address remote) that the runtime emitted at emitNano.
// It is safe for concurrent use.
func (f *CloseFanIn) Deliver(id uint64, remote string, unixNano, emitNano int64) {
	if f.n == 1 {
		// The common case needs no bookkeeping beyond duplicates.
		f.mu.Lock()
		e := f.seen[id]
		if e == nil {
			f.seen[id] = &fanInEntry{count: 1}
			f.mu.Unlock()
			f.ctl.RecordClose(id, remote, unixNano, emitNano)
			return
		}
		f.duplicates++
		f.mu.Unlock()
		return
	}
	f.mu.Lock()
	e := f.seen[id]
	if e == nil {
		e = &fanInEntry{}
		f.seen[id] = e
	}
	e.count++
	if unixNano > e.latest {
		e.latest = unixNano
	}
	switch {
	case e.count == f.n:
		latest := e.latest
		f.mu.Unlock()
		f.ctl.RecordClose(id, remote, latest, emitNano)
		return
	case e.count > f.n:
		f.duplicates++
	}
	f.mu.Unlock()
}

// Duplicates returns how many deliveries exceeded n for their socket.
func (f *CloseFanIn) Duplicates() int64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.duplicates
}
