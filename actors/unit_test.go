package actors

import (
	"errors"
	"fmt"
	"reflect"
	"syscall"
	"testing"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/sockactor/sockactor/events"
	"github.com/sockactor/sockactor/winsock"
)

func TestParseDispatch(t *testing.T) {
	tests := []struct {
		in      string
		want    Dispatch
		wantErr bool
	}{
		{in: "inline", want: Inline},
		{in: "pooled", want: Pooled},
		{in: "", want: Inline},
		{in: "bogus", want: Inline, wantErr: true},
		{in: "Inline", want: Inline, wantErr: true}, // case matters
		{in: "pooled ", want: Inline, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%q", tt.in), func(t *testing.T) {
			got, err := ParseDispatch(tt.in)
			if got != tt.want {
				t.Errorf("ParseDispatch(%q) = %v, want %v", tt.in, got, tt.want)
			}
			if !tt.wantErr {
				if err != nil {
					t.Fatalf("ParseDispatch(%q) error: %v", tt.in, err)
				}
				return
			}
			if !errors.Is(err, winsock.ErrInvalid) || !errors.Is(err, syscall.EINVAL) {
				t.Fatalf("ParseDispatch(%q) error = %v, want WSAEINVAL", tt.in, err)
			}
			var op *winsock.OpError
			if !errors.As(err, &op) || op.Op != "ParseDispatch" {
				t.Fatalf("ParseDispatch(%q) error = %#v, want *winsock.OpError{Op: ParseDispatch}", tt.in, err)
			}
		})
	}
}

func TestDispatchString(t *testing.T) {
	tests := []struct {
		d    Dispatch
		want string
	}{
		{Inline, "inline"},
		{Pooled, "pooled"},
		// An invalid value says so (AddListener and Dial refuse it).
		{Dispatch(7), "Dispatch(7)"},
	}
	for _, tt := range tests {
		if got := tt.d.String(); got != tt.want {
			t.Errorf("Dispatch(%d).String() = %q, want %q", uint8(tt.d), got, tt.want)
		}
	}
	// String and ParseDispatch round-trip for the valid values.
	for _, d := range []Dispatch{Inline, Pooled} {
		back, err := ParseDispatch(d.String())
		if err != nil || back != d {
			t.Errorf("ParseDispatch(%q) = %v, %v; want %v", d.String(), back, err, d)
		}
	}
}

func TestSocketIDOf(t *testing.T) {
	tests := []struct {
		name string
		pid  *actor.PID
		want uint64
	}{
		{"nil", nil, 0},
		{"socket", actor.NewPID("nonhost", "sock/42"), 42},
		{"child", actor.NewPID("nonhost", "sock/42/handler"), 42},
		{"remote", actor.NewPID("10.0.0.1:8090", "sock/7"), 7},
		{"other", actor.NewPID("nonhost", "other"), 0},
		{"not a number", actor.NewPID("nonhost", "sock/x"), 0},
		{"empty id", actor.NewPID("nonhost", "sock/"), 0},
		{"prefix only inside", actor.NewPID("nonhost", "x/sock/42"), 0},
		{"max", actor.NewPID("nonhost", "sock/18446744073709551615"), ^uint64(0)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := SocketIDOf(tt.pid); got != tt.want {
				t.Errorf("SocketIDOf(%v) = %d, want %d", tt.pid, got, tt.want)
			}
		})
	}
	t.Run("overflow", func(t *testing.T) {
		// An id past uint64 is not a socket id: "or 0", as documented.
		got := SocketIDOf(actor.NewPID("nonhost", "sock/18446744073709551616"))
		if got == ^uint64(0) {
			// strconv.ParseUint returns the maximum value with ErrRange
			// and SocketIDOf ignores the error (see the report).
			t.Fatalf("SocketIDOf of an out-of-range id = %d, want 0", got)
		}
		if got != 0 {
			t.Errorf("SocketIDOf of an out-of-range id = %d, want 0", got)
		}
	})
}

func TestNewSubscribeUnsubscribe(t *testing.T) {
	pid := actor.NewPID("127.0.0.1:8090", "subscriber")
	mask := events.MaskOf(events.FDAccept, events.FDClose)

	tests := []struct {
		name string
		got  any
		want any
	}{
		{"Subscribe nil", NewSubscribe(nil, mask), &Subscribe{Mask: uint32(mask)}},
		{"Subscribe pid", NewSubscribe(pid, mask), &Subscribe{SubscriberAddress: "127.0.0.1:8090", SubscriberId: "subscriber", Mask: uint32(mask)}},
		{"Subscribe zero mask", NewSubscribe(pid, 0), &Subscribe{SubscriberAddress: "127.0.0.1:8090", SubscriberId: "subscriber"}},
		{"Unsubscribe nil", NewUnsubscribe(nil), &Unsubscribe{}},
		{"Unsubscribe pid", NewUnsubscribe(pid), &Unsubscribe{SubscriberAddress: "127.0.0.1:8090", SubscriberId: "subscriber"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// Compare the exported fields only (protobuf internals differ).
			if !sameFields(tt.got, tt.want) {
				t.Errorf("got %v, want %v", tt.got, tt.want)
			}
		})
	}
}

// sameFields compares the exported fields of two pointers to structs.
func sameFields(a, b any) bool {
	va, vb := reflect.ValueOf(a).Elem(), reflect.ValueOf(b).Elem()
	if va.Type() != vb.Type() {
		return false
	}
	for i := 0; i < va.NumField(); i++ {
		if !va.Type().Field(i).IsExported() {
			continue
		}
		if !reflect.DeepEqual(va.Field(i).Interface(), vb.Field(i).Interface()) {
			return false
		}
	}
	return true
}

// requests maps each request type to the reply type it gets.
var requests = []struct {
	req   any
	reply any
}{
	{&Send{Data: []byte("x")}, &SendResult{}},
	{&Recv{Max: 1}, &RecvResult{}},
	{&RecvDisconnect{}, &RecvDisconnectResult{}},
	{&SendDisconnect{}, &SendDisconnectResult{}},
	{&Close{}, &CloseResult{}},
	{&Abort{}, &CloseResult{}},
	{&Subscribe{SubscriberId: "x", Mask: 1}, &SubscribeResult{}},
	{&Unsubscribe{SubscriberId: "x"}, &SubscribeResult{}},
	{&Info{}, &SocketInfo{}},
	{&Connect{Address: "tcp://127.0.0.1:1"}, &ConnectResult{}},
	{&SuspendReading{}, &SuspendReadingResult{}},
	{&ResumeReading{}, &ResumeReadingResult{}},
}

// codeField returns the Code field of a reply.
func codeField(t *testing.T, m any) uint32 {
	t.Helper()
	f := reflect.ValueOf(m).Elem().FieldByName("Code")
	if !f.IsValid() {
		t.Fatalf("%T has no Code field", m)
	}
	return uint32(f.Uint())
}

func TestReplyFor(t *testing.T) {
	codes := []winsock.Code{winsock.OK, winsock.WSAENOTSOCK, winsock.WSAENETDOWN}
	for _, tt := range requests {
		for _, code := range codes {
			t.Run(fmt.Sprintf("%T/%d", tt.req, code), func(t *testing.T) {
				got := replyFor(tt.req, code)
				if reflect.TypeOf(got) != reflect.TypeOf(tt.reply) {
					t.Fatalf("replyFor(%T) = %T, want %T", tt.req, got, tt.reply)
				}
				if c := codeField(t, got); c != uint32(code) {
					t.Fatalf("replyFor(%T, %d) carries code %d", tt.req, code, c)
				}
				if !isReply(got) {
					t.Fatalf("the reply %T to %T is not a reply for isReply", got, tt.req)
				}
			})
		}
	}
	// Whatever is not a socket request gets an Error with the code.
	for _, m := range []any{nil, "hello", struct{}{}, &Error{}, &actor.Watch{}} {
		got, ok := replyFor(m, winsock.WSAENOTSOCK).(*Error)
		if !ok || got.Code != uint32(winsock.WSAENOTSOCK) {
			t.Errorf("replyFor(%T) = %#v, want *Error{WSAENOTSOCK}", m, got)
		}
	}
}

type userMsg struct{ N int }

func TestIsReply(t *testing.T) {
	replies := []any{
		&SendResult{}, &RecvResult{}, &RecvDisconnectResult{}, &SendDisconnectResult{},
		&CloseResult{}, &SubscribeResult{}, &SocketInfo{}, &ConnectResult{}, &Error{},
		&SuspendReadingResult{}, &ResumeReadingResult{},
		&Received{}, &events.Event{}, &actor.DeadLetterResponse{},
		// Typed nil pointers are still replies (the type decides).
		(*SendResult)(nil), (*events.Event)(nil),
	}
	for _, m := range replies {
		if !isReply(m) {
			t.Errorf("isReply(%T) = false, want true", m)
		}
	}
	notReplies := []any{
		nil, "text", 42, userMsg{1}, &userMsg{2}, struct{}{},
		&actor.Watch{}, &actor.Terminated{}, Received{},
	}
	for _, tt := range requests {
		notReplies = append(notReplies, tt.req)
	}
	for _, m := range notReplies {
		if isReply(m) {
			t.Errorf("isReply(%T) = true, want false", m)
		}
	}
}
