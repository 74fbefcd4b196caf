package servers

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/sockactor/sockactor/actors"
	"github.com/sockactor/sockactor/events"
)

// banConcurrency is how many RecvDisconnect calls BanAll keeps in flight.
const banConcurrency = 16

// banState is the ban bookkeeping of one socket.
type banState struct {
	pid       *actor.PID
	requested atomic.Bool            // RecvDisconnect sent
	closedBy  atomic.Pointer[string] // FD_CLOSE reason, once closed
	replied   atomic.Bool            // RecvDisconnect answered: the ban is in force
	bytes     atomic.Int64
	during    atomic.Int64
	after     atomic.Int64
}

// echoTracked is the handler of the ban scenario: the echo plus per-socket
// byte counters split by where the socket's ban stands.
func (s *sockactorServer) echoTracked(c *actors.Context) {
	st, _ := c.State().(*banState)
	if st == nil {
		// First message of the socket (its own FD_ACCEPT): register it.
		st = &banState{pid: c.Self()}
		c.SetState(st)
		s.mu.Lock()
		s.sockets[c.ID()] = st
		s.mu.Unlock()
	}
	switch m := c.Message().(type) {
	case *actors.Received:
		n := int64(len(m.Data))
		st.bytes.Add(n)
		switch {
		case st.replied.Load():
			st.after.Add(n)
		case st.requested.Load():
			st.during.Add(n)
		}
		_, _ = c.Write(m.Data)
	case *events.Event:
		if events.Kind(m.Kind) == events.FDClose {
			// Keep the counters (they are summed by BanStats) but stop
			// offering the socket to BanAll.
			if !st.requested.Load() {
				reason := m.Reason
				st.closedBy.Store(&reason)
			}
			st.requested.Store(true)
			closeOnPeerClose(c, m)
		}
	}
}

// BanAll implements Banner: RecvDisconnect on every socket that has
// received data, banConcurrency calls at a time.
func (s *sockactorServer) BanAll(ctx context.Context) (BanReport, error) {
	if !s.track {
		return BanReport{}, errors.New("start the server with a ban policy to use the ban")
	}
	s.mu.Lock()
	todo := make([]*banState, 0, len(s.sockets))
	closedBefore := map[string]int{}
	for _, st := range s.sockets {
		switch r := st.closedBy.Load(); {
		case r != nil:
			closedBefore[*r]++
		case !st.requested.Load():
			todo = append(todo, st)
		}
	}
	s.mu.Unlock()
	rep := BanReport{Conns: len(todo), Concurrency: banConcurrency, RTTNanos: make([]int64, 0, len(todo)), ClosedBefore: closedBefore}
	var (
		mu   sync.Mutex
		wg   sync.WaitGroup
		next atomic.Int64
	)
	for range min(banConcurrency, len(todo)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= len(todo) {
					return
				}
				st := todo[i]
				st.requested.Store(true)
				t0 := time.Now()
				_, err := s.rt.RecvDisconnect(ctx, st.pid)
				rtt := time.Since(t0)
				if err == nil {
					st.replied.Store(true)
				}
				mu.Lock()
				if err != nil {
					rep.Errors++
					if rep.FirstError == "" {
						rep.FirstError = err.Error()
					}
				} else {
					rep.Banned++
					rep.RTTNanos = append(rep.RTTNanos, int64(rtt))
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return rep, nil
}

// BanStats implements Banner.
func (s *sockactorServer) BanStats(ctx context.Context) (BanStats, error) {
	s.mu.Lock()
	all := make([]*banState, 0, len(s.sockets))
	for _, st := range s.sockets {
		all = append(all, st)
	}
	s.mu.Unlock()
	var out BanStats
	for _, st := range all {
		out.HandlerBytes += st.bytes.Load()
		out.DuringBanBytes += st.during.Load()
		out.AfterBanBytes += st.after.Load()
		if !st.replied.Load() || out.BannedBytes < 0 {
			continue
		}
		info, err := s.rt.Info(ctx, st.pid)
		if err != nil {
			out.BannedBytes = -1 // released or unreachable: the sum would be partial
			continue
		}
		out.BannedBytes += int64(info.BannedBytes)
	}
	return out, nil
}
