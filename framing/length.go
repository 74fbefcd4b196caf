package framing

import (
	"encoding/binary"
	"iter"
)

// DefaultMaxFrame is LengthPrefixed.Max when it is 0.
const DefaultMaxFrame = 1 << 20

// LengthPrefixed reads frames that are a length prefix (Size bytes,
// unsigned, big-endian unless LittleEndian) followed by that many payload
// bytes, and writes them with Append. The length counts the payload only.
//
// A prefix over Max makes the stream unusable (nothing says where the next
// frame starts): the framer yields ErrFrameTooLarge, yields it again on
// every later call, and the connection should be closed.
//
// The zero value is ready to use (4-byte big-endian prefix, Max
// DefaultMaxFrame). Set the fields before the first Feed. A
// LengthPrefixed value is not safe for concurrent use: it belongs to one
// connection's handler.
type LengthPrefixed struct {
	// Size is the prefix length in bytes: 1, 2, 4 or 8; 0 means 4.
	Size int
	// Max is the largest payload accepted, in bytes; 0 means
	// DefaultMaxFrame.
	Max int
	// LittleEndian reads and writes the prefix little-endian.
	LittleEndian bool

	buf []byte // an unfinished frame, prefix included
	err error  // sticky: ErrFrameTooLarge or ErrPrefixSize
}

func (f *LengthPrefixed) size() (int, error) {
	switch f.Size {
	case 0:
		return 4, nil
	case 1, 2, 4, 8:
		return f.Size, nil
	}
	return 0, ErrPrefixSize
}

func (f *LengthPrefixed) max() int {
	if f.Max > 0 {
		return f.Max
	}
	return DefaultMaxFrame
}

// length decodes a prefix of n bytes.
func (f *LengthPrefixed) length(p []byte) uint64 {
	var order binary.ByteOrder = binary.BigEndian
	if f.LittleEndian {
		order = binary.LittleEndian
	}
	switch len(p) {
	case 1:
		return uint64(p[0])
	case 2:
		return uint64(order.Uint16(p))
	case 4:
		return uint64(order.Uint32(p))
	}
	return order.Uint64(p)
}

// Buffered returns how many bytes of an unfinished frame the framer holds.
func (f *LengthPrefixed) Buffered() int { return len(f.buf) }

// Err returns the error that ended the stream (ErrFrameTooLarge,
// ErrPrefixSize), or nil.
func (f *LengthPrefixed) Err() error { return f.err }

// Reset drops whatever the framer holds, and its error: the next byte fed
// starts a prefix.
func (f *LengthPrefixed) Reset() { f.buf, f.err = nil, nil }

// Frames returns an iterator over the payloads of the frames completed by
// data, for a range loop (see Lines.Frames): a frame that lies whole in
// data is a view of it; one that began in an earlier call is assembled in
// the framer's buffer; either is valid until the loop body returns.
// Breaking out of the loop drops the rest of data and resets the framer.
func (f *LengthPrefixed) Frames(data []byte) iter.Seq2[[]byte, error] {
	return func(yield func([]byte, error) bool) { f.Feed(data, yield) }
}

// Feed is Frames without the iterator: it calls yield for each payload
// data completes, in order, or once with the stream's error, and returns
// false if the stream failed or yield returned false (the framer is then
// reset, the rest of data dropped).
func (f *LengthPrefixed) Feed(data []byte, yield func(frame []byte, err error) bool) bool {
	if f.err != nil {
		yield(nil, f.err)
		return false
	}
	size, err := f.size()
	if err != nil {
		return f.fail(err, yield)
	}
	max := uint64(f.max())
	for {
		if len(f.buf) > 0 {
			// Finish the frame held from an earlier call.
			if len(f.buf) < size {
				n := min(size-len(f.buf), len(data))
				f.buf = append(f.buf, data[:n]...)
				data = data[n:]
				if len(f.buf) < size {
					return true
				}
			}
			n := f.length(f.buf[:size])
			if n > max {
				return f.fail(ErrFrameTooLarge, yield)
			}
			total := size + int(n)
			take := min(total-len(f.buf), len(data))
			f.buf = appendBounded(f.buf, data[:take], total)
			data = data[take:]
			if len(f.buf) < total {
				return true
			}
			ok := yield(f.buf[size:], nil)
			f.buf = f.buf[:0]
			if cap(f.buf) > keepCap {
				f.buf = nil
			}
			if !ok {
				f.Reset()
				return false
			}
			continue
		}
		if len(data) == 0 {
			return true
		}
		if len(data) >= size {
			n := f.length(data[:size])
			if n > max {
				return f.fail(ErrFrameTooLarge, yield)
			}
			if total := size + int(n); len(data) >= total {
				frame := data[size:total] // whole in data: a view, no copy
				data = data[total:]
				if !yield(frame, nil) {
					f.Reset()
					return false
				}
				continue
			}
			f.buf = appendBounded(f.buf, data, size+int(n))
			return true
		}
		f.buf = appendBounded(f.buf, data, size)
		return true
	}
}

func (f *LengthPrefixed) fail(err error, yield func([]byte, error) bool) bool {
	f.buf, f.err = nil, err
	yield(nil, err)
	return false
}

// Append appends payload as one frame (its prefix, then the payload) to dst
// and returns the extended slice: ErrFrameTooLarge if payload is longer
// than Max or than the prefix can express, ErrPrefixSize for a bad Size
// (dst is then returned unchanged). It allocates only if dst lacks room.
func (f *LengthPrefixed) Append(dst, payload []byte) ([]byte, error) {
	size, err := f.size()
	if err != nil {
		return dst, err
	}
	n := uint64(len(payload))
	if n > uint64(f.max()) || (size < 8 && n >= 1<<(8*size)) {
		return dst, ErrFrameTooLarge
	}
	var order binary.AppendByteOrder = binary.BigEndian
	if f.LittleEndian {
		order = binary.LittleEndian
	}
	switch size {
	case 1:
		dst = append(dst, byte(n))
	case 2:
		dst = order.AppendUint16(dst, uint16(n))
	case 4:
		dst = order.AppendUint32(dst, uint32(n))
	default:
		dst = order.AppendUint64(dst, n)
	}
	return append(dst, payload...), nil
}
