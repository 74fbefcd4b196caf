package framing

// sized is the engine of LengthPrefixed and HeaderBody: frames whose length
// is known once their head (a length prefix, a header up to a delimiter)
// has been read. Nothing tells where the next frame starts after a bad
// head, so its errors are sticky.
type sized struct {
	acc   accum
	total int   // the current frame's length, once its head is read; 0 before
	err   error // sticky: the error that ended the stream
}

// A sizer reads the head of the frame that starts the pending bytes (held
// in the accumulator, then data): it returns what is left of data (bytes
// it moved into the accumulator are gone from it) and the frame's total
// length, or 0 when data ended first (data is then held), or an error.
type sizer interface {
	head(data []byte) (rest []byte, total int, err error)
}

func (s *sized) reset() { s.acc.reset(); s.total, s.err = 0, nil }

// next returns the next whole frame of the stream and the rest of data: a
// view of data when the frame lies whole in it and nothing is held,
// otherwise assembled in the buffer. When data ends first (its bytes are
// then held) frame is nil, as it is when the stream has failed (err, on
// this call and every later one until Reset).
func (s *sized) next(data []byte, h sizer) (frame, rest []byte, err error) {
	if s.err != nil {
		return nil, nil, s.err
	}
	if s.total == 0 {
		if len(data) == 0 {
			s.acc.settle()
			return nil, nil, nil
		}
		rest, total, err := h.head(data)
		if err != nil {
			s.acc.reset()
			s.total, s.err = 0, err
			return nil, nil, err
		}
		if total == 0 {
			s.acc.settle()
			return nil, nil, nil
		}
		data, s.total = rest, total
	}
	total := s.total
	if s.acc.len() == 0 && len(data) >= total {
		s.total = 0
		return data[:total], data[total:], nil // whole in data: a view
	}
	frame, rest, ok := s.acc.fill(data, total)
	if !ok {
		s.acc.settle()
		return nil, nil, nil
	}
	s.total = 0
	return frame, rest, nil
}

// yielded ends the frame next returned, once yield has had it: the buffer
// is emptied for the next frame, or, if yield asked to stop, the framer is
// reset. It returns more.
func (s *sized) yielded(more bool) bool {
	s.acc.clear()
	if !more {
		s.reset()
	}
	return more
}
