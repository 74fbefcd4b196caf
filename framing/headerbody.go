package framing

import (
	"iter"
	"math"
)

// DefaultMaxHeader is HeaderBody.MaxHeader when it is 0.
const DefaultMaxHeader = 64 << 10

// Frame is one frame of a HeaderBody. Its slices share one array: Raw is
// the frame as it came, Header its start up to the delimiter (capped, so
// appending to it cannot overwrite the rest), Body the bytes after the
// delimiter. All three are valid only until yield returns (the loop body,
// for Frames).
type Frame struct {
	Header []byte // the header, without its delimiter
	Body   []byte // the BodyLen bytes after the delimiter
	Raw    []byte // Header, the delimiter, Body: the frame's bytes on the wire
}

// HeaderBody cuts a byte stream into frames made of a header that ends at a
// delimiter, Delim, followed by a body whose length the header tells:
// BodyLen is given each header (without its delimiter) and returns the
// length of the body after it, or an error. It frames:
//
//   - RESP (Redis): Delim "\r\n"; BodyLen gives n+2 for a bulk string
//     header "$<n>" (the string and its "\r\n"), 0 for "$-1" and for every
//     other header ("+OK", ":1", "*2"). Each element is then one frame:
//     "$5\r\nhello\r\n" has the header "$5" and the body "hello\r\n"; an
//     array "*2" is a frame with an empty body, followed by its elements.
//   - HTTP/1.1 (pipelined requests): Delim "\r\n\r\n"; BodyLen parses
//     Content-Length (0 without one) and returns an error for what it
//     does not frame (a chunked Transfer-Encoding).
//
// BodyLen is called once per frame, as soon as the header is complete (the
// body may not have arrived yet), after the frame before it was yielded and
// before this one is; the handler may keep what it parsed of the header
// for when the frame comes, but not the header slice itself, which is
// valid during the call only. A nil BodyLen means frames with no body.
//
// A header over MaxHeader (ErrHeaderTooLarge, yielded as soon as it is
// known), a length over MaxBody or negative (ErrBodyTooLarge) and an error
// of BodyLen (yielded as BodyLen returned it) leave nothing to say where
// the next frame starts: the framer yields the error, yields it again on
// every later call (Err reports it), and the connection should be closed.
//
// A frame that lies whole in the data fed is a view of that data, with no
// copy; one that spans calls is assembled in the framer's buffer (at most
// MaxHeader+len(Delim)+MaxBody bytes), which is reused from frame to frame
// and handed back once a large frame has gone.
//
// Delim must be set; the zero MaxHeader means DefaultMaxHeader and the zero
// MaxBody DefaultMaxFrame. Set the fields before the first Feed and do not
// change them after. A HeaderBody value is not safe for concurrent use: it
// belongs to one connection (one socket's handler state) and is used from
// its handler's goroutine only; BodyLen runs on that goroutine, inside
// Feed.
type HeaderBody struct {
	// Delim ends every header. The framer does not modify it.
	Delim []byte
	// BodyLen returns the length of the body that follows header (without
	// its delimiter; valid during the call only), or an error.
	BodyLen func(header []byte) (int, error)
	// MaxHeader is the longest header accepted, in bytes, without its
	// delimiter. 0 means DefaultMaxHeader.
	MaxHeader int
	// MaxBody is the longest body accepted, in bytes. 0 means
	// DefaultMaxFrame.
	MaxBody int

	s   sized
	hdr int // the current frame's header length, once BodyLen has run
}

// Buffered returns how many bytes of an unfinished frame the framer holds.
func (f *HeaderBody) Buffered() int { return f.s.acc.len() }

// Err returns the error that ended the stream (ErrHeaderTooLarge,
// ErrBodyTooLarge, ErrEmptyDelim, BodyLen's error), or nil.
func (f *HeaderBody) Err() error { return f.s.err }

// Reset drops whatever the framer holds, and its error: the next byte fed
// starts a header.
func (f *HeaderBody) Reset() { f.s.reset() }

// Frames returns an iterator over the frames completed by data, for a range
// loop:
//
//	for fr, err := range st.f.Frames(m.Data) {
//		if err != nil { ... answer, close: the stream is unusable ... ; return }
//		handle(fr.Header, fr.Body) // valid until the next iteration
//	}
//
// A frame that lies whole in data is a view of it; one that began in an
// earlier call is assembled in the framer's buffer; either is valid until
// the loop body returns. Bytes of an unfinished frame at the end of data
// are kept for the next call. Breaking out of the loop drops the rest of
// data and resets the framer.
func (f *HeaderBody) Frames(data []byte) iter.Seq2[Frame, error] {
	return func(yield func(Frame, error) bool) { f.Feed(data, yield) }
}

// Feed is Frames without the iterator: it calls yield for each frame data
// completes, in order, or once with the stream's error, and returns false
// if the stream failed or yield returned false (the framer is then reset,
// the rest of data dropped).
func (f *HeaderBody) Feed(data []byte, yield func(frame Frame, err error) bool) bool {
	if len(f.Delim) == 0 && f.s.err == nil {
		f.s.err = ErrEmptyDelim
	}
	for {
		raw, rest, err := f.s.next(data, f)
		if err != nil {
			yield(Frame{}, err)
			return false
		}
		if raw == nil {
			return true
		}
		data = rest
		fr := Frame{Header: raw[:f.hdr:f.hdr], Body: raw[f.hdr+len(f.Delim):], Raw: raw}
		if !f.s.yielded(yield(fr, nil)) {
			return false
		}
	}
}

// head reads a frame's header and asks BodyLen for the frame's length: the
// header is a view of data when it lies whole in it and nothing is held,
// otherwise it is assembled in the buffer.
func (f *HeaderBody) head(data []byte) ([]byte, int, error) {
	a, d := &f.s.acc, len(f.Delim)
	maxHeader := orDefault(f.MaxHeader, DefaultMaxHeader)
	n := a.find(data, f.Delim)
	if n < 0 {
		if a.len()+len(data) > maxHeader+d-1 {
			return nil, 0, ErrHeaderTooLarge
		}
		a.add(data, maxHeader+d-1)
		return nil, 0, nil
	}
	hlen := a.len() + n - d
	if hlen > maxHeader {
		return nil, 0, ErrHeaderTooLarge
	}
	raw, rest := data, data
	if a.len() > 0 {
		raw, rest = a.take(data, n, hlen+d), data[n:]
	}
	body := 0
	if f.BodyLen != nil {
		var err error
		if body, err = f.BodyLen(raw[:hlen:hlen]); err != nil {
			return nil, 0, err
		}
	}
	if body < 0 || body > orDefault(f.MaxBody, DefaultMaxFrame) || body > math.MaxInt-hlen-d {
		return nil, 0, ErrBodyTooLarge
	}
	f.hdr = hlen
	return rest, hlen + d + body, nil
}
