package framing

import (
	"bytes"
	"iter"
)

// DefaultMaxLine is Lines.Max when it is 0.
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
// concurrent use: it belongs to one connection's handler.
type Lines struct {
	// Max is the longest line accepted, in bytes, without its "\n" (and
	// without the "\r" TrimCR removes). 0 means DefaultMaxLine.
	Max int
	// TrimCR removes one "\r" before the "\n" (CRLF protocols).
	TrimCR bool
	// Split yields a line longer than Max in pieces instead of discarding
	// it (see the type's doc).
	Split bool

	buf      []byte // the start of an unfinished line; at most hold() bytes
	skipping bool   // discarding the rest of a line that was too long
}

func (l *Lines) max() int {
	if l.Max > 0 {
		return l.Max
	}
	return DefaultMaxLine
}

// hold is the most bytes of an unfinished line worth holding: Max, and the
// "\r" that may follow when TrimCR is set.
func (l *Lines) hold() int {
	if l.TrimCR {
		return l.max() + 1
	}
	return l.max()
}

// Buffered returns how many bytes of an unfinished line the framer holds.
func (l *Lines) Buffered() int { return len(l.buf) }

// Reset drops whatever the framer holds: the next byte fed starts a line.
func (l *Lines) Reset() {
	l.buf, l.skipping = nil, false
}

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
	max, hold := l.max(), l.hold()
	for len(data) > 0 {
		i := bytes.IndexByte(data, '\n')
		if l.skipping {
			if i < 0 {
				return true
			}
			l.skipping = false
			data = data[i+1:]
			continue
		}
		if i < 0 {
			// An unfinished line: hold it, or it is already too long.
			if len(l.buf)+len(data) <= hold {
				l.buf = appendBounded(l.buf, data, hold)
				return true
			}
			if !l.Split {
				l.buf = l.shrink(l.buf[:0])
				l.skipping = true
				return l.stop(yield(nil, ErrTooLong))
			}
			rest, ok := l.pieces(data, max, hold, yield)
			if !ok {
				return l.stop(false)
			}
			l.buf = appendBounded(l.buf, rest, hold)
			return true
		}
		line := data[:i]
		data = data[i+1:]
		if l.TrimCR {
			switch {
			case len(line) > 0 && line[len(line)-1] == '\r':
				line = line[:len(line)-1]
			case len(line) == 0 && len(l.buf) > 0 && l.buf[len(l.buf)-1] == '\r':
				l.buf = l.buf[:len(l.buf)-1]
			}
		}
		if len(l.buf)+len(line) > max {
			if !l.Split {
				l.buf = l.shrink(l.buf[:0])
				if !yield(nil, ErrTooLong) {
					return l.stop(false)
				}
				continue
			}
			var ok bool
			if line, ok = l.pieces(line, max, max, yield); !ok {
				return l.stop(false)
			}
		}
		if len(l.buf) > 0 {
			l.buf = append(l.buf, line...) // fits: len <= max <= cap's bound
			line = l.buf
		}
		ok := yield(line, nil)
		l.buf = l.shrink(l.buf[:0])
		if !ok {
			return l.stop(false)
		}
	}
	return true
}

// pieces yields, with ErrTooLong, pieces of max bytes of the pending bytes
// (l.buf followed by tail) until at most keep remain, and returns what is
// left of tail (l.buf holding the rest of the pending bytes before it).
// ok is false if yield asked to stop.
func (l *Lines) pieces(tail []byte, max, keep int, yield func([]byte, error) bool) (rest []byte, ok bool) {
	for len(l.buf)+len(tail) > keep {
		var piece []byte
		switch {
		case len(l.buf) >= max:
			piece = l.buf[:max]
		case len(l.buf) > 0:
			n := max - len(l.buf)
			l.buf = append(l.buf, tail[:n]...)
			tail = tail[n:]
			piece = l.buf
		default:
			piece, tail = tail[:max], tail[max:] // a view: no copy
		}
		if !yield(piece, ErrTooLong) {
			return nil, false
		}
		if len(l.buf) > 0 {
			n := copy(l.buf, l.buf[len(piece):])
			l.buf = l.buf[:n]
		}
	}
	return tail, true
}

// stop resets the framer when yield asked to stop; it returns ok.
func (l *Lines) stop(ok bool) bool {
	if !ok {
		l.Reset()
	}
	return ok
}

// shrink returns buf, or nil if an empty buf holds more than keepCap.
func (l *Lines) shrink(buf []byte) []byte {
	if len(buf) == 0 && cap(buf) > keepCap {
		return nil
	}
	return buf
}
