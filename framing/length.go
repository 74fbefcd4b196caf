package framing

import (
	"encoding/binary"
	"iter"
)

// DefaultMaxFrame is LengthPrefixed.Max and HeaderBody.MaxBody when they
// are 0.
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
// connection (one socket's handler state) and is used from its handler's
// goroutine only.
type LengthPrefixed struct {
	// Size is the prefix length in bytes: 1, 2, 4 or 8; 0 means 4.
	Size int
	// Max is the largest payload accepted, in bytes; 0 means
	// DefaultMaxFrame.
	Max int
	// LittleEndian reads and writes the prefix little-endian.
	LittleEndian bool

	s sized // the unfinished frame, prefix included, and the sticky error
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

func (f *LengthPrefixed) max() int { return orDefault(f.Max, DefaultMaxFrame) }

// length decodes a prefix of 1, 2, 4 or 8 bytes.
func (f *LengthPrefixed) length(p []byte) uint64 {
	if len(p) == 1 {
		return uint64(p[0])
	}
	if f.LittleEndian {
		return uintLE(p)
	}
	switch len(p) {
	case 2:
		return uint64(binary.BigEndian.Uint16(p))
	case 4:
		return uint64(binary.BigEndian.Uint32(p))
	}
	return binary.BigEndian.Uint64(p)
}

// uintLE decodes a little-endian prefix of 2, 4 or 8 bytes.
func uintLE(p []byte) uint64 {
	switch len(p) {
	case 2:
		return uint64(binary.LittleEndian.Uint16(p))
	case 4:
		return uint64(binary.LittleEndian.Uint32(p))
	}
	return binary.LittleEndian.Uint64(p)
}

// Buffered returns how many bytes of an unfinished frame the framer holds.
func (f *LengthPrefixed) Buffered() int { return f.s.acc.len() }

// Err returns the error that ended the stream (ErrFrameTooLarge,
// ErrPrefixSize), or nil.
func (f *LengthPrefixed) Err() error { return f.s.err }

// Reset drops whatever the framer holds, and its error: the next byte fed
// starts a prefix.
func (f *LengthPrefixed) Reset() { f.s.reset() }

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
	size, err := f.size()
	if err != nil && f.s.err == nil {
		f.s.err = err
	}
	for {
		frame, rest, err := f.s.next(data, f)
		if err != nil {
			yield(nil, err)
			return false
		}
		if frame == nil {
			return true
		}
		data = rest
		if !f.s.yielded(yield(frame[size:], nil)) {
			return false
		}
	}
}

// head reads a frame's prefix: from data itself when it holds the whole
// prefix and nothing is held, otherwise assembled in the buffer.
func (f *LengthPrefixed) head(data []byte) ([]byte, int, error) {
	size, _ := f.size()
	prefix, rest := data, data
	if f.s.acc.len() > 0 || len(data) < size {
		var ok bool
		if prefix, rest, ok = f.s.acc.fill(data, size); !ok {
			return nil, 0, nil
		}
	}
	n := f.length(prefix[:size])
	if n > uint64(f.max()) {
		return nil, 0, ErrFrameTooLarge
	}
	return rest, size + int(n), nil
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
