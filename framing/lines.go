package framing

import "iter"

// DefaultMaxLine is Lines.Max and Delimited.Max when they are 0.
const DefaultMaxLine = 64 << 10

// Lines splits a byte stream into lines ending in "\n". Each line is
// yielded without its "\n" (and, with TrimCR, without one "\r" before it).
//
// A line longer than Max bytes is not a frame. By default the framer yields
// ErrTooLong, with a nil frame, as soon as it knows (possibly before the
// "\n" has arrived), and discards the line's bytes up to and including its
// "\n"; the stream goes on with the next line. With Split set it yields the
// line instead in pieces of Max bytes, each with ErrTooLong, and the end of
// the line (at most Max bytes, up to the "\n") with a nil error, so a
// frame with a nil error always ends a line.
//
// The zero value is ready to use (Max DefaultMaxLine, no CR trimming).
// Set the fields before the first Feed. A Lines value is not safe for
// concurrent use: it belongs to one connection (one socket's handler
// state) and is used from its handler's goroutine only. It is Delimited
// with the delimiter "\n", plus CR trimming, and shares its engine.
type Lines struct {
	// Max is the longest line accepted, in bytes, without its "\n" (and
	// without the "\r" TrimCR removes). 0 means DefaultMaxLine.
	Max int
	// TrimCR removes one "\r" before the "\n" (CRLF protocols).
	TrimCR bool
	// Split yields a line longer than Max in pieces instead of discarding
	// it (see the type's doc).
	Split bool

	eng delimEngine
}

var newline = []byte{'\n'}

func (l *Lines) rules() delimRules {
	return newRules(newline, l.Max, l.TrimCR, l.Split)
}

// hold is the most bytes of an unfinished line worth holding: Max, and the
// "\r" that may follow when TrimCR is set.
func (l *Lines) hold() int { return l.rules().hold }

// Buffered returns how many bytes of an unfinished line the framer holds.
func (l *Lines) Buffered() int { return l.eng.acc.len() }

// Reset drops whatever the framer holds: the next byte fed starts a line.
func (l *Lines) Reset() { l.eng.reset() }

// Frames returns an iterator over the lines completed by data, for use in a
// range loop:
//
//	for line, err := range st.lines.Frames(m.Data) {
//		if err != nil { ... too long ... ; continue }
//		handle(line) // valid until the next iteration
//	}
//
// A line that lies whole in data is a view of data (no copy); one that
// began in an earlier call is assembled in the framer's buffer. Either way
// the frame is valid only until the loop body returns. Bytes of an
// unfinished line at the end of data are kept for the next call. Breaking
// out of the loop drops the rest of data and resets the framer (as Reset):
// use it when the handler stops reading, for example after RecvDisconnect.
func (l *Lines) Frames(data []byte) iter.Seq2[[]byte, error] {
	return func(yield func([]byte, error) bool) { l.Feed(data, yield) }
}

// Feed is Frames without the iterator: it calls yield for each line (or
// ErrTooLong) that data completes, in order, and returns false if yield
// returned false (the framer is then reset, the rest of data dropped).
func (l *Lines) Feed(data []byte, yield func(frame []byte, err error) bool) bool {
	if l.eng.rules.delim == nil {
		l.eng.rules = l.rules()
	}
	return l.eng.feed(data, yield)
}
