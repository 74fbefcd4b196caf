// Package tlsloop runs Go's crypto/tls over bytes an event loop moves, so
// an established TLS connection costs no goroutine of its own. A Session
// is the net.Conn crypto/tls reads and writes: the owner feeds it the
// ciphertext it read from the socket and gives it a function that sends
// ciphertext; Read decrypts what was fed and answers ErrWouldBlock, a
// temporary net.Error, when a record is incomplete, which crypto/tls
// tolerates after the handshake (the same property net/http's read
// deadlines rely on; the tests pin it, since it is behaviour, not API).
//
// The handshake is the one blocking part: Handshake runs on a goroutine of
// the owner's choosing (bounded in number and time by the owner) and waits
// for Feed; its input is bounded (SetMaxHandshakeInput). After it the owner
// calls Established and from then on uses the session from its own loop
// only: Drain decrypts a read's worth of ciphertext with no copy of its
// own (crypto/tls copies each record once into its buffer), and Write
// sends the records of one plaintext write in one call of send.
package tlsloop
