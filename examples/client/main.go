// Command client is a tiny TCP client for driving the examples by hand or
// from a script, where nc is not installed: it sends its standard input
// to the server and prints what the server sends back.
//
//	go run ./examples/client -addr 127.0.0.1:7070            # type lines; Ctrl-D ends
//	printf 'ECHO hi\nINFO\nCLOSE\n' | go run ./examples/client -addr 127.0.0.1:7070
//	go run ./examples/client -addr 127.0.0.1:7000 -send 'hello'   # one message, then FIN
//
// At the end of its input (or after -send) it half-closes the connection
// (shutdown(SHUT_WR), what nc -N does), so the server sees FD_CLOSE
// peer-close and can still answer, then it prints the rest of the
// server's output until the server closes (or -wait passes). With -reset
// it ends with a reset (RST) instead, which the server sees as
// peer-reset. It exits 0 once the server has closed the connection, or
// the wait has passed.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"time"

	"github.com/sockactor/sockactor/internal/command"
)

func main() {
	command.Main("client", func(ctx context.Context, args []string) error {
		return run(ctx, args, os.Stdin, os.Stdout, os.Stderr)
	})
}

// run connects, copies stdin (or -send) to the connection and the
// connection to stdout, then ends the connection as the flags say.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("client", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", "127.0.0.1:7070", "server address (host:port)")
	send := fs.String("send", "", "send this text (a \"\\n\" is added) instead of reading stdin")
	reset := fs.Bool("reset", false, "end with a reset (RST) instead of a half-close (FIN)")
	wait := fs.Duration("wait", 5*time.Second, "how long to wait for the server's last words after the input ends")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if *send != "" {
		stdin = strings.NewReader(*send + "\n")
	}
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", *addr)
	if err != nil {
		return err
	}
	tcp := conn.(*net.TCPConn)
	defer tcp.Close()
	stop := context.AfterFunc(ctx, func() { _ = tcp.SetDeadline(time.Now()) }) // Ctrl-C ends both copies
	defer stop()

	received := make(chan error, 1)
	go func() {
		_, err := io.Copy(stdout, tcp)
		received <- err
	}()
	sent := make(chan error, 1)
	go func() {
		_, err := io.Copy(tcp, stdin)
		sent <- err
	}()

	select {
	case err := <-received: // the server closed first
		return quiet(err)
	case err := <-sent:
		if err != nil {
			return err
		}
	}
	if *reset {
		_ = tcp.SetLinger(0)
		return tcp.Close()
	}
	if err := tcp.CloseWrite(); err != nil {
		return err
	}
	_ = tcp.SetReadDeadline(time.Now().Add(*wait))
	return quiet(<-received)
}

// quiet turns the ways a connection normally ends into nil.
func quiet(err error) error {
	var ne net.Error
	if err == nil || errors.Is(err, net.ErrClosed) || (errors.As(err, &ne) && ne.Timeout()) {
		return nil
	}
	return err
}
