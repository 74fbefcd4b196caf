package servers

import (
	"errors"
	"net"
	"sync"
	"time"
)

// connSet tracks the accepted connections of a stdlib-style server so that
// Stop can close them all and wait for their goroutines.
type connSet struct {
	mu     sync.Mutex
	conns  map[net.Conn]struct{}
	closed bool
	wg     sync.WaitGroup
	nextID uint64
}

// add registers c and reports its id; it returns false when the set is
// already closed (the caller must close c itself then).
func (s *connSet) add(c net.Conn) (uint64, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return 0, false
	}
	if s.conns == nil {
		s.conns = make(map[net.Conn]struct{})
	}
	s.conns[c] = struct{}{}
	s.nextID++
	s.wg.Add(1)
	return s.nextID, true
}

// done unregisters c once its goroutine is finished with it.
func (s *connSet) done(c net.Conn) {
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
	s.wg.Done()
}

// closeAll closes every registered connection and waits for their
// goroutines to call done.
func (s *connSet) closeAll() {
	s.mu.Lock()
	s.closed = true
	for c := range s.conns {
		_ = c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
}

// acceptLoop accepts on ln until it is closed, handing each connection to
// serve on its own goroutine. It returns nil once ln is closed.
func acceptLoop(ln net.Listener, set *connSet, serve func(id uint64, c net.Conn)) error {
	var backoff time.Duration
	for {
		c, err := ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return nil
			}
			// EMFILE and friends: keep serving the connections we have and
			// retry with a growing pause, as net/http does.
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			time.Sleep(backoff)
			continue
		}
		backoff = 0
		id, ok := set.add(c)
		if !ok {
			_ = c.Close()
			return nil
		}
		go func() {
			defer set.done(c)
			serve(id, c)
		}()
	}
}
