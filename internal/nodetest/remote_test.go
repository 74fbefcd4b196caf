package nodetest_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/descriptorpb"
	"google.golang.org/protobuf/types/dynamicpb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/sockactor/sockactor/actors"
	"github.com/sockactor/sockactor/events"
	"github.com/sockactor/sockactor/internal/socktest"
	sockrt "github.com/sockactor/sockactor/runtime"
	"github.com/sockactor/sockactor/winsock"
)

// newNode makes a runtime on the pooled system sys (whose remote runs
// since TestMain), shut down at cleanup.
func newNode(t *testing.T, sys *actor.ActorSystem, opts sockrt.Options) *sockrt.Runtime {
	t.Helper()
	opts.ActorSystem = sys
	if opts.EventLoops == 0 {
		opts.EventLoops = 1
	}
	if opts.Linger == 0 {
		opts.Linger = 100 * time.Millisecond
	}
	rt, err := sockrt.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		if err := rt.Shutdown(ctx); err != nil {
			t.Errorf("shutdown of %s: %v", rt.Address(), err)
		}
	})
	return rt
}

// gateway is a runtime on the gateway node serving h on a loopback
// listener.
func gateway(t *testing.T, h actors.Handler, lo actors.ListenOptions) (*sockrt.Runtime, *sockrt.Listener) {
	t.Helper()
	rt := newNode(t, nodes.gateway, sockrt.Options{})
	ln, err := rt.Listen("tcp://127.0.0.1:0", h, lo)
	if err != nil {
		t.Fatal(err)
	}
	if err := rt.Start(ctx5(t)); err != nil {
		t.Fatal(err)
	}
	return rt, ln
}

// pingHandler echoes bytes and answers a StringValue request with "pong",
// leaving any other message unanswered.
var pingHandler = actors.HandlerFunc(func(c *actors.Context) {
	switch m := c.Message().(type) {
	case *actors.Received:
		_, _ = c.Write(m.Data)
	case *wrapperspb.StringValue:
		c.Respond(&wrapperspb.StringValue{Value: "pong " + m.Value})
	}
})

func TestRemotePIDsCarryTheNodeAddress(t *testing.T) {
	gw, ln := gateway(t, pingHandler, actors.ListenOptions{})
	w := newNode(t, nodes.watcher, sockrt.Options{})
	addr := gw.Address()
	if host, _, err := net.SplitHostPort(addr); err != nil || host != "127.0.0.1" {
		t.Fatalf("gateway address %q", addr)
	}
	if ln.PID().Address != addr || gw.NodePID().Address != addr || !gw.NodePID().Equal(sockrt.NodePID(addr)) {
		t.Fatalf("listener PID %v, node PID %v; want address %s", ln.PID(), gw.NodePID(), addr)
	}
	if gw.Stats().Remote.Address != addr {
		t.Fatalf("Stats().Remote.Address = %q", gw.Stats().Remote.Address)
	}

	rec := socktest.NewRecorder(w.System())
	if err := w.Caller.Subscribe(ctx5(t), sockrt.NodePID(addr), rec.PID, events.MaskAll); err != nil {
		t.Fatalf("remote runtime-wide Subscribe: %v", err)
	}
	c := dial(t, ln.Addr().String())
	acc := rec.AcceptedFor(t, c)
	if acc.PidAddress != addr || acc.Seq == 0 {
		t.Fatalf("FD_ACCEPT pid_address %q seq %d", acc.PidAddress, acc.Seq)
	}
	// The reply's sender is the socket's PID, with the node's address.
	sender := make(chan *actor.PID, 1)
	asker := w.System().Root.Spawn(actor.PropsFromFunc(func(ctx actor.Context) {
		switch ctx.Message().(type) {
		case *actor.Started:
			ctx.Request(acc.PID(), &actors.Info{})
		case *actors.SocketInfo:
			sender <- ctx.Sender()
		}
	}))
	defer w.System().Root.Stop(asker)
	select {
	case s := <-sender:
		if !s.Equal(acc.PID()) || s.Address != addr {
			t.Fatalf("reply sender %v, want %v", s, acc.PID())
		}
	case <-time.After(socktest.Timeout):
		t.Fatal("no SocketInfo reply over remote")
	}
}

// transcript drives one connected socket and a listener through every
// message of §2 with caller c and returns what each answered.
func transcript(t *testing.T, c actors.Caller, sys *actor.ActorSystem, gw *sockrt.Runtime, ln *sockrt.Listener, sub *actor.PID) []string {
	t.Helper()
	ctx := ctx5(t)
	var out []string
	note := func(op string, err error) {
		out = append(out, fmt.Sprintf("%s=%d", op, winsock.CodeOf(err, 1)))
	}
	rec := socktest.NewRecorder(gw.System())
	if err := gw.Subscribe(rec.PID, events.MaskAll); err != nil {
		t.Fatal(err)
	}
	defer gw.Unsubscribe(rec.PID)
	conn := dial(t, ln.Addr().String())
	pid := rec.AcceptedFor(t, conn).PID()
	abortConn := dial(t, ln.Addr().String())
	abortPID := rec.AcceptedFor(t, abortConn).PID()

	info, err := c.Info(ctx, pid)
	note("Info", err)
	if err == nil && (info.State != "open" || info.Socket != actors.SocketIDOf(pid)) {
		t.Errorf("Info = %v", info)
	}
	n, err := c.Send(ctx, pid, []byte("hi"))
	note(fmt.Sprintf("Send(%d)", n), err)
	buf := make([]byte, 2)
	_ = conn.SetReadDeadline(time.Now().Add(socktest.Timeout))
	if _, err := conn.Read(buf); err != nil || string(buf) != "hi" {
		t.Errorf("peer read %q, %v", buf, err)
	}
	note("Subscribe", c.Subscribe(ctx, pid, sub, events.MaskOf(events.FDClose)))
	note("Unsubscribe", c.Unsubscribe(ctx, pid, sub))
	note("Subscribe", c.Subscribe(ctx, pid, sub, events.MaskOf(events.FDClose)))
	// Read pauses (§2, §5): twice (idempotent), seen in Info, then one
	// resume and the echo works again.
	note("SuspendReading", c.SuspendReading(ctx, pid))
	note("SuspendReading", c.SuspendReading(ctx, pid))
	pi, err := c.Info(ctx, pid)
	note("Info", err)
	if !pi.GetReadPaused() || pi.GetReadPausedBy() != "app" || pi.GetReadPausedSinceUnixNano() == 0 {
		t.Errorf("Info after SuspendReading = %v", pi)
	}
	note("ResumeReading", c.ResumeReading(ctx, pid))
	pi, err = c.Info(ctx, pid)
	note("Info", err)
	if pi.GetReadPaused() || pi.GetReadPausedBy() != "" || pi.GetReadPausedSinceUnixNano() != 0 {
		t.Errorf("Info after ResumeReading = %v", pi)
	}
	if got := roundTrip(t, conn, "resumed"); got != "resumed" {
		t.Errorf("echo after ResumeReading: %q", got)
	}
	note("SuspendReading(listener)", c.SuspendReading(ctx, ln.PID()))
	note("ResumeReading(listener)", c.ResumeReading(ctx, ln.PID()))
	_, err = c.Recv(ctx, pid, 10)
	note("Recv", err)
	r, err := sys.Root.RequestFuture(pid, &actors.Connect{Address: "tcp://127.0.0.1:1"}, socktest.Timeout).Result()
	if cr, ok := r.(*actors.ConnectResult); ok && err == nil {
		out = append(out, fmt.Sprintf("Connect=%d", cr.Code))
	} else {
		t.Errorf("Connect: %v, %v", r, err)
	}
	r, err = sys.Root.RequestFuture(pid, &wrapperspb.StringValue{Value: "x"}, socktest.Timeout).Result()
	if sv, ok := r.(*wrapperspb.StringValue); ok && err == nil {
		out = append(out, "handler="+sv.Value)
	} else {
		t.Errorf("handler request: %v, %v", r, err)
	}
	r, err = sys.Root.RequestFuture(pid, &wrapperspb.Int32Value{Value: 1}, socktest.Timeout).Result()
	if e, ok := r.(*actors.Error); ok && err == nil {
		out = append(out, fmt.Sprintf("unanswered=%d", e.Code))
	} else {
		t.Errorf("unanswered request: %v, %v", r, err)
	}
	_, err = c.RecvDisconnect(ctx, pid)
	note("RecvDisconnect", err)
	_, err = c.Recv(ctx, pid, 10)
	note("Recv", err)
	note("SendDisconnect", c.SendDisconnect(ctx, pid))
	if err := readUntilErr(conn); !errors.Is(err, io.EOF) {
		t.Errorf("peer after SendDisconnect: %v", err)
	}
	note("Close", c.Close(ctx, pid))
	_, err = c.Info(ctx, pid)
	note("Info", err)
	note("SuspendReading", c.SuspendReading(ctx, pid))
	note("Abort", c.Abort(ctx, abortPID))
	if err := readUntilErr(abortConn); !isReset(err) {
		t.Errorf("peer after Abort: %v", err)
	}
	_, err = c.Send(ctx, ln.PID(), []byte("x"))
	note("Send(listener)", err)
	li, err := c.Info(ctx, ln.PID())
	note("Info(listener)", err)
	if err == nil && li.State != "listening" {
		t.Errorf("listener Info %v", li)
	}
	return out
}

// TestRemoteRequestsAnswerAsLocal: every message of §2 sent from another
// node gets the reply a local sender gets.
func TestRemoteRequestsAnswerAsLocal(t *testing.T) {
	socktest.EachMode(t, modes, func(t *testing.T, d actors.Dispatch) {
		gw, ln := gateway(t, pingHandler, actors.ListenOptions{Dispatch: d})
		w := newNode(t, nodes.watcher, sockrt.Options{})
		localSub := socktest.NewRecorder(gw.System())
		remoteSub := socktest.NewRecorder(w.System())
		local := transcript(t, gw.Caller, gw.System(), gw, ln, localSub.PID)
		remote := transcript(t, w.Caller, w.System(), gw, ln, remoteSub.PID)
		if strings.Join(local, " ") != strings.Join(remote, " ") {
			t.Fatalf("replies differ:\nlocal  %v\nremote %v", local, remote)
		}
		t.Logf("replies: %v", remote)
		// The remote per-socket subscriber got its FD_CLOSE.
		socktest.WaitFor(t, "remote FD_CLOSE", func() bool {
			return remoteSub.Find(func(ev *events.Event) bool { return ev.EventKind() == events.FDClose }) != nil
		})
	})
}

// TestRemoteSubscriptionsInOrder: remote subscribers, per listener (so per
// accepted socket) and runtime-wide, get each socket's events in order.
func TestRemoteSubscriptionsInOrder(t *testing.T) {
	gw, ln := gateway(t, pingHandler, actors.ListenOptions{})
	w := newNode(t, nodes.watcher, sockrt.Options{})
	perSocket := socktest.NewRecorder(w.System())
	wide := socktest.NewRecorder(w.System())
	ctx := ctx5(t)
	if err := w.Caller.Subscribe(ctx, ln.PID(), perSocket.PID, events.MaskAll); err != nil {
		t.Fatal(err)
	}
	if err := w.Caller.Subscribe(ctx, sockrt.NodePID(gw.Address()), wide.PID, events.MaskAll); err != nil {
		t.Fatal(err)
	}
	const conns = 30
	var ids []uint64
	for i := 0; i < conns; i++ {
		c := dial(t, ln.Addr().String())
		if got := roundTrip(t, c, "abc"); got != "abc" {
			t.Fatal(got)
		}
		ids = append(ids, wide.AcceptedFor(t, c).SocketId)
		if i%2 == 0 {
			c.Close()
		} else {
			_ = c.SetLinger(0)
			c.Close()
		}
	}
	for _, r := range []*socktest.Recorder{perSocket, wide} {
		for _, id := range ids {
			socktest.WaitFor(t, "FD_CLOSE", func() bool { return r.Count(id, events.FDClose) == 1 })
			evs := r.Of(id)
			var kinds []string
			for i, ev := range evs {
				kinds = append(kinds, ev.EventKind().String())
				if i > 0 && ev.Seq <= evs[i-1].Seq {
					t.Fatalf("socket %d: seq %d after %d", id, ev.Seq, evs[i-1].Seq)
				}
			}
			if got := strings.Join(kinds, " "); got != "FD_ACCEPT FD_WRITE FD_CLOSE" {
				t.Fatalf("socket %d: %s", id, got)
			}
		}
	}
}

// TestRemoteUnknownMessageType: a message whose type the gateway does not
// link is refused (a sender waiting for a reply gets a dead letter at
// once) and the gateway goes on; a target spelled with another name of
// the gateway's address is delivered, not sent round again.
func TestRemoteUnknownMessageType(t *testing.T) {
	gw, ln := gateway(t, pingHandler, actors.ListenOptions{})
	w := newNode(t, nodes.watcher, sockrt.Options{})
	unknown := unknownMessage(t)
	rec := socktest.NewRecorder(gw.System())
	if err := gw.Subscribe(rec.PID, events.MaskAll); err != nil {
		t.Fatal(err)
	}
	c := dial(t, ln.Addr().String())
	sock := rec.AcceptedFor(t, c)
	refused := gw.Stats().Remote.Refused // the pooled node's guard counts since TestMain
	for _, target := range []*actor.PID{sock.PID(), sockrt.NodePID(gw.Address())} {
		r, err := w.System().Root.RequestFuture(target, unknown, socktest.Timeout).Result()
		if !errors.Is(err, actor.ErrDeadLetter) {
			t.Fatalf("unknown type to %v: %v, %v; want a dead letter", target, r, err)
		}
	}
	w.System().Root.Send(sock.PID(), unknown) // no reply asked
	socktest.WaitFor(t, "three refused", func() bool { return gw.Stats().Remote.Refused == refused+3 })
	if got := roundTrip(t, c, "still"); got != "still" {
		t.Fatal(got)
	}
	if _, err := w.Info(ctx5(t), sock.PID()); err != nil {
		t.Fatalf("Info after the unknown type: %v", err)
	}
	_, port, _ := net.SplitHostPort(gw.Address())
	other := actor.NewPID("localhost:"+port, sock.PidId)
	if in, err := w.Info(ctx5(t), other); err != nil || in.Socket != sock.SocketId {
		t.Fatalf("Info to %v: %v, %v", other, in, err)
	}
}

// unknownMessage is a protobuf message of a type no Go package of this
// process registers: what an outdated or newer peer may send.
func unknownMessage(t *testing.T) proto.Message {
	t.Helper()
	fd := &descriptorpb.FileDescriptorProto{
		Name:    proto.String("sockactor_test_unknown.proto"),
		Package: proto.String("sockactor.test.unknown"),
		Syntax:  proto.String("proto3"),
		MessageType: []*descriptorpb.DescriptorProto{{
			Name: proto.String("Stranger"),
			Field: []*descriptorpb.FieldDescriptorProto{{
				Name: proto.String("note"), Number: proto.Int32(1), JsonName: proto.String("note"),
				Type:  descriptorpb.FieldDescriptorProto_TYPE_STRING.Enum(),
				Label: descriptorpb.FieldDescriptorProto_LABEL_OPTIONAL.Enum(),
			}},
		}},
	}
	file, err := protodesc.NewFile(fd, nil)
	if err != nil {
		t.Fatal(err)
	}
	m := dynamicpb.NewMessage(file.Messages().Get(0))
	m.Set(file.Messages().Get(0).Fields().Get(0), protoreflect.ValueOfString("hello"))
	return m
}
