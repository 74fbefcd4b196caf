// Package framing cuts a byte stream into frames, for handlers of line- or
// length-based protocols: Lines splits at "\n" with a maximum line length
// (Netty's LineBasedFrameDecoder, Erlang's {packet, line}), LengthPrefixed
// reads frames behind a 1, 2, 4 or 8 byte length (Netty's
// LengthFieldBasedFrameDecoder, Erlang's {packet, N}) and writes them with
// Append. A framer is fed each *actors.Received's Data as it comes and
// yields the complete frames in it; what is left of an unfinished frame is
// kept, within the framer's bound, until the next call.
//
// The framers are allocation-conscious: a frame that lies whole in the data
// given is yielded as a view of that data, with no copy (zero-copy under
// Inline dispatch, where Data is the event loop's read buffer); only a
// frame that spans reads is assembled in the framer's own buffer, which is
// bounded by the maximum frame size and reused. A yielded frame is
// therefore valid only until the loop body returns: copy what you keep. A
// framer holds per-connection state; keep one per socket (Context.SetState)
// and use it from the handler's goroutine only, like the rest of the
// handler's state. It imports nothing of the runtime and works on any
// io stream just as well.
package framing
