package framing

import "iter"

// Delimited splits a byte stream into frames that end in a delimiter, Delim
// (any bytes: "\r\n", "\r\n\r\n", "\x00"). Each frame is yielded without
// its delimiter; the frame ends at the first occurrence of Delim after its
// start, so a delimiter never lies inside a frame.
//
// A frame longer than Max bytes is not a frame. By default the framer
// yields ErrTooLong, with a nil frame, as soon as it knows (possibly before
// the delimiter has arrived), and discards the frame's bytes up to and
// including its delimiter; the stream goes on with the next frame. With
// Split set it yields the frame instead in pieces of Max bytes, each with
// ErrTooLong, and the end of the frame (at most Max bytes, up to the
// delimiter) with a nil error, so a frame with a nil error always ends at a
// delimiter. Lines is Delimited with Delim "\n" and CR trimming.
//
// A frame that lies whole in the data fed is a view of that data; one that
// spans calls is assembled in the framer's buffer, which holds at most
// Max+len(Delim)-1 bytes of an unfinished frame and is reused. Either is
// valid only until yield returns (the loop body, for Frames): copy what you
// keep.
//
// The zero Max means DefaultMaxLine; Delim must be set (an empty one yields
// ErrEmptyDelim). Set the fields before the first Feed and do not change
// them after. A Delimited value is not safe for concurrent use: it belongs
// to one connection (one socket's handler state) and is used from its
// handler's goroutine only.
type Delimited struct {
	// Delim ends every frame. The framer does not modify it.
	Delim []byte
	// Max is the longest frame accepted, in bytes, without its delimiter.
	// 0 means DefaultMaxLine.
	Max int
	// Split yields a frame longer than Max in pieces instead of discarding
	// it (see the type's doc).
	Split bool

	eng delimEngine
}

// Buffered returns how many bytes the framer holds: the start of an
// unfinished frame (or, while it discards an overlong one, the bytes that
// may begin its delimiter).
func (f *Delimited) Buffered() int { return f.eng.acc.len() }

// Reset drops whatever the framer holds: the next byte fed starts a frame.
func (f *Delimited) Reset() { f.eng.reset() }

// Frames returns an iterator over the frames completed by data, for a range
// loop, as Lines.Frames:
//
//	for frame, err := range st.f.Frames(m.Data) {
//		if err != nil { ... ErrTooLong ... ; continue }
//		handle(frame) // valid until the next iteration
//	}
//
// Bytes of an unfinished frame at the end of data are kept for the next
// call. Breaking out of the loop drops the rest of data and resets the
// framer.
func (f *Delimited) Frames(data []byte) iter.Seq2[[]byte, error] {
	return func(yield func([]byte, error) bool) { f.Feed(data, yield) }
}

// Feed is Frames without the iterator: it calls yield for each frame (or
// ErrTooLong) that data completes, in order, and returns false if yield
// returned false (the framer is then reset, the rest of data dropped) or
// Delim is empty (yield is then called once with ErrEmptyDelim).
func (f *Delimited) Feed(data []byte, yield func(frame []byte, err error) bool) bool {
	if len(f.Delim) == 0 {
		yield(nil, ErrEmptyDelim)
		return false
	}
	if f.eng.rules.delim == nil {
		f.eng.rules = newRules(f.Delim, f.Max, false, f.Split)
	}
	return f.eng.feed(data, yield)
}

// delimEngine is the engine of Lines and Delimited: it cuts frames at a
// delimiter, holding an unfinished frame's start in its accumulator.
type delimEngine struct {
	acc      accum
	rules    delimRules // the framer's settings, as of this Feed
	skipping bool       // discarding the rest of a frame that was too long
}

// delimRules are a delimiter framer's settings.
type delimRules struct {
	delim  []byte
	max    int  // the longest frame, without its delimiter (or trimmed CR)
	hold   int  // the most bytes of an unfinished frame worth holding
	trimCR bool // drop one "\r" before the delimiter (Lines.TrimCR)
	split  bool // yield overlong frames in pieces
}

// newRules makes the settings; max 0 means DefaultMaxLine. An unfinished
// frame is worth holding up to max bytes, the "\r" trimCR may drop, and
// all but the last byte of a delimiter.
func newRules(delim []byte, max int, trimCR, split bool) delimRules {
	max = orDefault(max, DefaultMaxLine)
	hold := max + len(delim) - 1
	if trimCR {
		hold++
	}
	return delimRules{delim: delim, max: max, hold: hold, trimCR: trimCR, split: split}
}

func (e *delimEngine) reset() { e.acc.reset(); e.rules, e.skipping = delimRules{}, false }

// feed runs the framer over data (see Delimited.Feed) with the settings
// in e.rules (set by the framer on the first call, and after Reset).
func (e *delimEngine) feed(data []byte, yield func([]byte, error) bool) bool {
	if !e.run(data, yield) {
		e.reset()
		return false
	}
	e.acc.settle()
	return true
}

// run cuts data; it returns false when yield asked to stop.
func (e *delimEngine) run(data []byte, yield func([]byte, error) bool) bool {
	r := &e.rules
	d, hold := len(r.delim), r.hold
	for len(data) > 0 {
		n := e.acc.find(data, r.delim)
		if e.skipping {
			if n < 0 {
				e.acc.keepTail(data, d-1) // it may begin a delimiter
				return true
			}
			e.skipping = false
			e.acc.clear()
			data = data[n:]
			continue
		}
		if n < 0 {
			// An unfinished frame: hold it, or it is already too long.
			if e.acc.len()+len(data) <= hold {
				e.acc.add(data, hold)
				return true
			}
			if !r.split {
				e.acc.keepTail(data, d-1)
				e.skipping = true
				return yield(nil, ErrTooLong)
			}
			rest, ok := e.pieces(data, r.max, hold, yield)
			if ok {
				e.acc.add(rest, hold)
			}
			return ok
		}
		var frame []byte
		if n >= d {
			frame = data[:n-d]
		} else {
			e.acc.cut(d - n) // the delimiter began in the held bytes
		}
		data = data[n:]
		if r.trimCR {
			frame = e.trimCR(frame)
		}
		if e.acc.len()+len(frame) > r.max {
			if !r.split {
				e.acc.clear()
				if !yield(nil, ErrTooLong) {
					return false
				}
				continue
			}
			var ok bool
			if frame, ok = e.pieces(frame, r.max, r.max, yield); !ok {
				return false
			}
		}
		// Whole in data: a view, no copy; otherwise assembled in the buffer.
		frame = e.acc.take(frame, len(frame), r.max)
		ok := yield(frame, nil)
		e.acc.clear()
		if !ok {
			return false
		}
	}
	return true
}

// trimCR drops one "\r" at the end of the frame, whose start is held and
// the rest of it is tail.
func (e *delimEngine) trimCR(tail []byte) []byte {
	switch {
	case len(tail) > 0 && tail[len(tail)-1] == '\r':
		return tail[:len(tail)-1]
	case len(tail) == 0 && e.acc.len() > 0 && e.acc.buf[e.acc.len()-1] == '\r':
		e.acc.cut(1)
	}
	return tail
}

// pieces yields, with ErrTooLong, pieces of max bytes of the pending bytes
// (the held bytes followed by tail) until at most keep remain, and returns
// what is left of tail (the buffer holding the rest of the pending bytes
// before it). ok is false if yield asked to stop.
func (e *delimEngine) pieces(tail []byte, max, keep int, yield func([]byte, error) bool) (rest []byte, ok bool) {
	a := &e.acc
	for a.len()+len(tail) > keep {
		var piece []byte
		switch {
		case a.len() >= max:
			piece = a.buf[:max]
		case a.len() > 0:
			n := max - a.len()
			a.add(tail[:n], max)
			tail = tail[n:]
			piece = a.buf
		default:
			piece, tail = tail[:max], tail[max:] // a view: no copy
		}
		if !yield(piece, ErrTooLong) {
			return nil, false
		}
		if a.len() > 0 {
			a.buf = a.buf[:copy(a.buf, a.buf[len(piece):])]
		}
	}
	return tail, true
}
