package tlsloop

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"sync"
	"time"
)

// DefaultMaxHandshakeInput bounds the ciphertext a peer may send before its
// handshake completes and the owner starts draining: a client's whole
// flight (ClientHello, certificates, Finished) is far smaller; more is a
// peer flooding a half-open handshake.
const DefaultMaxHandshakeInput = 256 << 10

// ErrWouldBlock is what Session.Read answers when the ciphertext fed so far
// holds no further complete record: feed more and read again. It is a
// net.Error whose Timeout and Temporary are true, which is what makes
// crypto/tls keep the connection usable after it (the behaviour this
// package relies on; TestWouldBlockIsNotSticky pins it).
var ErrWouldBlock error = wouldBlock{}

// ErrHandshakeInput is the error a handshake ends with when the peer sent
// more than MaxHandshakeInput bytes before it completed.
var ErrHandshakeInput = errors.New("tlsloop: handshake input over its bound")

// ErrClosed is what the wire answers once Session.Close has run.
var ErrClosed = errors.New("tlsloop: session closed")

type wouldBlock struct{}

func (wouldBlock) Error() string   { return "tlsloop: would block" }
func (wouldBlock) Timeout() bool   { return true }
func (wouldBlock) Temporary() bool { return true }

// Session is one TLS connection whose bytes an owner moves: the owner feeds
// the ciphertext it reads from the socket and gives the session a send
// function for the ciphertext the session writes. crypto/tls does the
// protocol; Session is the net.Conn it runs over.
//
// Two phases. During Handshake (blocking, on a goroutine of its own, never
// an event loop) Feed may be called from any goroutine, and send from the
// handshake goroutine must be safe to call off the owner's loop. After
// Handshake has returned nil the owner calls Established with the send it
// uses from then on, and from then on only the owner's goroutine (the
// connection's event loop) calls Read, Write, CloseNotify and Feed: a Read
// never blocks, it answers ErrWouldBlock when it needs more ciphertext.
type Session struct {
	tc   *tls.Conn
	wire wire
}

// Server returns the server side of a TLS session over send.
func Server(cfg *tls.Config, send func([]byte) error) *Session {
	s := &Session{}
	s.wire.init(send)
	s.tc = tls.Server(&s.wire, cfg)
	return s
}

// Client returns the client side of a TLS session over send.
func Client(cfg *tls.Config, send func([]byte) error) *Session {
	s := &Session{}
	s.wire.init(send)
	s.tc = tls.Client(&s.wire, cfg)
	return s
}

// SetMaxHandshakeInput sets the bound on ciphertext fed before the
// handshake completes (DefaultMaxHandshakeInput when n <= 0). Call before
// Handshake.
func (s *Session) SetMaxHandshakeInput(n int) {
	if n <= 0 {
		n = DefaultMaxHandshakeInput
	}
	s.wire.maxHS = n
}

// Handshake runs the TLS handshake and blocks until it completes, fails or
// ctx ends (crypto/tls then closes the wire, which wakes the wait). Run it
// on a goroutine of its own: it waits for the owner's Feed.
func (s *Session) Handshake(ctx context.Context) error {
	return s.tc.HandshakeContext(ctx)
}

// HandshakeOn runs the TLS handshake straight over nc, a blocking
// connection the caller still owns (an accepted or dialled socket before
// the event loop takes it): crypto/tls reads and writes nc itself, and
// nothing needs feeding. Bytes crypto/tls read past the handshake stay in
// the session, so the owner drains once (Drain(nil, ...)) after
// Established. It returns once the handshake completed, failed, or ctx
// ended (nc is then closed). The caller bounds it in time (ctx, or a
// deadline on nc). Run it on a goroutine of its own, never an event loop.
func (s *Session) HandshakeOn(ctx context.Context, nc net.Conn) error {
	s.wire.mu.Lock()
	s.wire.nc = nc
	s.wire.mu.Unlock()
	err := s.tc.HandshakeContext(ctx)
	s.wire.mu.Lock()
	s.wire.nc = nil
	s.wire.mu.Unlock()
	return err
}

// Established switches the session to the owner's loop after a successful
// Handshake: reads stop blocking, and ciphertext goes out through send.
// The peer's first data may have come with its last handshake flight, so
// the owner drains once (Drain(nil, ...)) right after. Owner's goroutine
// only.
func (s *Session) Established(send func([]byte) error) {
	s.wire.mu.Lock()
	s.wire.loop = true
	s.wire.send = send
	s.wire.mu.Unlock()
}

// Feed hands the session ciphertext read from the socket. Before
// Established it copies p (any goroutine; over the handshake bound it fails
// the handshake); after, p is only borrowed until the next Read returns
// ErrWouldBlock, so the owner feeds its read buffer and reads until then
// (Drain does both).
func (s *Session) Feed(p []byte) {
	s.wire.feed(p)
}

// EndOfInput tells the session the socket delivered its last byte (the
// peer's FIN). Reads answer io.EOF after what was fed.
func (s *Session) EndOfInput() {
	s.wire.mu.Lock()
	s.wire.eof = true
	s.wire.mu.Unlock()
	s.wire.cond.Broadcast()
}

// Read decrypts into p. It answers ErrWouldBlock when no complete record is
// left, io.EOF after the peer's close_notify (see CloseNotified) or after
// EndOfInput at a record boundary, and another error for a broken stream.
// Owner's goroutine only, after Established.
func (s *Session) Read(p []byte) (int, error) {
	n, err := s.tc.Read(p)
	if err == io.EOF && !s.wire.atEOF() {
		s.wire.notified = true
	}
	return n, err
}

// Drain feeds cipher and hands every plaintext chunk it completes to
// deliver, reading into buf (at least one record, 16 KiB, is best). It
// returns nil when the input is used up, io.EOF when the peer's
// close_notify (or, after EndOfInput, the end of the stream) arrived, or
// the stream's error. deliver's argument is valid only during the call;
// when deliver returns false Drain stops there, keeping (copied) what is
// left of cipher for the next Drain. Owner's goroutine only, after
// Established.
func (s *Session) Drain(cipher, buf []byte, deliver func(plain []byte) bool) error {
	s.Feed(cipher)
	for {
		n, err := s.Read(buf)
		if n > 0 && !deliver(buf[:n]) {
			s.wire.own()
			return nil
		}
		if err != nil {
			if err == ErrWouldBlock {
				return nil
			}
			return err
		}
	}
}

// CloseNotified reports whether the peer's close_notify arrived (rather
// than a bare end of stream). Owner's goroutine only.
func (s *Session) CloseNotified() bool { return s.wire.notified }

// Write encrypts p and sends its records through send in one call.
// Owner's goroutine only, after Established.
func (s *Session) Write(p []byte) (int, error) {
	s.wire.batch = true
	n, err := s.tc.Write(p)
	s.wire.batch = false
	if ferr := s.wire.flush(); err == nil {
		err = ferr
	}
	return n, err
}

// CloseNotify sends close_notify: the session writes nothing after it. The
// owner sends its FIN after. Owner's goroutine only, after Established.
func (s *Session) CloseNotify() error {
	s.wire.batch = true
	err := s.tc.CloseWrite()
	s.wire.batch = false
	if ferr := s.wire.flush(); err == nil {
		err = ferr
	}
	return err
}

// State is the connection's TLS state (version, cipher suite, ALPN, SNI,
// peer certificates). Any goroutine after Handshake returned.
func (s *Session) State() tls.ConnectionState { return s.tc.ConnectionState() }

// Close ends the session without close_notify (a handshake waiting for
// input returns an error). Any goroutine; idempotent.
func (s *Session) Close() { _ = s.wire.Close() }

// wire is the net.Conn crypto/tls runs over. While the handshake runs its
// fields are guarded by mu and a Read waits on cond; after Established the
// owner's loop is the only user, and mu is taken uncontended.
type wire struct {
	mu       sync.Mutex
	cond     sync.Cond
	in       []byte // ciphertext fed, not yet read by crypto/tls
	held     []byte // owned storage for in while in is not the owner's buffer
	send     func([]byte) error
	out      []byte // ciphertext of one Write, sent once it returns
	batch    bool   // a Write or CloseNotify is running: collect into out
	loop     bool   // Established: reads never block
	eof      bool   // EndOfInput
	closed   bool
	notified bool // crypto/tls read close_notify
	overflow bool // more than maxHS fed before Established
	maxHS    int
	nc       net.Conn // HandshakeOn's connection: read and written directly
	borrowed bool     // in is the owner's read buffer, valid only during Drain
}

func (w *wire) init(send func([]byte) error) {
	w.cond.L = &w.mu
	w.send = send
	w.maxHS = DefaultMaxHandshakeInput
}

func (w *wire) feed(p []byte) {
	if len(p) == 0 {
		return
	}
	w.mu.Lock()
	if !w.loop {
		if len(w.in)+len(p) > w.maxHS {
			w.overflow = true // the handshake's next read fails
		} else {
			w.held = append(w.held[:copy(w.held, w.in)], p...)
			w.in = w.held
		}
		w.mu.Unlock()
		w.cond.Broadcast()
		return
	}
	if len(w.in) == 0 {
		w.in = p // borrowed: crypto/tls copies it into its own record buffer
		w.borrowed = true
	} else {
		// What arrived with the handshake's last flight, then p.
		w.held = append(w.held[:copy(w.held, w.in)], p...)
		w.in = w.held
		w.borrowed = false
	}
	w.mu.Unlock()
}

// own copies the rest of a borrowed input into held storage, so it
// outlives the owner's read buffer. Owner's goroutine.
func (w *wire) own() {
	w.mu.Lock()
	if w.borrowed && len(w.in) > 0 {
		w.held = append(w.held[:0], w.in...)
		w.in = w.held
	}
	w.borrowed = false
	w.mu.Unlock()
}

func (w *wire) atEOF() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.eof && len(w.in) == 0
}

// Read is crypto/tls reading ciphertext.
func (w *wire) Read(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.overflow {
		return 0, ErrHandshakeInput
	}
	if nc := w.nc; nc != nil && len(w.in) == 0 {
		w.mu.Unlock()
		n, err := nc.Read(p) // HandshakeOn: the socket itself
		w.mu.Lock()
		return n, err
	}
	for len(w.in) == 0 {
		switch {
		case w.overflow:
			return 0, ErrHandshakeInput
		case w.closed:
			return 0, ErrClosed
		case w.eof:
			return 0, io.EOF
		case w.loop:
			return 0, ErrWouldBlock
		}
		w.cond.Wait()
	}
	n := copy(p, w.in)
	w.in = w.in[n:]
	return n, nil
}

// Write is crypto/tls writing ciphertext: one record at a time, gathered
// while a Session.Write runs.
func (w *wire) Write(p []byte) (int, error) {
	if w.batch {
		w.out = append(w.out, p...)
		return len(p), nil
	}
	if nc := w.handshakeConn(); nc != nil {
		return nc.Write(p)
	}
	if err := w.send(p); err != nil {
		return 0, err
	}
	return len(p), nil
}

func (w *wire) handshakeConn() net.Conn {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.nc
}

func (w *wire) flush() error {
	if len(w.out) == 0 {
		return nil
	}
	err := w.send(w.out)
	w.out = w.out[:0]
	return err
}

// Close is crypto/tls giving up (an interrupted or failed handshake) or
// Session.Close.
func (w *wire) Close() error {
	w.mu.Lock()
	w.closed = true
	nc := w.nc
	w.mu.Unlock()
	w.cond.Broadcast()
	if nc != nil {
		_ = nc.Close() // wakes a HandshakeOn blocked reading it
	}
	return nil
}

func (*wire) LocalAddr() net.Addr              { return tlsAddr{} }
func (*wire) RemoteAddr() net.Addr             { return tlsAddr{} }
func (*wire) SetDeadline(time.Time) error      { return nil }
func (*wire) SetReadDeadline(time.Time) error  { return nil }
func (*wire) SetWriteDeadline(time.Time) error { return nil }

// tlsAddr stands for the socket's addresses, which crypto/tls never needs.
type tlsAddr struct{}

func (tlsAddr) Network() string { return "tcp" }
func (tlsAddr) String() string  { return "tlsloop" }
