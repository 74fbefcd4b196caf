package netio

import (
	"reflect"
	"sync"
	"unsafe"

	"github.com/panjf2000/gnet/v2"
	"github.com/panjf2000/gnet/v2/pkg/buffer/elastic"
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
