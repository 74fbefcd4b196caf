package servers

import (
	"github.com/sockactor/sockactor/examples/http/h1"
	"github.com/sockactor/sockactor/examples/http/server"
)

// ModeHTTP is the mode of the http scenario: the server is an HTTP/1.1
// server (GET /plaintext, GET /json, POST /echo) instead of an echo. The
// sockactor servers run examples/http's own handler (server.Handler); the
// raw gnet one runs the same h1 protocol package and routes (h1.Conn,
// server.Route) straight in gnet's OnTraffic, the baseline.
const ModeHTTP = "http"

// httpProtocol is ModeHTTP: each gnet connection an h1.Conn.
var httpProtocol = protocol{
	mode: ModeHTTP,
	gnetConns: func() func() protocolConn {
		return func() protocolConn { return h1.NewConn(server.Route) }
	},
	handler: server.Handler,
}
