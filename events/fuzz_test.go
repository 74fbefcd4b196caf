package events

import (
	"testing"

	"google.golang.org/protobuf/proto"
)

func FuzzEventUnmarshal(f *testing.F) {
	seeds := []*Event{
		{},
		{Kind: uint32(FDClose), SocketId: 7, PidAddress: "nonhost", PidId: "socket$7",
			Code: 10053, Reason: "recv-ban", Local: true, LocalAddr: "127.0.0.1:9000",
			RemoteAddr: "127.0.0.1:51234", TimeUnixNano: 1_700_000_000_000_000_000, ListenerId: 1},
		{Kind: uint32(FDAccept), Reason: "accept", TimeUnixNano: -1},
		{Kind: 0xffffffff, SocketId: ^uint64(0), Reason: "\u00e9\u4e16"},
	}
	for _, ev := range seeds {
		b, err := proto.Marshal(ev)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte{0x08})                   // truncated varint
	f.Add([]byte{0x32, 0x02, 0xff, 0xfe}) // reason: invalid UTF-8
	f.Add([]byte{0x62, 0x01, 0x41})       // unknown field 12, kept as unknown
	f.Add([]byte{0x08, 0x01, 0x08, 0x20}) // kind twice: the last wins
	f.Add([]byte{0x0b, 0x0c})             // empty group

	f.Fuzz(func(t *testing.T, data []byte) {
		var ev Event
		if err := proto.Unmarshal(data, &ev); err != nil {
			return
		}
		// Accessors never panic on any decoded event.
		_ = ev.EventKind().String()
		_ = ev.PID()
		_ = ev.String()

		b, err := proto.Marshal(&ev)
		if err != nil {
			t.Fatalf("Marshal of a decoded event: %v", err)
		}
		var back Event
		if err := proto.Unmarshal(b, &back); err != nil {
			t.Fatalf("Unmarshal of a re-encoded event: %v", err)
		}
		if !proto.Equal(&ev, &back) {
			t.Fatalf("round trip changed the event:\n%v\n%v", &ev, &back)
		}
		if pid := back.PID(); (pid == nil) != (back.GetPidId() == "") {
			t.Fatalf("PID() = %v for pid_id %q", pid, back.GetPidId())
		}
	})
}
