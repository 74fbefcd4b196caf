// Command sockctl is a sockactor playground: each client drives its own
// socket actor over a line protocol, and every FD_ACCEPT and FD_CLOSE of
// the runtime is printed as it happens.
//
//	go run ./examples/sockctl -listen 127.0.0.1:7070 -ban-policy reset|discard -dispatch inline|pooled
//
// It prints "listening <host:port>" as its first line (the real port when
// given port 0), then one JSON object per line for every FD_ACCEPT and
// FD_CLOSE event, with the keys kind, socket, code, error (the Winsock name,
// "" for 0), reason, local (whether this side ended the connection), remote,
// local_addr, listener and time. It runs until SIGINT or SIGTERM, then shuts
// down gracefully; the FD_CLOSE events of that shutdown are printed too.
//
// Commands, one per line ("\n", a trailing "\r" is ignored); every reply
// line ends with "\n":
//
//	ECHO <text>  replies <text>
//	INFO         replies one JSON line from the socket's SocketInfo: socket,
//	             state, recv_shut, send_shut, bytes_in, bytes_out,
//	             banned_bytes, ... (an Info request to its own PID)
//	SHUTRD       RecvDisconnect on its own PID (the receive ban): replies
//	             "OK SHUTRD <n>" (n = disconnect data length, 0 for TCP) or
//	             "ERR <NAME> <code>", then "AFTER 1", "AFTER 2", "AFTER 3"
//	             50 ms apart. The handler reads nothing after SHUTRD; what
//	             the client sends next resets the connection (FD_CLOSE 10053
//	             recv-ban) under -ban-policy reset, or is dropped and counted
//	             in banned_bytes under discard.
//	SHUTWR       replies "OK SHUTWR", then SendDisconnect (FIN): the client
//	             reads end-of-stream. Later commands still run; their replies
//	             are dropped.
//	CLOSE        replies "OK CLOSE", then a graceful Close.
//	ABORT        Abort (RST), no reply.
//
// Anything else gets "ERR WSAEINVAL 10022 unknown command"; a line over
// 64 KiB gets "ERR WSAEMSGSIZE 10040 line too long" and the rest of it is
// discarded. Both leave the connection usable.
//
// Answers come in command order, also when commands are pipelined in one
// write: an answer waits for the asynchronous ones (INFO, SHUTRD and its
// AFTER lines) of earlier commands, and SHUTWR, CLOSE and ABORT act only
// once the answers before them are written. A client that half-closes
// after its commands (shutdown(SHUT_WR), `nc -N`) still gets every
// answer; the server closes the connection after the last one. A client
// that sends faster than it reads its answers is read no further while
// its socket's send queue is full (SendHighWater): the answers are held,
// never dropped, and it is read again once they are written.
package main

import (
	"context"
	"os"

	"github.com/sockactor/sockactor/internal/command"
)

func main() {
	command.Main("sockctl", func(ctx context.Context, args []string) error {
		return run(ctx, args, os.Stdout, os.Stderr)
	})
}
