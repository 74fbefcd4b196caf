package servers

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"net"
	"runtime"
	"strconv"
	"sync"
	"time"
)

// Control is the server side of the harness's side channel: a plain TCP
// listener on loopback, separate from the server under test, through which
// the load generator learns when the server observed each connection close
// and asks a Banner to ban.
//
// The protocol is line based. The server writes
//
//	ready                          once the client is registered
//	close <id> <remote> <recv> <emit>  per observed close (unix ns)
//	<cmd> <json>                   reply to a command
//
// and the client may send the commands "ban" and "stats" (to a Banner),
// "peers" (to a PeerCounter: the UDP churn and hostile scenarios),
// "consumed" (to a Consumer: the backpressure scenario), "tls" (to a
// TLSCounter: the tls scenario) and "heap" (answered by every server: its
// live heap after a forced collection).
// One client is
// served at a time; close records observed while no client is connected are
// queued and delivered to the next one. Recording never blocks and never
// drops a record.
type Control struct {
	ln net.Listener

	mu       sync.Mutex
	cond     *sync.Cond
	pending  []byte // complete lines waiting for the writer
	closed   bool
	banner   Banner
	peers    PeerCounter
	consumer Consumer
	tls      TLSCounter
	conn     net.Conn // the client being served, nil when none

	wg sync.WaitGroup
}

// ListenControl binds the side channel on addr (host:port).
func ListenControl(addr string) (*Control, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	return newControl(ln), nil
}

// newControl wraps a bound listener (nil in tests that only record).
func newControl(ln net.Listener) *Control {
	c := &Control{ln: ln}
	c.cond = sync.NewCond(&c.mu)
	return c
}

// Addr returns the bound address of the side channel.
func (c *Control) Addr() net.Addr { return c.ln.Addr() }

// SetBanner sets the server that answers the ban and stats commands.
func (c *Control) SetBanner(b Banner) {
	c.mu.Lock()
	c.banner = b
	c.mu.Unlock()
}

// SetPeerCounter sets the server that answers the peers command.
func (c *Control) SetPeerCounter(p PeerCounter) {
	c.mu.Lock()
	c.peers = p
	c.mu.Unlock()
}

// SetConsumer sets the server that answers the consumed command.
func (c *Control) SetConsumer(p Consumer) {
	c.mu.Lock()
	c.consumer = p
	c.mu.Unlock()
}

// SetTLSCounter sets the server that answers the tls command.
func (c *Control) SetTLSCounter(t TLSCounter) {
	c.mu.Lock()
	c.tls = t
	c.mu.Unlock()
}

// RecordClose queues one close record: the server-side id of the
// connection, its remote address (the load generator's local address), the
// CLOCK_REALTIME time in nanoseconds at which the server's subscriber
// received the close, and the time the server stamped on the close event
// when it emitted it (0 when the server has no event of its own). It is
// safe for concurrent use and never blocks on the network.
func (c *Control) RecordClose(id uint64, remote string, recvUnixNano, emitUnixNano int64) {
	c.mu.Lock()
	c.pending = append(c.pending, "close "...)
	c.pending = strconv.AppendUint(c.pending, id, 10)
	c.pending = append(c.pending, ' ')
	c.pending = append(c.pending, remote...)
	c.pending = append(c.pending, ' ')
	c.pending = strconv.AppendInt(c.pending, recvUnixNano, 10)
	c.pending = append(c.pending, ' ')
	c.pending = strconv.AppendInt(c.pending, emitUnixNano, 10)
	c.pending = append(c.pending, '\n')
	c.mu.Unlock()
	c.cond.Signal()
}

func (c *Control) enqueueLine(line []byte) {
	c.mu.Lock()
	c.pending = append(c.pending, line...)
	c.pending = append(c.pending, '\n')
	c.mu.Unlock()
	c.cond.Signal()
}

// Serve accepts side-channel clients until Close. It returns nil after
// Close.
func (c *Control) Serve() error {
	for {
		conn, err := c.ln.Accept()
		if err != nil {
			c.mu.Lock()
			closed := c.closed
			c.mu.Unlock()
			if closed {
				return nil
			}
			return err
		}
		c.mu.Lock()
		if c.closed {
			c.mu.Unlock()
			_ = conn.Close()
			return nil
		}
		c.conn = conn
		c.mu.Unlock()
		c.serveConn(conn)
		c.mu.Lock()
		c.conn = nil
		c.mu.Unlock()
	}
}

// serveConn serves one client until it disconnects or Control closes.
func (c *Control) serveConn(conn net.Conn) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan struct{})
	c.wg.Add(1)
	go func() { // writer
		defer c.wg.Done()
		defer close(done)
		w := bufio.NewWriterSize(conn, 64<<10)
		if _, err := w.WriteString("ready\n"); err != nil || w.Flush() != nil {
			return
		}
		var batch []byte
		for {
			c.mu.Lock()
			for len(c.pending) == 0 && !c.closed && ctx.Err() == nil {
				c.cond.Wait()
			}
			if c.closed || ctx.Err() != nil {
				c.mu.Unlock()
				return
			}
			batch, c.pending = c.pending, batch[:0]
			c.mu.Unlock()
			if _, err := w.Write(batch); err != nil {
				return
			}
			if err := w.Flush(); err != nil {
				return
			}
		}
	}()

	sc := bufio.NewScanner(conn)
	for sc.Scan() {
		cmd := sc.Text()
		reply, err := c.command(ctx, cmd)
		if err != nil {
			reply = map[string]string{"error": err.Error()}
		}
		b, err := json.Marshal(reply)
		if err != nil {
			b = []byte(`{"error":"marshal"}`)
		}
		c.enqueueLine(append([]byte(cmd+" "), b...))
	}
	cancel()
	c.cond.Broadcast()
	_ = conn.Close()
	<-done
}

// errNoBanner answers ban/stats on a server without a receive ban.
var errNoBanner = errors.New("this server has no receive ban")

// errNoPeers answers peers on a server that keeps no peer table.
var errNoPeers = errors.New("this server keeps no peer table")

// errNoConsumer answers consumed on a server without a slow-consumer mode.
var errNoConsumer = errors.New("this server has no slow consumer")

// errNoTLS answers tls on a server without a TLS mode.
var errNoTLS = errors.New("this server has no TLS counters")

// errUnknownCommand answers a command the side channel does not know.
var errUnknownCommand = errors.New("unknown command")

func (c *Control) command(ctx context.Context, cmd string) (any, error) {
	c.mu.Lock()
	b, p, cons, tc := c.banner, c.peers, c.consumer, c.tls
	c.mu.Unlock()
	switch cmd {
	case "tls":
		if tc == nil {
			return nil, errNoTLS
		}
		return tc.TLSCounts(), nil
	case "consumed":
		if cons == nil {
			return nil, errNoConsumer
		}
		return cons.ConsumerStats(), nil
	case "peers":
		if p == nil {
			return nil, errNoPeers
		}
		ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		return p.PeerStats(ctx)
	case "heap":
		return liveHeap(), nil
	case "ban", "stats":
		if b == nil {
			return nil, errNoBanner
		}
	default:
		return nil, errUnknownCommand
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if cmd == "ban" {
		return b.BanAll(ctx)
	}
	return b.BanStats(ctx)
}

// HeapStats is the reply to the heap command: the server process's live
// heap after a forced collection. Every server with a side channel answers
// it (the Control runs in the server's process).
type HeapStats struct {
	// HeapAlloc is runtime.MemStats.HeapAlloc after runtime.GC: the bytes
	// of live heap objects.
	HeapAlloc uint64 `json:"heap_alloc"`
	// HeapSys is the heap memory obtained from the OS.
	HeapSys uint64 `json:"heap_sys"`
	// NumGC counts completed collections, the forced one included.
	NumGC uint32 `json:"num_gc"`
	// StackInuse is the bytes of goroutine stacks in use; Goroutines the
	// number of goroutines.
	StackInuse uint64 `json:"stack_inuse"`
	Goroutines int    `json:"goroutines"`
}

// liveHeap forces a collection and reads the heap figures.
func liveHeap() HeapStats {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return HeapStats{HeapAlloc: ms.HeapAlloc, HeapSys: ms.HeapSys, NumGC: ms.NumGC,
		StackInuse: ms.StackInuse, Goroutines: runtime.NumGoroutine()}
}

// Close stops the side channel and its client.
func (c *Control) Close() error {
	c.mu.Lock()
	c.closed = true
	if c.conn != nil {
		_ = c.conn.Close()
	}
	c.mu.Unlock()
	c.cond.Broadcast()
	err := c.ln.Close()
	c.wg.Wait()
	return err
}
