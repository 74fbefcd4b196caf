package framing

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"
	"unsafe"

	"github.com/sockactor/sockactor/winsock"
)

// frame is one yield: the frame's bytes (copied) and its error.
type frame struct {
	data string
	err  error
}

func (f frame) String() string {
	if f.err != nil {
		return fmt.Sprintf("%q+%v", f.data, f.err)
	}
	return fmt.Sprintf("%q", f.data)
}

// feeder is Lines or LengthPrefixed.
type feeder interface {
	Feed(data []byte, yield func([]byte, error) bool) bool
}

// feedChunks feeds data cut at the given sizes (the last chunk takes the
// rest) and collects every frame.
func feedChunks(f feeder, data []byte, sizes ...int) []frame {
	var out []frame
	collect := func(p []byte, err error) bool {
		out = append(out, frame{string(p), err})
		return true
	}
	for _, n := range sizes {
		n = min(n, len(data))
		f.Feed(data[:n], collect)
		data = data[n:]
	}
	if len(data) > 0 {
		f.Feed(data, collect)
	}
	return out
}

func framesEqual(a, b []frame) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].data != b[i].data || a[i].err != b[i].err {
			return false
		}
	}
	return true
}

// frameCase is one row of a framer's table test: the framer (its
// settings), the stream, where to cut it, and the frames it must yield.
type frameCase[F any] struct {
	name   string
	f      F
	in     string
	chunks []int
	want   []frame
}

// runFrameCases runs each row on a copy of its framer; as makes the
// copy a feeder.
func runFrameCases[F any](t *testing.T, cases []frameCase[F], as func(*F) feeder) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := tc.f
			got := feedChunks(as(&f), []byte(tc.in), tc.chunks...)
			if !framesEqual(got, tc.want) {
				t.Fatalf("frames %v, want %v", got, tc.want)
			}
		})
	}
}

func lines(ss ...string) []frame {
	out := make([]frame, len(ss))
	for i, s := range ss {
		out[i] = frame{data: s}
	}
	return out
}

func TestLines(t *testing.T) {
	tooLong := frame{err: ErrTooLong}
	piece := func(s string) frame { return frame{s, ErrTooLong} }
	runFrameCases(t, []frameCase[Lines]{
		{"whole", Lines{}, "a\nbc\n\n", nil, lines("a", "bc", "")},
		{"tail kept", Lines{}, "a\nbc", nil, lines("a")},
		{"across reads", Lines{}, "hello\nworld\n", []int{2, 3, 4}, lines("hello", "world")},
		{"byte by byte", Lines{}, "ab\ncd\n", []int{1, 1, 1, 1, 1, 1}, lines("ab", "cd")},
		{"no trim", Lines{}, "a\r\n", nil, lines("a\r")},
		{"trim CR", Lines{TrimCR: true}, "a\r\nb\n\r\n", nil, lines("a", "b", "")},
		{"trim CR across reads", Lines{TrimCR: true}, "ab\r\n", []int{3}, lines("ab")},
		{"max exactly", Lines{Max: 3}, "abc\nd\n", nil, lines("abc", "d")},
		{"max exactly with CR", Lines{Max: 3, TrimCR: true}, "abc\r\n", []int{4}, lines("abc")},
		{"too long at the end of line", Lines{Max: 3}, "abcd\nok\n", nil, []frame{tooLong, {data: "ok"}}},
		{"too long before the end", Lines{Max: 3}, "abcdefgh", []int{2, 3}, []frame{tooLong}},
		{"too long then skipped", Lines{Max: 3}, "abcdefgh\nok\n", []int{5, 2}, []frame{tooLong, {data: "ok"}}},
		{"too long held", Lines{Max: 3}, "ab" + "cd\nok\n", []int{2}, []frame{tooLong, {data: "ok"}}},
		{"split", Lines{Max: 3, Split: true}, "abcdefgh\nok\n", nil, []frame{piece("abc"), piece("def"), {data: "gh"}, {data: "ok"}}},
		{"split across reads", Lines{Max: 3, Split: true}, "abcdefgh\nok\n", []int{2, 1, 4}, []frame{piece("abc"), piece("def"), {data: "gh"}, {data: "ok"}}},
		{"split exact multiple", Lines{Max: 2, Split: true}, "abcd\n", []int{1}, []frame{piece("ab"), {data: "cd"}}},
		{"split with CR", Lines{Max: 2, Split: true, TrimCR: true}, "abc\r\n", []int{3}, []frame{piece("ab"), {data: "c"}}},
	}, func(l *Lines) feeder { return l })
}

// within reports whether p points into data.
func within(p, data []byte) bool {
	if len(p) == 0 {
		return true
	}
	start := uintptr(unsafe.Pointer(unsafe.SliceData(data)))
	q := uintptr(unsafe.Pointer(unsafe.SliceData(p)))
	return q >= start && q+uintptr(len(p)) <= start+uintptr(len(data))
}

// TestZeroCopy checks that a frame whole in the data fed is a view of it,
// and that one spanning reads is not.
func TestZeroCopy(t *testing.T) {
	var l Lines
	data := []byte("one\ntwo\nthr")
	for line, err := range l.Frames(data) {
		if err != nil || !within(line, data) {
			t.Fatalf("line %q (%v) is not a view of the data", line, err)
		}
	}
	more := []byte("ee\n")
	for line := range l.Frames(more) {
		if string(line) != "three" || within(line, more) {
			t.Fatalf("spanning line %q: want \"three\" from the framer's buffer", line)
		}
	}

	var f LengthPrefixed
	enc, _ := f.Append(nil, []byte("hello"))
	enc, _ = f.Append(enc, []byte("world"))
	for p, err := range f.Frames(enc) {
		if err != nil || !within(p, enc) {
			t.Fatalf("frame %q (%v) is not a view of the data", p, err)
		}
	}
}

// TestBreak checks that stopping the loop resets the framer and drops the
// rest of the data.
func TestBreak(t *testing.T) {
	var l Lines
	for line := range l.Frames([]byte("stop\nignored\npart")) {
		if string(line) != "stop" {
			t.Fatalf("line %q", line)
		}
		break
	}
	if l.Buffered() != 0 {
		t.Fatalf("Buffered() = %d after break", l.Buffered())
	}
	if got := feedChunks(&l, []byte("next\n")); !framesEqual(got, lines("next")) {
		t.Fatalf("after break: %v", got)
	}

	var f LengthPrefixed
	enc, _ := f.Append(nil, []byte("a"))
	enc, _ = f.Append(enc, []byte("b"))
	for range f.Frames(append(enc, 0, 0)) {
		break
	}
	if f.Buffered() != 0 {
		t.Fatalf("Buffered() = %d after break", f.Buffered())
	}
}

func TestLengthPrefixed(t *testing.T) {
	for _, size := range []int{1, 2, 4, 8} {
		for _, le := range []bool{false, true} {
			t.Run(fmt.Sprintf("size%d/le=%v", size, le), func(t *testing.T) {
				f := LengthPrefixed{Size: size, LittleEndian: le, Max: 200}
				payloads := []string{"", "a", "hello", strings.Repeat("x", 200)}
				var enc []byte
				for _, p := range payloads {
					var err error
					if enc, err = f.Append(enc, []byte(p)); err != nil {
						t.Fatal(err)
					}
				}
				for _, chunks := range [][]int{nil, {1, 1, 1}, {size, 1, 3}, {size + 3, 100}} {
					g := LengthPrefixed{Size: size, LittleEndian: le, Max: 200}
					got := feedChunks(&g, enc, chunks...)
					if !framesEqual(got, lines(payloads...)) {
						t.Fatalf("chunks %v: frames %v", chunks, got)
					}
				}
			})
		}
	}
	var f LengthPrefixed
	enc, _ := f.Append(nil, []byte("ab"))
	if !bytes.Equal(enc, []byte{0, 0, 0, 2, 'a', 'b'}) {
		t.Fatalf("default encoding % x", enc)
	}
}

func TestLengthPrefixedErrors(t *testing.T) {
	f := LengthPrefixed{Size: 2, Max: 4}
	if _, err := f.Append(nil, []byte("hello")); err != ErrFrameTooLarge {
		t.Fatalf("Append over Max: %v", err)
	}
	if _, err := (&LengthPrefixed{Size: 1, Max: 1000}).Append(nil, make([]byte, 256)); err != ErrFrameTooLarge {
		t.Fatalf("Append over what a 1-byte prefix holds: %v", err)
	}
	got := feedChunks(&f, []byte{0, 2, 'o', 'k', 0, 5, 'h', 'e'}, 5)
	if want := []frame{{data: "ok"}, {err: ErrFrameTooLarge}}; !framesEqual(got, want) {
		t.Fatalf("frames %v, want %v", got, want)
	}
	// Sticky: every later call says it again.
	if got := feedChunks(&f, []byte{0, 1, 'x'}); !framesEqual(got, []frame{{err: ErrFrameTooLarge}}) {
		t.Fatalf("after the error: %v", got)
	}
	if f.Err() != ErrFrameTooLarge {
		t.Fatalf("Err() = %v", f.Err())
	}
	f.Reset()
	if got := feedChunks(&f, []byte{0, 1, 'x'}); !framesEqual(got, lines("x")) {
		t.Fatalf("after Reset: %v", got)
	}
	bad := LengthPrefixed{Size: 3}
	if got := feedChunks(&bad, []byte{1, 2, 3}); !framesEqual(got, []frame{{err: ErrPrefixSize}}) {
		t.Fatalf("bad size: %v", got)
	}
	if _, err := bad.Append(nil, nil); err != ErrPrefixSize {
		t.Fatalf("Append with a bad size: %v", err)
	}
}

func TestErrors(t *testing.T) {
	for _, err := range []error{ErrTooLong, ErrFrameTooLarge, ErrHeaderTooLarge, ErrBodyTooLarge} {
		if !errors.Is(err, winsock.ErrMsgSize) {
			t.Errorf("%v does not match winsock.ErrMsgSize", err)
		}
	}
	for _, err := range []error{ErrPrefixSize, ErrEmptyDelim} {
		if !errors.Is(err, winsock.ErrInvalid) {
			t.Errorf("%v does not match winsock.ErrInvalid", err)
		}
	}
	// Each is its own: a handler tells them apart with errors.Is.
	all := []error{ErrTooLong, ErrFrameTooLarge, ErrHeaderTooLarge, ErrBodyTooLarge, ErrPrefixSize, ErrEmptyDelim}
	for i, a := range all {
		for j, b := range all {
			if i != j && errors.Is(a, b) {
				t.Errorf("%v matches %v", a, b)
			}
		}
	}
}

// TestBounded checks that the framers' buffers stay within their bound
// whatever arrives.
func TestBounded(t *testing.T) {
	l := Lines{Max: 100, TrimCR: true}
	f := LengthPrefixed{Max: 100}
	junk := bytes.Repeat([]byte("0123456789"), 50)
	for i := range 50 {
		l.Feed(junk[:i*7%len(junk)], func([]byte, error) bool { return true })
		if cap(l.eng.acc.buf) > 2*101 {
			t.Fatalf("Lines buffer cap %d", cap(l.eng.acc.buf))
		}
	}
	frameBytes, _ := f.Append(nil, bytes.Repeat([]byte{'z'}, 100))
	for i := range 50 {
		f.Feed(frameBytes[:i%len(frameBytes)], func([]byte, error) bool { return true })
		if cap(f.s.acc.buf) > 2*104 {
			t.Fatalf("LengthPrefixed buffer cap %d", cap(f.s.acc.buf))
		}
	}
}
