package netio

import (
	"reflect"
	"sync"
	"unsafe"

	"github.com/panjf2000/gnet/v2"
	"github.com/panjf2000/gnet/v2/pkg/buffer/elastic"
	"github.com/panjf2000/gnet/v2/pkg/netpoll"
)

// takeOutbound removes and returns the bytes gnet still holds in c's
// outbound buffer. Loop only, inside OnClose.
//
// Why it reaches into gnet: when the peer sends FIN, gnet closes the
// connection; after OnClose it writes what it can of its outbound buffer and
// drops the rest. A half-open connection (docs/SEMANTICS.md §5) must keep
// every byte a Send accepted, so the engine takes the buffer over before
// gnet would drop it. gnet exposes no accessor, so this finds the buffer by
// field name and type; if gnet's layout ever changes, outboundField is nil,
// takeOutbound returns ok == false and the caller counts the bytes as
// dropped (TestTakeOutbound fails loudly on such a gnet).
func takeOutbound(gc gnet.Conn) (data []byte, ok bool) {
	v := reflect.ValueOf(gc)
	outboundOnce.Do(func() { outboundField = findOutbound(v.Type()) })
	if outboundField == nil || v.Kind() != reflect.Pointer {
		return nil, false
	}
	f := v.Elem().FieldByIndex(outboundField)
	buf := (*elastic.Buffer)(unsafe.Pointer(f.UnsafeAddr()))
	n := buf.Buffered()
	if n == 0 {
		return nil, true
	}
	// Peek(-1), not Peek(n): gnet's Peek(n) fails with ErrShortBuffer when
	// the bytes span its ring and its list (it checks n against the list
	// alone), which dropped a mixed buffer at a graceful close.
	iov, err := buf.Peek(-1)
	if err != nil {
		return nil, false
	}
	data = make([]byte, 0, n)
	for _, b := range iov {
		data = append(data, b...)
	}
	_, _ = buf.Discard(len(data))
	return data, true
}

var (
	outboundOnce  sync.Once
	outboundField []int // index path of conn.outboundBuffer; nil if not found
)

// findOutbound locates gnet's conn.outboundBuffer (an elastic.Buffer) in
// the dynamic type of gnet's connections.
func findOutbound(t reflect.Type) []int {
	if t.Kind() != reflect.Pointer || t.Elem().Kind() != reflect.Struct {
		return nil
	}
	f, ok := t.Elem().FieldByName("outboundBuffer")
	if !ok || f.Type != reflect.TypeOf(elastic.Buffer{}) {
		return nil
	}
	return f.Index
}

// pollerFD returns the descriptor of the epoll instance of gc's event loop,
// or -1 if gnet's layout is not the one this was written for.
//
// Why it reaches into gnet: gnet has no way to stop reading a connection
// (it reads on every readable event), and pausing a peer (docs/SEMANTICS.md
// §5, inbound back-pressure) means taking EPOLLIN out of the connection's
// registration in that loop's epoll instance. gnet v2 (its default,
// non-poll_opt build on Linux) registers each connection with its
// descriptor as the event data, so a MOD from here is read back by gnet's
// loop exactly as its own. The path is conn.loop.poller.fd, found by field
// name and type; TestPollerFD fails loudly on a gnet laid out otherwise.
func pollerFD(gc gnet.Conn) int {
	v := reflect.ValueOf(gc)
	pollerOnce.Do(func() { pollerPath = findPoller(v.Type()) })
	if pollerPath == nil || v.Kind() != reflect.Pointer || v.IsNil() {
		return -1
	}
	loop := v.Elem().FieldByIndex(pollerPath.loop)
	if loop.IsNil() {
		return -1
	}
	poller := loop.Elem().FieldByIndex(pollerPath.poller)
	if poller.IsNil() {
		return -1
	}
	fd := poller.Elem().FieldByIndex(pollerPath.fd)
	return int(*(*int)(unsafe.Pointer(fd.UnsafeAddr())))
}

var (
	pollerOnce sync.Once
	pollerPath *pollerFields // nil if not found
)

type pollerFields struct{ loop, poller, fd []int }

// findPoller locates conn.loop (a pointer to gnet's eventloop),
// eventloop.poller (a *netpoll.Poller) and Poller.fd (an int).
func findPoller(t reflect.Type) *pollerFields {
	if t.Kind() != reflect.Pointer || t.Elem().Kind() != reflect.Struct {
		return nil
	}
	lf, ok := t.Elem().FieldByName("loop")
	if !ok || lf.Type.Kind() != reflect.Pointer || lf.Type.Elem().Kind() != reflect.Struct {
		return nil
	}
	pf, ok := lf.Type.Elem().FieldByName("poller")
	if !ok || pf.Type != reflect.TypeOf((*netpoll.Poller)(nil)) {
		return nil
	}
	ff, ok := pf.Type.Elem().FieldByName("fd")
	if !ok || ff.Type.Kind() != reflect.Int {
		return nil
	}
	return &pollerFields{loop: lf.Index, poller: pf.Index, fd: ff.Index}
}
