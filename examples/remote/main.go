// Command remote shows sockactor across nodes (docs/SEMANTICS.md §7): a
// gateway whose sockets are reachable over protoactor remote, and a
// watcher, another node, that resyncs (snapshot, then the events after it)
// and drives the gateway's sockets by PID.
//
//	go run ./examples/remote gateway -listen 127.0.0.1:0 -remote 127.0.0.1:0 [-dispatch inline|pooled]
//	go run ./examples/remote watch -gateway <remote host:port> -remote 127.0.0.1:0
//
// gateway is an echo server (a client that half-closes gets its echo, then
// EOF). Its stdout starts with two lines: first "listening <host:port>" (the TCP
// listener, real port), then "remote <host:port>" (the node's remote
// address, real port: what watch -gateway takes). It runs until SIGINT or
// SIGTERM, then shuts down gracefully. A watcher that dies, even by
// SIGKILL, changes nothing for it: its subscription is dropped.
//
// watch prints one JSON object per line. The first is
//
//	{"kind":"SNAPSHOT","sockets":[<id>,...],"seq":<n>}
//
// with the numeric ids of the gateway's accepted connections whose FD_CLOSE
// has not been emitted ([] when none; listeners are not included) and the
// seq of the last event the snapshot reflects (0 if none). Then one object
// per FD_ACCEPT and FD_CLOSE of the gateway, with the keys kind, socket,
// code, error (the Winsock name, "" for 0), reason, local, remote (the
// peer's host:port), listener and seq. seq is unique, increases per socket,
// and every event after the snapshot has a higher seq than it.
//
// When the connection to the gateway is lost (its process died or stopped,
// or it can no longer be reached: protoactor's EndpointTerminatedEvent,
// within milliseconds of a process's death), watch prints at once
//
//	{"kind":"GATEWAY_DOWN","gateway":"<host:port>","seq":<n>}
//
// with the -gateway address and the last seq it printed (the snapshot's or
// an event's), and tries again: a TCP connect to that address 100 ms
// later, the pause doubling up to 2 s, and once it is accepted, the
// snapshot request. When a gateway answers there again (restarted on the
// same remote address), watch prints a new SNAPSHOT line, as the first,
// and follows its events; a new gateway process starts again at seq 0.
// gateway reads commands on stdin, one per line, to open and close
// listeners while it runs (a fleet watcher sees CHANGE):
//
//	LISTEN <host:port>    one more TCP echo listener: "listening <host:port>"
//	                      (the real port) or "ERR <NAME> <code> <detail>"
//	UNLISTEN <host:port>  closes the listener on that address (as LISTEN
//	                      printed it): "closed <host:port>", or "ERR
//	                      WSAEINVAL 10022 no listener on <host:port>"
//
// Anything else gets "ERR WSAEINVAL 10022 unknown command"; the end of
// stdin ends the commands, not the gateway.
//
// If the very first snapshot cannot be had, watch fails.
//
// watch reads commands on stdin, one per line:
//
//	SHUTRD <id>  RecvDisconnect to that socket's PID over remote: prints
//	             "OK SHUTRD <id>" or "ERR <NAME> <code>" (a detail may follow)
//	CLOSE <id>   Close likewise: "OK CLOSE <id>" or "ERR <NAME> <code>"
//
// An unknown or released id gives "ERR WSAENOTSOCK 10038"; anything else
// "ERR WSAEINVAL 10022 unknown command". From GATEWAY_DOWN until the next
// SNAPSHOT, SHUTRD and CLOSE answer "ERR WSAENETDOWN 10050 gateway down",
// and so do the commands still waiting for their answer when the gateway
// was lost. The end of stdin is not a stop signal: watch runs until SIGINT
// or SIGTERM, and then stops at once (in milliseconds), whether the
// gateway is up or down.
//
// A fleet (package fleet; docs/SEMANTICS.md §7):
//
//	go run ./examples/remote etcd -listen 127.0.0.1:2379 -dir DIR
//	go run ./examples/remote gateway ... -etcd http://127.0.0.1:2379 [-ttl 5s] [-prefix /sockactor/fleet/]
//	go run ./examples/remote watch -etcd http://127.0.0.1:2379 -remote 127.0.0.1:0
//
// etcd runs an embedded etcd server (fleet/embedetcd) and prints "etcd
// <url>". gateway -etcd registers the gateway under a lease and prints a
// third line, "registered <key> <incarnation>", once etcd has it (it
// serves meanwhile). watch -etcd follows every gateway of the prefix and
// prints one JSON object per fleet.Update, each with "gateway" (the remote
// address): JOIN, LOST, LEAVE and RESTART with "incarnation" (and
// "listeners" for JOIN and RESTART); CHANGE with "incarnation" and
// "listeners" (all of them now, [] for none) when a gateway's listeners
// change while it runs; {"kind":"SNAPSHOT","sockets":[ids],
// "remotes":[peer addresses, in the same order],"seq":n}; the events as
// above; {"kind":"GONE","socket":id,"remote":...,"reason":"leave"|
// "restart"|"lost"}, one per socket the watcher had for a gateway it no
// longer follows (synthetic: never an FD_CLOSE). A fleet watcher reads no
// commands.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/sockactor/sockactor/internal/command"
)

func main() {
	command.Main("remote", func(ctx context.Context, args []string) error {
		return run(ctx, args, os.Stdin, os.Stdout, os.Stderr)
	})
}

// usage is what -h, -help and help print: the commands, and where their
// flags are listed.
const usage = `usage: remote gateway|watch|etcd [flags]

  remote gateway -listen 127.0.0.1:0 -remote 127.0.0.1:0 [-dispatch inline|pooled]
        an echo server whose sockets are reachable over protoactor remote;
        prints "listening <host:port>" then "remote <host:port>"; reads
        LISTEN <host:port> and UNLISTEN <host:port> on stdin
  remote watch -gateway <remote host:port> -remote 127.0.0.1:0
        another node: prints the gateway's sockets and events as JSON lines
        (GATEWAY_DOWN when it is lost, a new SNAPSHOT when it is back),
        reads SHUTRD <id> and CLOSE <id> on stdin

  a fleet (etcd leases; docs/SEMANTICS.md §7):
  remote etcd -listen 127.0.0.1:2379 -dir DIR
        an embedded etcd for the demo; prints "etcd <url>"
  remote gateway ... -etcd <url> [-ttl 5s]
        registers the gateway; prints "registered <key> <incarnation>"
  remote watch -etcd <url> -remote 127.0.0.1:0
        follows every gateway: JOIN, SNAPSHOT, the events, GONE (one per
        socket of a gateway no longer followed), LOST, LEAVE, RESTART,
        CHANGE (a gateway's listeners changed)

  remote gateway -h, remote watch -h, remote etcd -h: their flags
`

// run is the whole command, with ctx in place of the signals.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return errors.New("no command (want gateway or watch)")
	}
	switch args[0] {
	case "gateway":
		return runGateway(ctx, args[1:], stdin, stdout, stderr)
	case "watch":
		return runWatch(ctx, args[1:], stdin, stdout, stderr)
	case "etcd":
		return runEtcd(ctx, args[1:], stdout, stderr)
	case "-h", "-help", "--help", "help":
		fmt.Fprint(stderr, usage)
		return flag.ErrHelp // command.Main exits 0, as after a flag set's -h
	}
	return fmt.Errorf("unknown command %q (want gateway, watch or etcd; -h for help)", args[0])
}
