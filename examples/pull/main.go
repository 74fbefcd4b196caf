// Command pull is a sockactor server written the way a Winsock
// WSAAsyncSelect program is: its sockets never push data, and one "window
// procedure" pulls it when told to.
//
//	go run ./examples/pull -listen 127.0.0.1:7080 -dispatch inline|pooled -max 4096
//
// The listener runs in pull mode (actors.ListenOptions{Pull: true}): received
// bytes wait in the socket actor until a Recv takes them. A single driver
// actor is subscribed runtime-wide to FD_ACCEPT|FD_READ|FD_WRITE|FD_CLOSE
// and plays the window procedure, keeping every socket's state in a map
// keyed by socket id:
//
//   - FD_READ: it sends Recv{max} requests to the socket and handles each
//     RecvResult reply: bytes are counted, lines counted, and every complete
//     line is echoed back with its ASCII letters upper-cased (a Send to the
//     socket). It keeps calling Recv until the reply is WSAEWOULDBLOCK
//     (10035), then waits for the next FD_READ; by Winsock's re-enabling
//     rule there is exactly one FD_READ until a Recv is made.
//   - Echoes go out in order, one Send outstanding at a time. A Send
//     refused with WSAEWOULDBLOCK (the peer reads slower than it writes)
//     keeps its bytes and is retried on the next FD_WRITE; while 256 KiB of
//     echo wait, the driver stops pulling from that socket.
//   - FD_CLOSE: it calls Recv until the socket is drained (0 bytes and code
//     0 after a peer close, or an error code) and echoes what it pulls:
//     after a peer close (a client that half-closed with shutdown(SHUT_WR),
//     like nc -N) the socket stays writable, so the client still gets its
//     whole answer. Since no FD_WRITE follows FD_CLOSE, a refused Send is
//     then retried on a short timer. Once every echo Send has been answered
//     it calls RecvDisconnect to collect the disconnect data (empty for
//     TCP), then Close (which flushes the socket's queued bytes before its
//     FIN), and prints one JSON line for the finished socket. The runtime
//     bounds a half-open socket's life by its linger (2 s after FD_CLOSE):
//     echo still unsent when it is released is dropped and reported on
//     stderr.
//
// The line of a finished socket reads
//
//	{"socket":7,"bytes":1234,"lines":12,"close_reason":"peer-close","recv_disconnect_code":0}
//
// where close_reason is the FD_CLOSE reason and recv_disconnect_code the
// code of the RecvDisconnect reply. bytes counts every byte pulled, lines
// every "\n" (as wc -l does); a last line without "\n" is counted in bytes
// but not echoed. A line longer than 64 KiB is echoed in pieces as it
// arrives.
//
// Every request is an actor request whose reply comes back to the driver as
// a message, never a blocking future. The driver is one actor, so it runs
// one message at a time and needs no lock. It tells replies apart by their
// sender, the socket's PID (actors.SocketIDOf(ctx.Sender())); since socket
// actors reply without a sender, each socket's requests name a small "reply
// port" child actor as their sender, which hands the replies on to the
// driver with the socket's PID attached.
//
// It prints "listening <host:port>" as its first line (the real port when
// given port 0), then the per-socket JSON lines; diagnostics (an echo the
// socket refused for good, for example after a reset) go to stderr. It runs
// until SIGINT or SIGTERM, then shuts down gracefully: sockets still open
// are closed (close_reason "shutdown") and their lines are printed before
// it exits.
package main

import (
	"context"
	"os"

	"github.com/sockactor/sockactor/internal/command"
)

func main() {
	command.Main("pull", func(ctx context.Context, args []string) error {
		return run(ctx, args, os.Stdout, os.Stderr)
	})
}
