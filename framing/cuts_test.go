package framing

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
)

// A framer under test: a fresh one for each run, and a stream of several
// frames for it (with an overlong one where the framer has a bound).
type framerCase struct {
	name  string
	new   func() feeder
	input string
}

func framerCases() []framerCase {
	var lp []byte
	enc := LengthPrefixed{Size: 2}
	for _, p := range []string{"hello", "", "x", strings.Repeat("y", 40), "end"} {
		lp, _ = enc.Append(lp, []byte(p))
	}
	long := strings.Repeat("L", 40)
	return []framerCase{
		{"Lines", func() feeder { return &Lines{Max: 16, TrimCR: true} }, "a\r\nbc\n\n" + long + "\r\nlast\r\nunfinished"},
		{"Lines/split", func() feeder { return &Lines{Max: 16, Split: true} }, "a\nbc\n\n" + long + "\nlast\nunfinished"},
		{"LengthPrefixed", func() feeder { return &LengthPrefixed{Size: 2} }, string(lp) + "\x00\x09part"},
		{"Delimited", func() feeder { return &Delimited{Delim: []byte("\r\n\r\n"), Max: 16} }, "h1\r\nh2\r\n\r\n\r\n\r\n" + long + "\r\n\r\nx\r\n\rx\r\n\r\nun\r\n"},
		{"Delimited/split", func() feeder { return &Delimited{Delim: []byte("\r\n"), Max: 16, Split: true} }, "a\r\n\r\n" + long + "\r\nb\r"},
		{"HeaderBody/resp", func() feeder { return hb(&HeaderBody{Delim: []byte("\r\n"), BodyLen: respBodyLen}) },
			"*3\r\n$3\r\nSET\r\n$3\r\nkey\r\n$11\r\nhello\r\nworld\r\n+OK\r\n$-1\r\n:7\r\n$0\r\n\r\n$5\r\nhe"},
		{"HeaderBody/http", func() feeder { return hb(&HeaderBody{Delim: []byte("\r\n\r\n"), BodyLen: contentLength}) },
			"GET / HTTP/1.1\r\nHost: a\r\n\r\nPOST / HTTP/1.1\r\nContent-Length: 6\r\n\r\n\r\n\r\n\r\nGET /b HTTP/1.1\r\n\r\nGET"},
		{"HeaderBody/too large", func() feeder {
			return hb(&HeaderBody{Delim: []byte("\r\n"), BodyLen: respBodyLen, MaxHeader: 8, MaxBody: 8})
		}, "$3\r\nabc\r\n+ok\r\n$7\r\n12345\r\n\r\n+" + long},
	}
}

// TestEveryCut feeds each framer its stream cut at every position, at
// every pair of positions and in 1-byte pieces, and checks the frames are
// those of the stream fed at once.
func TestEveryCut(t *testing.T) {
	for _, fc := range framerCases() {
		t.Run(fc.name, func(t *testing.T) {
			in := []byte(fc.input)
			want := dropRepeats(feedChunks(fc.new(), in))
			if len(want) < 3 {
				t.Fatalf("only %d frames in the stream: %v", len(want), want)
			}
			check := func(how string, got []frame) {
				t.Helper()
				if got = dropRepeats(got); !framesEqual(got, want) {
					t.Fatalf("cut %s:\n got %v\nwant %v", how, got, want)
				}
			}
			ones := make([]int, len(in))
			for i := range ones {
				ones[i] = 1
			}
			check("in 1-byte pieces", feedChunks(fc.new(), in, ones...))
			for i := range len(in) + 1 {
				check(fmt.Sprintf("at %d", i), feedChunks(fc.new(), in, i))
				for j := i; j <= len(in); j++ {
					check(fmt.Sprintf("at %d and %d", i, j), feedChunks(fc.new(), in, i, j-i))
				}
			}
		})
	}
}

// dropRepeats removes the repeats of a sticky error at the end of frames
// (a failed framer says so again on every later call).
func dropRepeats(frames []frame) []frame {
	for n := len(frames); n >= 2 && frames[n-1].err != nil && frames[n-1] == frames[n-2] && frames[n-1].data == ""; n-- {
		frames = frames[:n-1]
	}
	return frames
}

// TestViews checks that the new framers yield a frame whole in the data
// fed as a view of it, and one spanning reads from their own buffer.
func TestViews(t *testing.T) {
	d := Delimited{Delim: []byte("\r\n")}
	data := []byte("one\r\ntwo\r\nthr")
	for p, err := range d.Frames(data) {
		if err != nil || !within(p, data) {
			t.Fatalf("frame %q (%v) is not a view of the data", p, err)
		}
	}
	more := []byte("ee\r\n")
	for p := range d.Frames(more) {
		if string(p) != "three" || within(p, more) {
			t.Fatalf("spanning frame %q: want \"three\" from the framer's buffer", p)
		}
	}

	h := HeaderBody{Delim: []byte("\r\n"), BodyLen: respBodyLen}
	data = []byte("$5\r\nhello\r\n+OK\r\n$3\r\nab")
	for fr, err := range h.Frames(data) {
		if err != nil || !within(fr.Raw, data) {
			t.Fatalf("frame %q (%v) is not a view of the data", fr.Raw, err)
		}
	}
	more = []byte("c\r\n")
	for fr := range h.Frames(more) {
		if string(fr.Body) != "abc\r\n" || within(fr.Raw, more) {
			t.Fatalf("spanning frame %q: want \"$3\\r\\nabc\\r\\n\" from the framer's buffer", fr.Raw)
		}
	}
}

// allocCase is a framer fed the same reads over and over: after the first
// round it must allocate nothing.
type allocCase struct {
	name  string
	f     feeder
	reads [][]byte
}

// pieces cuts data into reads of n bytes (the last one shorter).
func pieces(data []byte, n int) [][]byte {
	var out [][]byte
	for len(data) > n {
		out = append(out, data[:n])
		data = data[n:]
	}
	return append(out, data)
}

func allocCases() []allocCase {
	lines := lineStream(64)
	crlf := bytes.Repeat([]byte(strings.Repeat("x", 62)+"\r\n"), 64)
	lp := lpStream(60)
	var resp []byte
	for range 32 {
		resp = append(resp, "*2\r\n$3\r\nGET\r\n$20\r\nkey:0123456789abcdef\r\n"...)
	}
	http := bytes.Repeat([]byte("POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 11\r\n\r\nhello world"), 32)
	big := bytes.Repeat([]byte("$65536\r\n"+strings.Repeat("b", 65536)+"\r\n"), 2)
	return []allocCase{
		{"Lines/whole", &Lines{}, [][]byte{lines}},
		{"Lines/spanning", &Lines{}, pieces(lines, 37)},
		{"LengthPrefixed/whole", &LengthPrefixed{}, [][]byte{lp}},
		{"LengthPrefixed/spanning", &LengthPrefixed{}, pieces(lp, 37)},
		{"Delimited/whole", &Delimited{Delim: []byte("\r\n")}, [][]byte{crlf}},
		{"Delimited/spanning", &Delimited{Delim: []byte("\r\n")}, pieces(crlf, 37)},
		{"Delimited/1-byte reads", &Delimited{Delim: []byte("\r\n")}, pieces(crlf[:300], 1)},
		{"HeaderBody/resp whole", hb(&HeaderBody{Delim: []byte("\r\n"), BodyLen: respBodyLen}), [][]byte{resp}},
		{"HeaderBody/resp spanning", hb(&HeaderBody{Delim: []byte("\r\n"), BodyLen: respBodyLen}), pieces(resp, 37)},
		{"HeaderBody/http spanning", hb(&HeaderBody{Delim: []byte("\r\n\r\n"), BodyLen: contentLength}), pieces(http, 37)},
		{"HeaderBody/large frames spanning", hb(&HeaderBody{Delim: []byte("\r\n"), BodyLen: respBodyLen}), pieces(big, 16<<10)},
	}
}

// TestAllocs: 0 allocations per frame in steady state, whole in the read
// or spanning reads, large frames included (their buffer is kept while
// frames keep needing it).
func TestAllocs(t *testing.T) {
	for _, ac := range allocCases() {
		t.Run(ac.name, func(t *testing.T) {
			n := 0
			yield := func(p []byte, err error) bool {
				if err != nil {
					t.Fatalf("error %v", err)
				}
				n++
				return true
			}
			feedAll := func() {
				for _, r := range ac.reads {
					ac.f.Feed(r, yield)
				}
			}
			feedAll() // the framer's buffer is made here
			if allocs := testing.AllocsPerRun(50, feedAll); allocs != 0 {
				t.Fatalf("%v allocations per round of %d reads", allocs, len(ac.reads))
			}
			if n == 0 {
				t.Fatal("no frames")
			}
		})
	}
}

// TestRangeAllocs: the range-over-func form allocates nothing either.
func TestRangeAllocs(t *testing.T) {
	h := HeaderBody{Delim: []byte("\r\n"), BodyLen: respBodyLen}
	d := Delimited{Delim: []byte("\r\n")}
	data := []byte("*2\r\n$3\r\nGET\r\n$3\r\nkey\r\n")
	n := 0
	allocs := testing.AllocsPerRun(100, func() {
		for fr, err := range h.Frames(data) {
			if err == nil && len(fr.Raw) > 0 {
				n++
			}
		}
		for p, err := range d.Frames(data) {
			if err == nil && len(p) >= 0 {
				n++
			}
		}
	})
	if allocs != 0 || n == 0 {
		t.Fatalf("%v allocations per run (%d frames)", allocs, n)
	}
}

// TestShrink: the buffer a large frame grew is handed back once the frames
// after it no longer need it, and kept while they do.
func TestShrink(t *testing.T) {
	d := Delimited{Delim: []byte("\r\n"), Max: 1 << 20}
	bigFrame := append(bytes.Repeat([]byte("z"), 200<<10), "\r\n"...)
	nop := func([]byte, error) bool { return true }
	d.Feed(bigFrame[:100<<10], nop)
	d.Feed(bigFrame[100<<10:], nop)
	if c := cap(d.eng.acc.buf); c < 200<<10 {
		t.Fatalf("cap %d after a 200 KiB frame", c)
	}
	// A frame as large again reuses the buffer.
	if allocs := testing.AllocsPerRun(10, func() {
		d.Feed(bigFrame[:100<<10], nop)
		d.Feed(bigFrame[100<<10:], nop)
	}); allocs != 0 {
		t.Fatalf("%v allocations per large frame", allocs)
	}
	// Small frames, whole in their read: the buffer goes.
	d.Feed([]byte("small\r\nsmall\r\n"), nop)
	if c := cap(d.eng.acc.buf); c > keepCap {
		t.Fatalf("cap %d after small frames", c)
	}
	// Small frames spanning reads after a large one: the buffer shrinks to
	// their size, the bytes held kept.
	h := HeaderBody{Delim: []byte("\r\n"), BodyLen: respBodyLen, MaxBody: 1 << 20}
	var got []string
	collect := func(fr Frame, err error) bool { got = append(got, string(fr.Body)); return true }
	big := fmt.Appendf(nil, "$%d\r\n%s\r\n", 300<<10, bytes.Repeat([]byte("q"), 300<<10))
	h.Feed(big[:1000], collect)
	h.Feed(append(big[1000:len(big):len(big)], "$3\r\nab"...), collect)
	if c := cap(h.s.acc.buf); c < 300<<10 || h.Buffered() != 6 {
		t.Fatalf("cap %d, %d bytes held in the call that ended the large frame", c, h.Buffered())
	}
	h.Feed([]byte("c\r\n$3\r\nde"), collect)
	if c := cap(h.s.acc.buf); c > keepCap || h.Buffered() != 6 {
		t.Fatalf("cap %d, %d bytes held after small frames", c, h.Buffered())
	}
	h.Feed([]byte("f\r\n"), collect)
	if len(got) != 3 || len(got[0]) != 300<<10+2 || got[1] != "abc\r\n" || got[2] != "def\r\n" {
		t.Fatalf("%d frames", len(got))
	}
}
