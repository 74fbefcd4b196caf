package framing

import "bytes"

// accum is the core every framer shares: it holds the start of the frame
// that the data fed so far has not completed (the unparsed tail of a
// read), so the handler never copies it, and assembles that frame there
// when the next reads complete it. A frame that lies whole in one read
// never enters it: the framers hand out a view of the read instead.
//
// The buffer is reused from frame to frame. It grows geometrically within
// the bound each framer gives, and shrinks back (settle) once a large frame
// has gone and the frames since needed no more than a quarter of it, so
// one large frame does not pin its memory for the connection's life.
type accum struct {
	buf   []byte
	peak  int  // the largest frame that ended in the buffer since the last settle
	ended bool // a frame ended (in the buffer or in data) since the last settle
}

// len returns how many bytes are held.
func (a *accum) len() int { return len(a.buf) }

// add appends p to the held bytes; limit is the most the current frame can
// hold (the buffer's capacity does not grow past it).
func (a *accum) add(p []byte, limit int) { a.buf = appendBounded(a.buf, p, limit) }

// clear ends a frame (yielded or dropped, from the buffer or from data): it
// empties the buffer, keeping its capacity for the next one.
func (a *accum) clear() {
	a.peak, a.ended = max(a.peak, len(a.buf)), true
	a.buf = a.buf[:0]
}

// reset drops the buffer.
func (a *accum) reset() { *a = accum{} }

// cut drops the last n held bytes (the start of a delimiter that data
// completes).
func (a *accum) cut(n int) { a.buf = a.buf[:len(a.buf)-n] }

// settle ends a Feed. A buffer over keepCap is handed back to the garbage
// collector when what the Feed shows of the frames says they no longer
// need it: the frames that ended since the last settle, and the bytes
// held, took at most a quarter of it, and there is some evidence (a frame
// ended, or nothing is held: a large frame still arriving keeps its
// buffer). The bytes held, if any, move to a buffer of their size. Frames
// of a steady size keep their buffer: 0 allocations per frame.
func (a *accum) settle() {
	if c := cap(a.buf); c > keepCap && (a.ended || len(a.buf) == 0) && max(a.peak, len(a.buf)) <= c/4 {
		if len(a.buf) == 0 {
			a.buf = nil
		} else {
			a.buf = append(make([]byte, 0, max(len(a.buf), 256)), a.buf...)
		}
	}
	a.peak, a.ended = 0, false
}

// find looks for delim in the frame under assembly, the held bytes then
// data, the held bytes holding no whole delimiter. It returns how many
// bytes of data go up to the end of its first occurrence (fewer than
// len(delim) when it began in the held bytes), or -1 if data does not
// complete one.
func (a *accum) find(data, delim []byte) int {
	if len(delim) == 1 {
		if i := bytes.IndexByte(data, delim[0]); i >= 0 {
			return i + 1
		}
		return -1
	}
	return a.findAcross(data, delim)
}

// findAcross is find for a delimiter of more than one byte, which may begin
// in the held bytes.
func (a *accum) findAcross(data, delim []byte) int {
	// A delimiter that begins in the held bytes: the earliest start first.
	for k := min(len(delim)-1, len(a.buf)); k > 0; k-- {
		if bytes.HasSuffix(a.buf, delim[:k]) && bytes.HasPrefix(data, delim[k:]) {
			return len(delim) - k
		}
	}
	if i := bytes.Index(data, delim); i >= 0 {
		return i + len(delim)
	}
	return -1
}

// take completes the frame with data[:n]: a view of data when nothing is
// held (no copy), otherwise the held bytes followed by data[:n], assembled
// in the buffer (limit as for add).
func (a *accum) take(data []byte, n, limit int) []byte {
	if len(a.buf) == 0 {
		return data[:n]
	}
	a.add(data[:n], limit)
	return a.buf
}

// fill assembles the first total bytes of the frame in the buffer: it
// appends what data has of them (the caller has checked that they do not
// lie whole in data, where they are a view) and returns them and the rest
// of data, or ok false when data ended first (all of it is then held). The
// buffer grows with the bytes that come, not at once to total: a length
// the peer claims costs no memory before its bytes arrive.
func (a *accum) fill(data []byte, total int) (frame, rest []byte, ok bool) {
	n := min(total-len(a.buf), len(data))
	a.add(data[:n], total)
	if len(a.buf) < total {
		return nil, nil, false
	}
	return a.buf, data[n:], true
}

// keepTail holds only the last n bytes of the held bytes followed by data:
// what may be the start of a delimiter, while the rest is discarded.
func (a *accum) keepTail(data []byte, n int) {
	if len(data) >= n {
		a.buf = a.buf[:0]
		a.add(data[len(data)-n:], n)
		return
	}
	if drop := len(a.buf) + len(data) - n; drop > 0 {
		a.buf = a.buf[:copy(a.buf, a.buf[drop:])]
	}
	a.add(data, n)
}

// keepCap is the buffer capacity a framer always keeps; a larger one (left
// by a long frame) is given back to the garbage collector once the frames
// after it no longer need it (accum.settle).
const keepCap = 4 << 10

// appendBounded appends p to buf, growing its capacity geometrically but
// never past limit (the caller guarantees len(buf)+len(p) <= limit).
func appendBounded(buf, p []byte, limit int) []byte {
	need := len(buf) + len(p)
	if need > cap(buf) {
		n := min(max(need, 2*cap(buf), 256), limit)
		grown := make([]byte, len(buf), n)
		copy(grown, buf)
		buf = grown
	}
	return append(buf, p...)
}

// orDefault returns v, or def when v is not positive (a zero setting).
func orDefault(v, def int) int {
	if v > 0 {
		return v
	}
	return def
}
