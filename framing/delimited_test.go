package framing

import (
	"bytes"
	"testing"
)

func TestDelimited(t *testing.T) {
	crlf := []byte("\r\n")
	blank := []byte("\r\n\r\n")
	tooLong := frame{err: ErrTooLong}
	piece := func(s string) frame { return frame{s, ErrTooLong} }
	runFrameCases(t, []frameCase[Delimited]{
		{"crlf", Delimited{Delim: crlf}, "a\r\nbc\r\n\r\n", nil, lines("a", "bc", "")},
		{"bare lf is data", Delimited{Delim: crlf}, "a\nb\r\n", nil, lines("a\nb")},
		{"tail kept", Delimited{Delim: crlf}, "a\r\nbc\r", nil, lines("a")},
		{"delimiter cut", Delimited{Delim: crlf}, "ab\r\ncd\r\n", []int{3, 4}, lines("ab", "cd")},
		{"long delimiter cut everywhere", Delimited{Delim: blank}, "h1\r\nh2\r\n\r\nx\r\n\r\n", []int{5, 1, 1, 1, 1, 1}, lines("h1\r\nh2", "x")},
		{"false start of a delimiter", Delimited{Delim: blank}, "a\r\n\rb\r\n\r\n", []int{4}, lines("a\r\n\rb")},
		{"false start then the delimiter", Delimited{Delim: blank}, "a\r\n\r\r\n\r\n\r\n\r\n", []int{4}, lines("a\r\n\r", "")},
		{"overlapping delimiter", Delimited{Delim: []byte("aa")}, "aaab" + "aa", []int{1, 2}, lines("", "ab")},
		{"one byte delimiter", Delimited{Delim: []byte{0}}, "a\x00\x00bc\x00", nil, lines("a", "", "bc")},
		{"max exactly", Delimited{Delim: crlf, Max: 3}, "abc\r\nd\r\n", []int{4}, lines("abc", "d")},
		{"max with a delimiter start held", Delimited{Delim: blank, Max: 2}, "ab\r\n\r" + "\n", []int{5}, lines("ab")},
		{"too long at the delimiter", Delimited{Delim: crlf, Max: 3}, "abcd\r\nok\r\n", nil, []frame{tooLong, {data: "ok"}}},
		{"too long before the delimiter", Delimited{Delim: crlf, Max: 3}, "abcdefgh", []int{2, 3}, []frame{tooLong}},
		{"too long then skipped", Delimited{Delim: crlf, Max: 3}, "abcdefgh\r\nok\r\n", []int{5, 2}, []frame{tooLong, {data: "ok"}}},
		{"skipping across a cut delimiter", Delimited{Delim: blank, Max: 2}, "abcdef\r\n\r\nok\r\n\r\n", []int{7, 1, 1}, []frame{tooLong, {data: "ok"}}},
		{"skipping across a cut delimiter, small reads", Delimited{Delim: blank, Max: 2}, "abcdef\r\n\r\nok\r\n\r\n", []int{6, 1, 1, 1, 1}, []frame{tooLong, {data: "ok"}}},
		{"split", Delimited{Delim: crlf, Max: 3, Split: true}, "abcdefgh\r\nok\r\n", nil, []frame{piece("abc"), piece("def"), {data: "gh"}, {data: "ok"}}},
		{"split across reads", Delimited{Delim: crlf, Max: 3, Split: true}, "abcdefgh\r\nok\r\n", []int{2, 1, 4, 2}, []frame{piece("abc"), piece("def"), {data: "gh"}, {data: "ok"}}},
		{"split exact multiple", Delimited{Delim: blank, Max: 2, Split: true}, "abcd\r\n\r\n", []int{1, 4}, []frame{piece("ab"), {data: "cd"}}},
	}, func(f *Delimited) feeder { return f })
}

func TestDelimitedErrors(t *testing.T) {
	var f Delimited
	for range 2 {
		if got := feedChunks(&f, []byte("a\nb\n")); !framesEqual(got, []frame{{err: ErrEmptyDelim}}) {
			t.Fatalf("empty delimiter: %v", got)
		}
	}
	// Stopping the loop resets the framer, the skipping state included.
	g := Delimited{Delim: []byte("\r\n"), Max: 2}
	for _, err := range g.Frames([]byte("abcdef")) {
		if err != ErrTooLong {
			t.Fatalf("err %v", err)
		}
		break
	}
	if g.Buffered() != 0 {
		t.Fatalf("Buffered() = %d after break", g.Buffered())
	}
	if got := feedChunks(&g, []byte("ok\r\n")); !framesEqual(got, lines("ok")) {
		t.Fatalf("after break: %v", got)
	}
	// While it skips, it holds no more than a delimiter's start.
	h := Delimited{Delim: []byte("\r\n\r\n"), Max: 4}
	feedChunks(&h, bytes.Repeat([]byte("x\r\n"), 100))
	if h.Buffered() > 3 {
		t.Fatalf("Buffered() = %d while skipping", h.Buffered())
	}
}
