package loadgen

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"
)

// closeRecord is one "close" line of the server's side channel.
type closeRecord struct {
	id       uint64
	remote   string
	unixNano int64 // when the server's subscriber received the close
	emitNano int64 // when the server emitted the event (0: no event system)
}

// controlClient is the load generator's end of the server's side channel
// (see servers.Control for the protocol).
type controlClient struct {
	conn    net.Conn
	replies chan string
	closes  chan<- closeRecord
	done    chan struct{}
	readErr error
}

// dialControl connects to the side channel at addr and waits for "ready".
// Close records are sent to closes (which must be drained); replies to
// commands come back from command.
func dialControl(ctx context.Context, addr string, closes chan<- closeRecord) (*controlClient, error) {
	if _, err := ResolveLoopback(addr); err != nil {
		return nil, err
	}
	var nd net.Dialer
	dctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	conn, err := nd.DialContext(dctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("side channel: %w", err)
	}
	cc := &controlClient{conn: conn, replies: make(chan string, 4), closes: closes, done: make(chan struct{})}
	ready := make(chan struct{})
	go cc.read(ready)
	select {
	case <-ready:
		return cc, nil
	case <-cc.done:
		_ = conn.Close()
		return nil, fmt.Errorf("side channel closed before ready: %v", cc.readErr)
	case <-dctx.Done():
		_ = conn.Close()
		<-cc.done
		return nil, errors.New("side channel: no ready line")
	}
}

func (cc *controlClient) read(ready chan<- struct{}) {
	defer close(cc.done)
	sc := bufio.NewScanner(cc.conn)
	sc.Buffer(make([]byte, 64<<10), 64<<20)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "ready":
			close(ready)
		case strings.HasPrefix(line, "close "):
			if rec, ok := parseClose(line); ok && cc.closes != nil {
				cc.closes <- rec
			}
		default:
			cc.replies <- line
		}
	}
	cc.readErr = sc.Err()
}

// parseClose parses "close <id> <remote> <recv-unixns> [<emit-unixns>]".
func parseClose(line string) (closeRecord, bool) {
	f := strings.Fields(line)
	if len(f) != 4 && len(f) != 5 {
		return closeRecord{}, false
	}
	id, err1 := strconv.ParseUint(f[1], 10, 64)
	ns, err2 := strconv.ParseInt(f[3], 10, 64)
	if err1 != nil || err2 != nil {
		return closeRecord{}, false
	}
	rec := closeRecord{id: id, remote: f[2], unixNano: ns}
	if len(f) == 5 {
		emit, err := strconv.ParseInt(f[4], 10, 64)
		if err != nil {
			return closeRecord{}, false
		}
		rec.emitNano = emit
	}
	return rec, true
}

// command sends cmd and returns the JSON part of its reply line.
func (cc *controlClient) command(ctx context.Context, cmd string, timeout time.Duration) (string, error) {
	if _, err := cc.conn.Write([]byte(cmd + "\n")); err != nil {
		return "", err
	}
	t := time.NewTimer(timeout)
	defer t.Stop()
	for {
		select {
		case line := <-cc.replies:
			if rest, ok := strings.CutPrefix(line, cmd+" "); ok {
				return rest, nil
			}
		case <-cc.done:
			return "", fmt.Errorf("side channel closed: %v", cc.readErr)
		case <-t.C:
			return "", fmt.Errorf("no reply to %q within %v", cmd, timeout)
		case <-ctx.Done():
			return "", ctx.Err()
		}
	}
}

// close ends the side channel and waits for its reader.
func (cc *controlClient) close() {
	_ = cc.conn.Close()
	<-cc.done
}
