package actors

import (
	"bytes"
	"testing"
)

func TestReadBufClass(t *testing.T) {
	for _, tc := range []struct{ n, capacity int }{
		{0, 512}, {1, 512}, {512, 512}, {513, 1024}, {1024, 1024}, {1025, 2048},
		{4000, 4096}, {32769, 64 << 10}, {64 << 10, 64 << 10},
	} {
		rb := getReadBuf(tc.n)
		if rb == nil || cap(rb.b) != tc.capacity || len(rb.b) != 0 {
			t.Errorf("getReadBuf(%d): %v, want an empty buffer of capacity %d", tc.n, rb, tc.capacity)
			continue
		}
		putReadBuf(rb)
	}
	if rb := getReadBuf(64<<10 + 1); rb != nil {
		t.Errorf("getReadBuf over maxJoin: capacity %d, want nil (the caller allocates)", cap(rb.b))
	}
	putReadBuf(nil) // no-op
}

// TestJoinKeepsBytesAndTradesBuffers: reads joined into a waiting entry
// keep every byte in order, and a recycled entry that outgrows its buffer
// moves to a buffer of a larger class (so it stays recyclable); an owned
// entry just grows.
func TestJoinKeepsBytesAndTradesBuffers(t *testing.T) {
	s := &socket{prof: &profile{dispatch: Pooled, recycle: true}}
	for _, recycled := range []bool{true, false} {
		var it hitem
		if recycled {
			it.rb = getReadBuf(100)
			it.data = it.rb.b
		}
		var want []byte
		for i, n := range []int{100, 300, 200, 1500, 6000, 20000, 37000} {
			chunk := bytes.Repeat([]byte{byte('a' + i)}, n)
			want = append(want, chunk...)
			s.join(&it, chunk)
			if !bytes.Equal(it.data, want) {
				t.Fatalf("recycled=%v: after %d joins the entry holds %d bytes, not what was joined (%d)", recycled, i+1, len(it.data), len(want))
			}
			if recycled && (it.rb == nil || cap(it.rb.b) != cap(it.data) || &it.rb.b[:1][0] != &it.data[0]) {
				t.Fatalf("recycled=%v: after %d joins the entry's bytes are not in its recycled buffer", recycled, i+1)
			}
		}
		if recycled && cap(it.data) != 64<<10 {
			t.Errorf("a recycled entry of %d bytes has capacity %d, want the 64 KiB class", len(it.data), cap(it.data))
		}
		if !recycled && it.rb != nil {
			t.Error("an owned entry got a recycled buffer")
		}
		putReadBuf(it.rb)
	}
}

// TestPooledReadsQueuedInPiecesOfMaxJoin: what one read hands a pooled
// stream socket is queued joined to the waiting entry up to maxJoin and in
// pieces of at most maxJoin beyond (a resume hands over all gnet held while
// paused, possibly more): no Received is larger, and every byte is there,
// in order. A datagram stays one entry, whatever its size.
func TestPooledReadsQueuedInPiecesOfMaxJoin(t *testing.T) {
	for _, recycle := range []bool{true, false} {
		s := &socket{prof: &profile{dispatch: Pooled, recycle: recycle}, q: &pooledQ{}}
		s.q.hrunning = true // a drain is pending: nothing to schedule
		var want []byte
		for i, n := range []int{1000, 200 << 10, 10, 64 << 10, 3 << 10} {
			chunk := bytes.Repeat([]byte{byte('a' + i)}, n)
			want = append(want, chunk...)
			s.toPooledData(chunk, true)
		}
		var got []byte
		for i, it := range s.q.hq {
			if len(it.data) > maxJoin || len(it.data) == 0 {
				t.Fatalf("recycle=%v: entry %d holds %d bytes (max %d)", recycle, i, len(it.data), maxJoin)
			}
			if recycle != (it.rb != nil) {
				t.Fatalf("recycle=%v: entry %d recycled %v", recycle, i, it.rb != nil)
			}
			got = append(got, it.data...)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("recycle=%v: the queue holds %d bytes, not the %d read, in order", recycle, len(got), len(want))
		}
		// 1000 + 200 KiB + 10 + 64 KiB + 3 KiB, joined up to 64 KiB a piece:
		// the fewest entries that can hold them.
		if n, least := len(s.q.hq), (len(want)+maxJoin-1)/maxJoin; n != least {
			t.Errorf("recycle=%v: %d entries for %d bytes (%d would hold them)", recycle, n, len(want), least)
		}
		for _, it := range s.q.hq {
			putReadBuf(it.rb)
		}
	}
	// An empty read behind a full entry adds none.
	full := &socket{prof: &profile{dispatch: Pooled}, q: &pooledQ{}}
	full.q.hrunning = true
	full.toPooledData(make([]byte, maxJoin), true)
	full.toPooledData(nil, true)
	if len(full.q.hq) != 1 || len(full.q.hq[0].data) != maxJoin {
		t.Fatalf("a full entry and an empty read queued as %d entries", len(full.q.hq))
	}
	s := &socket{prof: &profile{dispatch: Pooled}, q: &pooledQ{}}
	s.q.hrunning = true
	s.toPooledData(make([]byte, 100<<10), false)
	s.toPooledData(nil, false)
	if len(s.q.hq) != 2 || len(s.q.hq[0].data) != 100<<10 || len(s.q.hq[1].data) != 0 {
		t.Fatalf("datagrams of 100 KiB and 0 bytes queued as %d entries", len(s.q.hq))
	}
}
