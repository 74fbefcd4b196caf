package actors

// State is where a socket actor stands, as SocketInfo.State reports it.
// Values are immutable; String gives the word on the wire.
type State uint8

// The states of a socket actor. A TCP socket goes Connecting (dialled only)
// → Open → Closed (FD_CLOSE emitted; after the peer's FIN its send side
// stays usable until send_shut), or Connecting → Failed for a dial that
// never connected. A listener is Listening, then Closed. Released sockets
// have no state: they answer WSAENOTSOCK.
const (
	StateConnecting State = iota
	StateOpen
	StateClosed
	StateFailed
	StateListening
)

var stateWords = [...]string{
	StateConnecting: "connecting",
	StateOpen:       "open",
	StateClosed:     "closed",
	StateFailed:     "failed",
	StateListening:  "listening",
}

// String returns the SocketInfo.State word ("open", "closed", ...).
func (s State) String() string {
	if int(s) < len(stateWords) {
		return stateWords[s]
	}
	return "unknown"
}
