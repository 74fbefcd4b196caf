// Command http is an HTTP/1.1 server on sockactor: every connection is a
// socket actor on a gnet event loop, its requests cut by the framing
// toolkit (framing.HeaderBody) and parsed in place by package h1.
//
//	go run ./examples/http -listen 127.0.0.1:8080 -dispatch inline|pooled
//	curl -s http://127.0.0.1:8080/plaintext            # Hello, World!
//	curl -s -d hello http://127.0.0.1:8080/echo         # hello
//
// Routes (TechEmpower style, with Server and Date headers, the Date made
// once per second): GET /plaintext, GET /json, POST /echo (the body back);
// HEAD on the GET routes (the GET's head, no body); 404 for another path,
// 405 with Allow for another method. A request with "Expect: 100-continue"
// gets "100 Continue" as soon as its head is read. Connections
// are kept alive (HTTP/1.1's default; "Connection: close" is honoured, an
// HTTP/1.0 request closes unless it asks for keep-alive) and pipelined
// requests are answered in order, the replies of one read in one write.
// A client that sends faster than it reads its replies is read no further
// while its socket's send queue is full (SendHighWater): its replies are
// held, never dropped, and it is read again once they are written.
// Errors, each followed by a close: 400 for a malformed request line or
// header field, 411 for a POST without Content-Length, 413 for a body over
// 1 MiB (h1.DefaultMaxBody), 431 for a request head over 8 KiB
// (h1.DefaultMaxHeader), 501 for a chunked (any transfer-encoded) body,
// which this server does not implement.
//
// It prints "listening <host:port>" first, and runs until SIGINT or
// SIGTERM, then shuts down gracefully.
package main

import (
	"context"
	"flag"
	"io"
	"os"

	"github.com/sockactor/sockactor/actors"
	"github.com/sockactor/sockactor/examples/http/server"
	"github.com/sockactor/sockactor/examples/internal/serve"
	"github.com/sockactor/sockactor/internal/command"
	sockrt "github.com/sockactor/sockactor/runtime"
)

func main() {
	command.Main("http", func(ctx context.Context, args []string) error {
		return run(ctx, args, os.Stdout, os.Stderr)
	})
}

// run is the whole command: it parses args, serves until ctx is done, then
// shuts down gracefully.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("http", flag.ContinueOnError)
	fs.SetOutput(stderr)
	f := serve.AddFlags(fs, "127.0.0.1:8080", "TCP address to listen on, host:port")
	if err := serve.Parse(fs, args); err != nil {
		return err
	}
	d, err := f.Dispatch()
	if err != nil {
		return err
	}
	rt, err := sockrt.New(sockrt.Options{EventLoops: f.Loops()})
	if err != nil {
		return err
	}
	return serve.Run(ctx, rt, "tcp://"+f.Listen(), server.Handler(),
		// The handler copies what it keeps (it runs Inline too), so a pooled read
		// may lend its buffer for the call (RecycleReads: no allocation per read).
		actors.ListenOptions{Dispatch: d, RecycleReads: true}, stdout, nil)
}
