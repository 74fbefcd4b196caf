package actors_test

import (
	"bytes"
	"context"
	"io"
	"net"
	goruntime "runtime"
	"strconv"
	"testing"

	"github.com/sockactor/sockactor/actors"
	sockrt "github.com/sockactor/sockactor/runtime"
)

// pipelineReplies answers each "\n"-ended line of a read with its own
// Write, as a pipelined protocol handler written plainly does.
var pipelineReplies = actors.HandlerFunc(func(c *actors.Context) {
	m, ok := c.Message().(*actors.Received)
	if !ok {
		return
	}
	for line := range bytes.Lines(m.Data) {
		_, _ = c.Write(line)
	}
})

// BenchmarkPipeline measures one loopback connection sending depth
// 16-byte requests in one write and reading their depth replies, each
// written by the handler with its own Write (one op = one batch). Besides
// allocs/op it reports allocs/msg and B/msg: the whole process (the
// client's net.Conn reads and writes allocate nothing), divided by the
// requests, so the server path's count per message.
//
//	go test -run - -bench Pipeline -benchtime 20000x ./actors/
func BenchmarkPipeline(b *testing.B) {
	for _, mode := range modes {
		for _, depth := range []int{1, 16} {
			b.Run(mode.String()+"/depth"+strconv.Itoa(depth), func(b *testing.B) {
				rt, err := sockrt.New(sockrt.Options{EventLoops: 1})
				if err != nil {
					b.Fatal(err)
				}
				ln, err := rt.Listen("tcp://127.0.0.1:0", pipelineReplies, actors.ListenOptions{Dispatch: mode})
				if err != nil {
					b.Fatal(err)
				}
				if err := rt.Start(context.Background()); err != nil {
					b.Fatal(err)
				}
				defer func() { _ = rt.Shutdown(context.Background()) }()
				c, err := net.Dial("tcp", ln.Addr().String())
				if err != nil {
					b.Fatal(err)
				}
				defer c.Close()
				req := bytes.Repeat([]byte("0123456789abcde\n"), depth)
				buf := make([]byte, len(req))
				round := func() {
					if _, err := c.Write(req); err != nil {
						b.Fatal(err)
					}
					if _, err := io.ReadFull(c, buf); err != nil {
						b.Fatal(err)
					}
				}
				for range 100 { // warm: contexts, buffers, goroutines
					round()
				}
				var before, after goruntime.MemStats
				goruntime.ReadMemStats(&before)
				b.ReportAllocs()
				b.ResetTimer()
				for range b.N {
					round()
				}
				b.StopTimer()
				goruntime.ReadMemStats(&after)
				msgs := float64(b.N * depth)
				b.ReportMetric(float64(after.Mallocs-before.Mallocs)/msgs, "allocs/msg")
				b.ReportMetric(float64(after.TotalAlloc-before.TotalAlloc)/msgs, "B/msg")
			})
		}
	}
}
