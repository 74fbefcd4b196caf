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

// refDelimited is what a delimiter framer (Lines, Delimited) must yield
// for the whole stream, however it is cut: bytes.Split cuts it at the
// first occurrence of the delimiter after each frame's start.
func refDelimited(r delimRules, data []byte) []frame {
	var out []frame
	segs := bytes.Split(data, r.delim)
	for i, seg := range segs {
		last := i == len(segs)-1 // no delimiter after it: unfinished
		if !last && r.trimCR {
			seg = bytes.TrimSuffix(seg, []byte{'\r'})
		}
		keep := r.max
		if last {
			keep = r.hold
		}
		if len(seg) <= keep {
			if !last {
				out = append(out, frame{data: string(seg)})
			}
			continue
		}
		if !r.split {
			out = append(out, frame{err: ErrTooLong})
			continue
		}
		for len(seg) > keep {
			out = append(out, frame{string(seg[:r.max]), ErrTooLong})
			seg = seg[r.max:]
		}
		if !last {
			out = append(out, frame{data: string(seg)})
		}
	}
	return out
}

// refLines is what Lines must yield for the whole stream, however it is cut.
func refLines(l Lines, data []byte) []frame { return refDelimited(l.rules(), data) }

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
		// Once failed, the stream says so again on every later call.
		if got = dropRepeats(got); !framesEqual(got, want) {
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

// fuzzDelim turns fuzz bytes into a delimiter of 1 to 4 bytes.
func fuzzDelim(b []byte) []byte {
	if len(b) == 0 {
		return []byte("\r\n")
	}
	return b[:min(len(b), 4)]
}

func FuzzDelimited(f *testing.F) {
	f.Add([]byte("h1\r\nh2\r\n\r\nbody\r\n\r\n"), []byte{3, 1, 1}, []byte("\r\n\r\n"), uint8(8), false)
	f.Add([]byte("a\r\nbb\r\n\r\nccc\r\n"), []byte{1, 1, 1, 2}, []byte("\r\n"), uint8(2), true)
	f.Add([]byte("aaaabaaab"), []byte{1, 2}, []byte("aa"), uint8(1), false)
	f.Add([]byte("abcdefghij\x00klm\x00"), []byte{4, 4, 4}, []byte{0}, uint8(3), true)
	f.Add([]byte("xyxyxzxyxyz"), []byte{2, 5}, []byte("xyz"), uint8(2), false)
	f.Fuzz(func(t *testing.T, data, cuts, delim []byte, max uint8, split bool) {
		cfg := Delimited{Delim: fuzzDelim(delim), Max: int(max%32) + 1, Split: split}
		fr := cfg
		got := feedChunks(&fr, data, chunkSizes(cuts)...)
		want := refDelimited(newRules(cfg.Delim, cfg.Max, false, cfg.Split), data)
		if !framesEqual(got, want) {
			t.Fatalf("Delimited{%q %d %v} over %q cut %v:\n got %v\nwant %v", cfg.Delim, cfg.Max, cfg.Split, data, chunkSizes(cuts), got, want)
		}
		if bound := cfg.Max + len(cfg.Delim) - 1; fr.Buffered() > bound || cap(fr.eng.acc.buf) > 2*bound+256 {
			t.Fatalf("holds %d bytes (cap %d), bound %d", fr.Buffered(), cap(fr.eng.acc.buf), bound)
		}
	})
}

// fuzzBodyLen is a BodyLen for garbage: RESP's bulk lengths ("$<n>": n+2,
// a bad number an error), a length in one byte after '#', 0 otherwise.
func fuzzBodyLen(h []byte) (int, error) {
	if len(h) == 2 && h[0] == '#' {
		return int(h[1]) - '0', nil // may be negative, or large
	}
	return respBodyLen(h)
}

// refHeaderBody is what HeaderBody must yield for the whole stream, however
// it is cut, as "header|body", up to the stream's error.
func refHeaderBody(cfg HeaderBody, data []byte) []frame {
	maxHeader, maxBody := orDefault(cfg.MaxHeader, DefaultMaxHeader), orDefault(cfg.MaxBody, DefaultMaxFrame)
	d := len(cfg.Delim)
	var out []frame
	for len(data) > 0 {
		i := bytes.Index(data, cfg.Delim)
		if i < 0 {
			if len(data) > maxHeader+d-1 {
				out = append(out, frame{err: ErrHeaderTooLarge})
			}
			break
		}
		if i > maxHeader {
			return append(out, frame{err: ErrHeaderTooLarge})
		}
		n, err := cfg.BodyLen(data[:i])
		if err == nil && (n < 0 || n > maxBody) {
			err = ErrBodyTooLarge
		}
		if err != nil {
			return append(out, frame{err: err})
		}
		if len(data) < i+d+n {
			break
		}
		out = append(out, frame{data: string(data[:i]) + "|" + string(data[i+d:i+d+n])})
		data = data[i+d+n:]
	}
	return out
}

func FuzzHeaderBody(f *testing.F) {
	f.Add([]byte("*2\r\n$3\r\nGET\r\n$3\r\nkey\r\n+OK\r\n"), []byte{3, 1, 1}, []byte("\r\n"), uint8(16), uint8(64))
	f.Add([]byte("$5\r\nhello\r\n$-1\r\n$x\r\n"), []byte{1, 1, 1, 2}, []byte("\r\n"), uint8(4), uint8(7))
	f.Add([]byte("GET\r\n\r\n#5\r\n\r\nhello#9\r\n\r\nab"), []byte{5, 7}, []byte("\r\n\r\n"), uint8(8), uint8(9))
	f.Add([]byte("#/aa#3aaxyz#0aa"), []byte{2}, []byte("aa"), uint8(2), uint8(5))
	f.Add([]byte("abcdefgh\r"), []byte{1}, []byte("\r\n"), uint8(3), uint8(1))
	f.Fuzz(func(t *testing.T, data, cuts, delim []byte, maxHeader, maxBody uint8) {
		cfg := HeaderBody{Delim: fuzzDelim(delim), BodyLen: fuzzBodyLen, MaxHeader: int(maxHeader%32) + 1, MaxBody: int(maxBody%64) + 1}
		fr := cfg
		got := dropRepeats(feedChunks(hb(&fr), data, chunkSizes(cuts)...))
		if want := refHeaderBody(cfg, data); !framesEqual(got, want) {
			t.Fatalf("HeaderBody{%q %d %d} over %q cut %v:\n got %v\nwant %v", cfg.Delim, cfg.MaxHeader, cfg.MaxBody, data, chunkSizes(cuts), got, want)
		}
		if bound := cfg.MaxHeader + len(cfg.Delim) + cfg.MaxBody; fr.Buffered() > bound {
			t.Fatalf("holds %d bytes, bound %d", fr.Buffered(), bound)
		}
	})
}
