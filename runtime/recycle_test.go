package runtime_test

import (
	"bytes"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sockactor/sockactor/actors"
	"github.com/sockactor/sockactor/internal/socktest"
	sockrt "github.com/sockactor/sockactor/runtime"
)

// streamPattern is conn i's bytes: a sequence no other connection sends,
// so a buffer handed to the wrong socket or reused too early shows.
func streamPattern(i, n int) []byte {
	b := make([]byte, n)
	r := rand.New(rand.NewPCG(uint64(i)+1, 7))
	for k := range b {
		b[k] = byte(r.Uint32())
	}
	return b
}

// pumpEchoes sends each conn its pattern in writes of random sizes, reads
// the echo back concurrently, and reports every conn whose echo differs.
// Goroutines: one writer and one reader per conn, all ended before it
// returns.
func pumpEchoes(t *testing.T, conns []socktest.Conn, size int) {
	t.Helper()
	var wg sync.WaitGroup
	errs := make(chan error, 2*len(conns))
	for i, c := range conns {
		want := streamPattern(i, size)
		_ = c.SetDeadline(time.Now().Add(30 * time.Second))
		wg.Add(2)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(uint64(i), 3))
			for off := 0; off < len(want); {
				n := min(1+r.IntN(20000), len(want)-off)
				if _, err := c.Write(want[off : off+n]); err != nil {
					errs <- fmt.Errorf("conn %d: write: %w", i, err)
					return
				}
				off += n
			}
		}()
		go func() {
			defer wg.Done()
			got := make([]byte, len(want))
			if _, err := io.ReadFull(c, got); err != nil {
				errs <- fmt.Errorf("conn %d: read: %w", i, err)
				return
			}
			if !bytes.Equal(got, want) {
				k := 0
				for k < len(got) && got[k] == want[k] {
					k++
				}
				errs <- fmt.Errorf("conn %d: echo differs from byte %d of %d", i, k, len(want))
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// TestRecycleReads: a pooled handler with RecycleReads gets every byte its
// peer sent, in order and to no other socket, while its reads are joined
// (the handler naps now and then, so reads queue behind it and are joined
// across the buffer sizes up to 64 KiB) and their buffers recycled, over
// every stream transport, several sockets at once.
func TestRecycleReads(t *testing.T) {
	socktest.EachTransport(t, transports, func(t *testing.T, tr socktest.Transport) {
		var calls, largest atomic.Int64
		h := actors.HandlerFunc(func(c *actors.Context) {
			m, ok := c.Message().(*actors.Received)
			if !ok {
				return
			}
			if n := int64(len(m.Data)); n > largest.Load() {
				largest.Store(n) // the only writer per socket at a time; a rough max is enough
			}
			if calls.Add(1)%16 == 0 {
				time.Sleep(time.Millisecond) // reads queue behind this call and are joined
			}
			_, _ = c.Write(m.Data)
		})
		s := startRTOn(t, tr, sockrt.Options{}, actors.ListenOptions{Dispatch: actors.Pooled, RecycleReads: true}, h)
		conns := make([]socktest.Conn, 8)
		for i := range conns {
			conns[i] = s.dial(t)
		}
		pumpEchoes(t, conns, 1<<20)
		t.Logf("%d handler calls, the largest Received %d bytes", calls.Load(), largest.Load())
		if l := largest.Load(); l > 64<<10 {
			t.Errorf("a Received of %d bytes; joined reads stop at 64 KiB", l)
		}
	})
}

// TestPooledDataIsOwnedByDefault: without RecycleReads a pooled handler
// owns Received.Data: slices it keeps, uncopied, still hold what was read
// after many more reads on the same and other sockets.
func TestPooledDataIsOwnedByDefault(t *testing.T) {
	var mu sync.Mutex
	kept := map[uint64][][]byte{} // by socket: the Data slices, uncopied
	h := actors.HandlerFunc(func(c *actors.Context) {
		if m, ok := c.Message().(*actors.Received); ok {
			mu.Lock()
			kept[c.ID()] = append(kept[c.ID()], m.Data)
			mu.Unlock()
		}
	})
	s := startRTOn(t, socktest.TCP, sockrt.Options{}, actors.ListenOptions{Dispatch: actors.Pooled}, h)
	const conns, size = 4, 256 << 10
	var wg sync.WaitGroup
	for i := range conns {
		c := s.dial(t)
		want := streamPattern(i, size)
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, _ = c.Write(want)
		}()
	}
	wg.Wait()
	socktest.WaitFor(t, "every byte handed over", func() bool {
		mu.Lock()
		defer mu.Unlock()
		total := 0
		for _, ds := range kept {
			for _, d := range ds {
				total += len(d)
			}
		}
		return total == conns*size
	})
	mu.Lock()
	defer mu.Unlock()
	seen := map[int]bool{}
	for id, ds := range kept {
		got := bytes.Join(ds, nil)
		match := -1
		for i := range conns {
			if bytes.Equal(got, streamPattern(i, size)) {
				match = i
			}
		}
		if match < 0 {
			t.Errorf("socket %d: the kept slices no longer hold what the peer sent", id)
			continue
		}
		seen[match] = true
	}
	if len(seen) != conns {
		t.Errorf("%d sockets' kept bytes match a peer's stream, want %d", len(seen), conns)
	}
}

// TestRecycleReadsDatagrams: a pooled UDP peer with RecycleReads echoes
// datagrams of sizes across the buffer classes (up to 65000 bytes) whole
// and to their own sender, the buffers reused between the peers.
func TestRecycleReadsDatagrams(t *testing.T) {
	s := startUDP(t, nil, actors.ListenOptions{Dispatch: actors.Pooled, RecycleReads: true}, actors.BanDefault)
	clients := make([]*net.UDPConn, 4)
	for i := range clients {
		clients[i] = udpClient(t, s.addr)
	}
	for _, size := range []int{1, 511, 512, 513, 4000, 9000, 33000, 65000} {
		for i, c := range clients {
			want := streamPattern(i*100000+size, size)
			if got := udpRoundTrip(t, c, want); !bytes.Equal(got, want) {
				t.Fatalf("client %d, a %d-byte datagram: echo of %d bytes differs", i, size, len(got))
			}
		}
	}
}
