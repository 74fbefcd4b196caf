package framing

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

var errBulk = errors.New("resp: bad bulk length")

// respBodyLen is RESP's BodyLen: a bulk string "$<n>" has n bytes and
// "\r\n" after its header, "$-1" (null) and every other header none. It
// allocates nothing.
func respBodyLen(h []byte) (int, error) {
	if len(h) == 0 || h[0] != '$' || string(h) == "$-1" {
		return 0, nil
	}
	n, ok := atoi(h[1:])
	if !ok {
		return 0, errBulk
	}
	return n + 2, nil
}

// atoi parses up to 9 decimal digits.
func atoi(b []byte) (int, bool) {
	if len(b) == 0 || len(b) > 9 {
		return 0, false
	}
	n := 0
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, true
}

// contentLength is HTTP/1.1's BodyLen, for the tests: the value of a
// Content-Length line of the header block, 0 without one.
func contentLength(h []byte) (int, error) {
	for len(h) > 0 {
		var line []byte
		line, h, _ = bytes.Cut(h, []byte("\r\n"))
		name, value, ok := bytes.Cut(line, []byte(":"))
		if ok && bytes.EqualFold(name, []byte("Content-Length")) {
			n, ok := atoi(bytes.TrimSpace(value))
			if !ok {
				return 0, errBulk
			}
			return n, nil
		}
	}
	return 0, nil
}

// hbFeeder makes a HeaderBody a feeder for the shared helpers: each frame
// is yielded as "header|body" after checking that its parts are views of
// Raw cut at the delimiter.
type hbFeeder struct {
	f       *HeaderBody
	scratch []byte
}

func hb(f *HeaderBody) *hbFeeder { return &hbFeeder{f: f} }

var errParts = errors.New("frame parts are not Raw cut at the delimiter")

func (h *hbFeeder) Feed(data []byte, yield func([]byte, error) bool) bool {
	return h.f.Feed(data, func(fr Frame, err error) bool {
		if err != nil {
			return yield(nil, err)
		}
		d := len(h.f.Delim)
		if len(fr.Raw) != len(fr.Header)+d+len(fr.Body) || !within(fr.Header, fr.Raw) || !within(fr.Body, fr.Raw) ||
			!bytes.Equal(fr.Raw[len(fr.Header):len(fr.Header)+d], h.f.Delim) || cap(fr.Header) != len(fr.Header) ||
			!bytes.HasSuffix(fr.Raw, fr.Body) {
			return yield(nil, errParts)
		}
		h.scratch = append(append(append(h.scratch[:0], fr.Header...), '|'), fr.Body...)
		return yield(h.scratch, nil)
	})
}

func hbFrames(ss ...string) []frame { return lines(ss...) }

func TestHeaderBody(t *testing.T) {
	resp := HeaderBody{Delim: []byte("\r\n"), BodyLen: respBodyLen}
	http := HeaderBody{Delim: []byte("\r\n\r\n"), BodyLen: contentLength}
	get := "GET / HTTP/1.1\r\nHost: a\r\n\r\n"
	post := "POST /x HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello"
	runFrameCases(t, []frameCase[HeaderBody]{
		{"resp bulk", resp, "$5\r\nhello\r\n", nil, hbFrames("$5|hello\r\n")},
		{"resp command", resp, "*2\r\n$3\r\nGET\r\n$3\r\nkey\r\n", nil, hbFrames("*2|", "$3|GET\r\n", "$3|key\r\n")},
		{"resp simple and null", resp, "+OK\r\n$-1\r\n:42\r\n$0\r\n\r\n", nil, hbFrames("+OK|", "$-1|", ":42|", "$0|\r\n")},
		{"resp body with the delimiter", resp, "$4\r\n\r\n\r\n\r\n+x\r\n", nil, hbFrames("$4|\r\n\r\n\r\n", "+x|")},
		{"resp tail kept", resp, "$5\r\nhello\r\n$3\r\nab", nil, hbFrames("$5|hello\r\n")},
		{"resp across reads", resp, "$5\r\nhello\r\n+OK\r\n", []int{1, 1, 1, 3, 5, 1}, hbFrames("$5|hello\r\n", "+OK|")},
		{"resp delimiter cut", resp, "+OK\r\n+NO\r\n", []int{4, 5}, hbFrames("+OK|", "+NO|")},
		{"http pipelined", http, get + post + get, nil, hbFrames("GET / HTTP/1.1\r\nHost: a|", "POST /x HTTP/1.1\r\nContent-Length: 5|hello", "GET / HTTP/1.1\r\nHost: a|")},
		{"http cut in the delimiter", http, post + get, []int{35, 2, 1}, hbFrames("POST /x HTTP/1.1\r\nContent-Length: 5|hello", "GET / HTTP/1.1\r\nHost: a|")},
		{"http cut in the body", http, post, []int{40, 2}, hbFrames("POST /x HTTP/1.1\r\nContent-Length: 5|hello")},
		{"no BodyLen", HeaderBody{Delim: []byte(";")}, "a;bc;;d", nil, hbFrames("a|", "bc|", "|")},
		{"overlapping delimiter", HeaderBody{Delim: []byte("aa")}, "aaab" + "aa", []int{1, 2}, hbFrames("|", "ab|")},
		{"max header exactly", HeaderBody{Delim: []byte("\r\n"), MaxHeader: 3}, "abc\r\nd\r\n", []int{4}, hbFrames("abc|", "d|")},
		{"max body exactly", HeaderBody{Delim: []byte("\r\n"), BodyLen: respBodyLen, MaxBody: 7}, "$5\r\nhello\r\n", []int{6}, hbFrames("$5|hello\r\n")},
	}, func(f *HeaderBody) feeder { return hb(f) })
}

func TestHeaderBodyErrors(t *testing.T) {
	errBad := errors.New("bad header")
	cases := []frameCase[HeaderBody]{
		{"header too large at its delimiter", HeaderBody{Delim: []byte("\r\n"), MaxHeader: 3}, "ab\r\nabcd\r\n", nil, []frame{{data: "ab|"}, {err: ErrHeaderTooLarge}}},
		// "abcd" is already too long: a 3-byte header and "\r\n" cannot
		// end after "abcd\r" (one byte of the delimiter may be in it).
		{"header too large before its delimiter", HeaderBody{Delim: []byte("\r\n"), MaxHeader: 3}, "abc\r", []int{2}, nil},
		{"header too large early", HeaderBody{Delim: []byte("\r\n"), MaxHeader: 3}, "abcde", []int{2}, []frame{{err: ErrHeaderTooLarge}}},
		{"body too large", HeaderBody{Delim: []byte("\r\n"), BodyLen: respBodyLen, MaxBody: 6}, "$5\r\nhello\r\n", nil, []frame{{err: ErrBodyTooLarge}}},
		{"negative body", HeaderBody{Delim: []byte("\n"), BodyLen: func(h []byte) (int, error) {
			if string(h) == "x" {
				return -1, nil
			}
			return 0, nil
		}}, "\nx\n", nil, []frame{{data: "|"}, {err: ErrBodyTooLarge}}},
		{"BodyLen's error", HeaderBody{Delim: []byte("\n"), BodyLen: func(h []byte) (int, error) {
			if string(h) == "bad" {
				return 0, errBad
			}
			return 0, nil
		}}, "ok\nbad\nok\n", nil, []frame{{data: "ok|"}, {err: errBad}}},
		{"bulk length garbage", HeaderBody{Delim: []byte("\r\n"), BodyLen: respBodyLen}, "$x\r\n", nil, []frame{{err: errBulk}}},
		{"empty delimiter", HeaderBody{}, "abc", nil, []frame{{err: ErrEmptyDelim}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := tc.f
			got := feedChunks(hb(&f), []byte(tc.in), tc.chunks...)
			if !framesEqual(got, tc.want) {
				t.Fatalf("frames %v, want %v", got, tc.want)
			}
			if len(tc.want) == 0 {
				return
			}
			// Sticky: every later call says it again, until Reset.
			err := tc.want[len(tc.want)-1].err
			if got := feedChunks(hb(&f), []byte("+OK\r\n")); !framesEqual(got, []frame{{err: err}}) || f.Err() != err {
				t.Fatalf("after the error: %v, Err() = %v", got, f.Err())
			}
			if f.Buffered() != 0 {
				t.Fatalf("Buffered() = %d after the error", f.Buffered())
			}
			if tc.f.Delim == nil {
				return
			}
			f.Reset()
			if got := feedChunks(hb(&f), []byte("+OK"+string(tc.f.Delim))); !framesEqual(got, hbFrames("+OK|")) || f.Err() != nil {
				t.Fatalf("after Reset: %v, Err() = %v", got, f.Err())
			}
		})
	}
}

// TestHeaderBodyCallback checks that BodyLen is called once per frame, as
// soon as the header is complete, after the frame before it was yielded.
func TestHeaderBodyCallback(t *testing.T) {
	var log []string
	f := HeaderBody{Delim: []byte("\r\n"), BodyLen: func(h []byte) (int, error) {
		log = append(log, "len "+string(h))
		return respBodyLen(h)
	}}
	for _, read := range []string{"$3\r\nab", "c\r\n$1\r", "\nx\r\n+OK\r\n"} {
		log = append(log, "read")
		for fr := range f.Frames([]byte(read)) {
			log = append(log, "frame "+string(fr.Header))
		}
	}
	want := "read,len $3,read,frame $3,read,len $1,frame $1,len +OK,frame +OK"
	if got := strings.Join(log, ","); got != want {
		t.Fatalf("calls %s\nwant  %s", got, want)
	}
}

// TestHeaderBodyBreak checks that stopping the loop resets the framer.
func TestHeaderBodyBreak(t *testing.T) {
	f := HeaderBody{Delim: []byte("\r\n"), BodyLen: respBodyLen}
	for fr := range f.Frames([]byte("+a\r\n+b\r\n$5\r\nhe")) {
		if string(fr.Header) != "+a" {
			t.Fatalf("frame %q", fr.Raw)
		}
		break
	}
	if f.Buffered() != 0 || f.Err() != nil {
		t.Fatalf("Buffered() = %d, Err() = %v after break", f.Buffered(), f.Err())
	}
	if got := feedChunks(hb(&f), []byte("+c\r\n")); !framesEqual(got, hbFrames("+c|")) {
		t.Fatalf("after break: %v", got)
	}
}
