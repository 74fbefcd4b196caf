// Package framing is the protocol toolkit under a sockactor handler: it cuts
// the byte stream a socket receives into the frames of its protocol, so a
// handler deals in requests, not in reads. Lines splits at "\n" (Netty's
// LineBasedFrameDecoder, Erlang's {packet, line}); Delimited at any
// delimiter, "\r\n" or "\r\n\r\n" (Netty's DelimiterBasedFrameDecoder);
// LengthPrefixed reads frames behind a 1, 2, 4 or 8 byte length and writes
// them with Append (Netty's LengthFieldBasedFrameDecoder, Erlang's
// {packet, N}); HeaderBody reads a header up to a delimiter and then the
// body whose length a callback finds in it, which frames RESP (Redis) bulk
// strings and HTTP/1.1 requests with a Content-Length. Every framer is used
// the same way: keep one per socket in the handler's state
// (Context.SetState), feed it each *actors.Received's Data, and range over
// the frames that data completes (for frame, err := range f.Frames(data));
// what is left of an unfinished frame is kept, within the framer's bounds,
// until the next call. Oversized input is a named error (ErrTooLong,
// ErrFrameTooLarge, ErrHeaderTooLarge, ErrBodyTooLarge), matched with
// errors.Is, also as winsock.ErrMsgSize. The package imports nothing of the
// runtime and frames any io stream just as well.
//
// The framers cost no copy and no allocation per frame in steady state. A
// frame that lies whole in the data given is yielded as a view of that data
// (zero-copy under Inline dispatch, where Data is the event loop's read
// buffer, valid only during the handler call); only the unparsed tail of a
// read is kept, in a buffer the framer owns (the handler never copies it),
// and a frame that spans reads is assembled there. That buffer (each framer
// owns one; all of them manage it with the same accumulator) is reused from
// frame to frame, bounded by the maximum frame size, and shrinks back once a large frame
// has gone, so one large frame does not pin memory for the connection's
// life. A yielded frame (and the header HeaderBody's callback is given) is
// therefore valid only until the loop body (the callback) returns: copy
// what you keep. A framer holds one connection's state and is not safe for
// concurrent use: use it from its socket's handler goroutine only, like the
// rest of the handler's state.
package framing
