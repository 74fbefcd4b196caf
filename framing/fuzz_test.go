package framing

import (
	"bytes"
	"testing"
)

// chunkSizes turns fuzz bytes into read sizes (1..64).
func chunkSizes(cuts []byte) []int {
	sizes := make([]int, len(cuts))
	for i, c := range cuts {
		sizes[i] = int(c%64) + 1
	}
	return sizes
}

// refLines is what Lines must yield for the whole stream, however it is cut.
func refLines(l Lines, data []byte) []frame {
	max, hold := l.max(), l.hold()
	var out []frame
	segs := bytes.Split(data, []byte{'\n'})
	for i, seg := range segs {
		last := i == len(segs)-1 // no "\n" after it: unfinished
		if !last && l.TrimCR {
			seg = bytes.TrimSuffix(seg, []byte{'\r'})
		}
		keep := max
		if last {
			keep = hold
		}
		if len(seg) <= keep {
			if !last {
				out = append(out, frame{data: string(seg)})
			}
			continue
		}
		if !l.Split {
			out = append(out, frame{err: ErrTooLong})
			continue
		}
		for len(seg) > keep {
			out = append(out, frame{string(seg[:max]), ErrTooLong})
			seg = seg[max:]
		}
		if !last {
			out = append(out, frame{data: string(seg)})
		}
	}
	return out
}

func FuzzLines(f *testing.F) {
	f.Add([]byte("hello\nworld\n"), []byte{3, 1}, uint8(8), uint8(0))
	f.Add([]byte("a\r\nbb\r\nccc\r\n\r\n"), []byte{1, 1, 1, 2}, uint8(2), uint8(1))
	f.Add([]byte("abcdefghijklmnop\nq\n"), []byte{5, 7}, uint8(3), uint8(2))
	f.Add([]byte("abcdefghij\r\nklm\r"), []byte{4, 4, 4}, uint8(4), uint8(3))
	f.Fuzz(func(t *testing.T, data, cuts []byte, max, flags uint8) {
		cfg := Lines{Max: int(max%32) + 1, TrimCR: flags&1 != 0, Split: flags&2 != 0}
		l := cfg
		got := feedChunks(&l, data, chunkSizes(cuts)...)
		if want := refLines(cfg, data); !framesEqual(got, want) {
			t.Fatalf("Lines%+v over %q cut %v:\n got %v\nwant %v", cfg, data, chunkSizes(cuts), got, want)
		}
		if l.Buffered() > l.hold() {
			t.Fatalf("holds %d bytes, bound %d", l.Buffered(), l.hold())
		}
	})
}

// refFrames decodes the whole stream at once.
func refFrames(f LengthPrefixed, data []byte) []frame {
	size, _ := f.size()
	var out []frame
	for len(data) >= size {
		n := f.length(data[:size])
		if n > uint64(f.max()) {
			return append(out, frame{err: ErrFrameTooLarge})
		}
		if uint64(len(data)-size) < n {
			break
		}
		out = append(out, frame{data: string(data[size : size+int(n)])})
		data = data[size+int(n):]
	}
	return out
}

func FuzzLengthPrefixed(f *testing.F) {
	f.Add([]byte{0, 0, 0, 2, 'o', 'k', 0, 0, 0, 0}, []byte{1, 3}, uint8(0), uint8(16))
	f.Add([]byte{2, 'h', 'i', 200, 'x'}, []byte{2}, uint8(1), uint8(100))
	f.Add([]byte{0, 1, 'a', 1, 0, 'b'}, []byte{1, 1, 1}, uint8(2), uint8(10))
	f.Fuzz(func(t *testing.T, data, cuts []byte, sizeSel, max uint8) {
		cfg := LengthPrefixed{Size: []int{1, 2, 4, 8}[sizeSel%4], Max: int(max) + 1, LittleEndian: sizeSel&4 != 0}
		fr := cfg
		got := feedChunks(&fr, data, chunkSizes(cuts)...)
		want := refFrames(cfg, data)
		if len(want) > 0 && want[len(want)-1].err != nil {
			// Once failed, the stream says so again on every later call.
			for len(got) > len(want) && got[len(got)-1].err == ErrFrameTooLarge {
				got = got[:len(got)-1]
			}
		}
		if !framesEqual(got, want) {
			t.Fatalf("LengthPrefixed%+v over %v cut %v:\n got %v\nwant %v", cfg, data, chunkSizes(cuts), got, want)
		}
		// Round trip: every frame decoded re-encodes to the same bytes.
		var enc []byte
		for _, fr := range want {
			if fr.err == nil {
				var err error
				if enc, err = cfg.Append(enc, []byte(fr.data)); err != nil {
					t.Fatalf("Append(%q): %v", fr.data, err)
				}
			}
		}
		if !bytes.HasPrefix(data, enc) {
			t.Fatalf("re-encoded %v is not a prefix of %v", enc, data)
		}
	})
}
