package framing

import (
	"bytes"
	"testing"
)

// The cost per frame: the benchmarks feed realistic reads (4 KiB of 64-byte
// frames) and report ns/frame beside ns/op; allocs/op must stay 0 once the
// framer's buffer exists.

const benchRead = 4 << 10

func lineStream(lineLen int) []byte {
	line := append(bytes.Repeat([]byte{'x'}, lineLen-1), '\n')
	return bytes.Repeat(line, benchRead/lineLen)
}

func benchFeed(b *testing.B, f feeder, reads [][]byte, framesPerOp int) {
	b.ReportAllocs()
	n := 0
	for _, r := range reads {
		n += len(r)
	}
	b.SetBytes(int64(n))
	count := 0
	yield := func(p []byte, err error) bool {
		count++
		return true
	}
	b.ResetTimer()
	for range b.N {
		for _, r := range reads {
			f.Feed(r, yield)
		}
	}
	b.StopTimer()
	if count != b.N*framesPerOp {
		b.Fatalf("%d frames, want %d", count, b.N*framesPerOp)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(count), "ns/frame")
}

// BenchmarkLinesWhole: every line lies whole in its read (zero-copy).
func BenchmarkLinesWhole(b *testing.B) {
	data := lineStream(64)
	benchFeed(b, &Lines{}, [][]byte{data}, len(data)/64)
}

// BenchmarkLinesSpanning: reads cut every line in two (each line is
// assembled in the framer's buffer).
func BenchmarkLinesSpanning(b *testing.B) {
	data := lineStream(64)
	var reads [][]byte
	for i := 0; i < len(data); i += 64 {
		reads = append(reads, data[i:i+32], data[i+32:i+64])
	}
	benchFeed(b, &Lines{}, reads, len(data)/64)
}

// BenchmarkLinesRange: the range-over-func form of BenchmarkLinesWhole.
func BenchmarkLinesRange(b *testing.B) {
	data := lineStream(64)
	var l Lines
	b.ReportAllocs()
	b.SetBytes(int64(len(data)))
	count := 0
	for range b.N {
		for line, err := range l.Frames(data) {
			if err == nil && len(line) > 0 {
				count++
			}
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(count), "ns/frame")
}

func lpStream(payload int) []byte {
	var f LengthPrefixed
	var out []byte
	p := bytes.Repeat([]byte{'y'}, payload)
	for len(out)+4+payload <= benchRead {
		out, _ = f.Append(out, p)
	}
	return out
}

// BenchmarkLengthPrefixedWhole: every frame (4-byte prefix, 60-byte
// payload) lies whole in its read.
func BenchmarkLengthPrefixedWhole(b *testing.B) {
	data := lpStream(60)
	benchFeed(b, &LengthPrefixed{}, [][]byte{data}, len(data)/64)
}

// BenchmarkLengthPrefixedSpanning: reads cut every frame in two, inside
// its prefix.
func BenchmarkLengthPrefixedSpanning(b *testing.B) {
	data := lpStream(60)
	var reads [][]byte
	for i := 0; i < len(data); i += 64 {
		reads = append(reads, data[i:i+2], data[i+2:i+64])
	}
	benchFeed(b, &LengthPrefixed{}, reads, len(data)/64)
}

// BenchmarkAppend: encoding one 60-byte frame into a reused buffer.
func BenchmarkAppend(b *testing.B) {
	var f LengthPrefixed
	p := bytes.Repeat([]byte{'y'}, 60)
	buf := make([]byte, 0, 64)
	b.ReportAllocs()
	for range b.N {
		buf, _ = f.Append(buf[:0], p)
	}
}
