package servers

import (
	"github.com/sockactor/sockactor/actors"
	"github.com/sockactor/sockactor/examples/redis/resp"
)

// ModeRESP is the resp scenario's mode: the server speaks RESP2 (Redis)
// with examples/redis/resp, not echo. The sockactor servers run
// examples/redis's handler (resp.Handler); the raw gnet one a
// resp.Session per connection in OnTraffic, the baseline.
const ModeRESP = "resp"

// respProtocol is ModeRESP: a store per server, a session per connection.
var respProtocol = protocol{
	mode: ModeRESP,
	gnetConns: func() func() protocolConn {
		store := resp.NewStore(0)
		return func() protocolConn { return &respConn{sess: resp.NewSession(store)} }
	},
	handler: func() actors.Handler { return resp.Handler(resp.NewStore(0)) },
}

// respConn is a gnet connection's RESP state: its session and the buffer
// its replies are built in.
type respConn struct {
	sess *resp.Session
	out  []byte
}

// Serve serves every command in in; it closes after a protocol error or
// QUIT.
func (c *respConn) Serve(in []byte) ([]byte, bool) {
	var err error
	c.out, err = c.sess.Serve(in, c.out[:0])
	return c.out, err != nil
}
