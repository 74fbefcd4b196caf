package socktest

import (
	"encoding/binary"
	"testing"
)

// Frame is one message of the write-order tests: a tag byte, a big-endian
// sequence number, and the tag repeated up to size bytes (size ≥ 5), so a
// reader can tell a whole message from a torn or misplaced one.
func Frame(tag byte, seq uint32, size int) []byte {
	p := make([]byte, size)
	p[0] = tag
	binary.BigEndian.PutUint32(p[1:5], seq)
	for i := 5; i < size; i++ {
		p[i] = tag
	}
	return p
}

// CheckFrames parses got as size-byte Frames and fails tb unless each one is
// whole and each tag's sequence numbers run 0, 1, 2, … (nothing torn,
// reordered or lost in between). It returns the count per tag.
func CheckFrames(tb testing.TB, got []byte, size int) map[byte]uint32 {
	tb.Helper()
	if len(got)%size != 0 {
		tb.Fatalf("read %d bytes, not a whole number of %d-byte messages", len(got), size)
	}
	next := map[byte]uint32{}
	for off := 0; off < len(got); off += size {
		m := got[off : off+size]
		tag, seq := m[0], binary.BigEndian.Uint32(m[1:5])
		for i := 5; i < size; i++ {
			if m[i] != tag {
				tb.Fatalf("message at %d (tag %q, seq %d) torn: byte %d is %q", off, tag, seq, i, m[i])
			}
		}
		if seq != next[tag] {
			tb.Fatalf("tag %q: message %d where %d was next (reordered or lost)", tag, seq, next[tag])
		}
		next[tag]++
	}
	return next
}
