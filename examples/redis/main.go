// Command redis is a RESP2 (Redis protocol) server on sockactor: every
// connection is a socket actor on a gnet event loop, its handler a RESP
// parser on framing.HeaderBody over a store of N shards, each a map under
// its own lock, the key's shard chosen by hash/maphash. It speaks PING,
// ECHO, SET, GET, DEL, EXISTS, INCR and QUIT, with Redis's replies and
// errors, pipelining (the replies of one read go out in one write), inline
// commands (telnet's "SET a b") and binary-safe values; a bulk string over
// 64 MiB (resp.MaxBulk) or a malformed request gets "-ERR Protocol error:
// ..." and the connection is closed, as Redis does. The protocol and the
// handler are in package resp beside it, which the bench reuses.
//
//	go run ./examples/redis -listen 127.0.0.1:6380 -dispatch inline|pooled
//	redis-cli -p 6380 set greeting hello; redis-cli -p 6380 get greeting
//	redis-benchmark -p 6380 -t ping,set,get -P 16 -q -n 200000
//
// It prints "listening <host:port>" first, and runs until SIGINT or
// SIGTERM, then shuts down gracefully.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"os"

	"github.com/sockactor/sockactor/actors"
	"github.com/sockactor/sockactor/examples/internal/serve"
	"github.com/sockactor/sockactor/examples/redis/resp"
	"github.com/sockactor/sockactor/internal/command"
	sockrt "github.com/sockactor/sockactor/runtime"
)

func main() {
	command.Main("redis", func(ctx context.Context, args []string) error {
		return run(ctx, args, os.Stdout, os.Stderr)
	})
}

// run is the whole command: it parses args, serves until ctx is done, then
// shuts down gracefully.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("redis", flag.ContinueOnError)
	fs.SetOutput(stderr)
	f := serve.AddFlags(fs, "127.0.0.1:6380", "TCP host:port to listen on")
	shards := fs.Int("shards", resp.DefaultShards, "store shards, each a map under its own lock")
	if err := serve.Parse(fs, args); err != nil {
		return err
	}
	d, err := f.Dispatch()
	if err != nil {
		return err
	}
	if *shards < 1 {
		return fmt.Errorf("-shards must be at least 1")
	}
	rt, err := sockrt.New(sockrt.Options{EventLoops: f.Loops()})
	if err != nil {
		return err
	}
	return serve.Run(ctx, rt, "tcp://"+f.Listen(), resp.Handler(resp.NewStore(*shards)),
		// The handler copies what it keeps (it runs Inline too), so a pooled read
		// may lend its buffer for the call (RecycleReads: no allocation per read).
		actors.ListenOptions{Dispatch: d, RecycleReads: true}, stdout,
		func(addr net.Addr) { fmt.Fprintf(stderr, "redis (RESP2) on %s, %s dispatch\n", addr, d) })
}
