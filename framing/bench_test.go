package framing

import (
	"bytes"
	"strings"
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

// cutFrames cuts data, frames of n bytes, into reads: each frame in two,
// at offset at.
func cutFrames(data []byte, n, at int) [][]byte {
	var reads [][]byte
	for i := 0; i < len(data); i += n {
		reads = append(reads, data[i:i+at], data[i+at:i+n])
	}
	return reads
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
	benchFeed(b, &Lines{}, cutFrames(data, 64, 32), len(data)/64)
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
	benchFeed(b, &LengthPrefixed{}, cutFrames(data, 64, 2), len(data)/64)
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

// crlfStream is 4 KiB of 64-byte frames ending in "\r\n".
func crlfStream() []byte {
	return bytes.Repeat([]byte(strings.Repeat("x", 62)+"\r\n"), benchRead/64)
}

// BenchmarkDelimitedWhole: every "\r\n" frame lies whole in its read.
func BenchmarkDelimitedWhole(b *testing.B) {
	data := crlfStream()
	benchFeed(b, &Delimited{Delim: []byte("\r\n")}, [][]byte{data}, len(data)/64)
}

// BenchmarkDelimitedSpanning: reads cut every frame inside its delimiter,
// between "\r" and "\n".
func BenchmarkDelimitedSpanning(b *testing.B) {
	data := crlfStream()
	benchFeed(b, &Delimited{Delim: []byte("\r\n")}, cutFrames(data, 64, 63), len(data)/64)
}

// rawFrames feeds a HeaderBody, yielding each frame's Raw bytes.
type rawFrames struct{ f *HeaderBody }

func (r rawFrames) Feed(data []byte, yield func([]byte, error) bool) bool {
	return r.f.Feed(data, func(fr Frame, err error) bool { return yield(fr.Raw, err) })
}

// respStream is 4 KiB of 64-byte RESP bulk strings ("$57\r\n", 57 bytes,
// "\r\n").
func respStream() []byte {
	return bytes.Repeat([]byte("$57\r\n"+strings.Repeat("v", 57)+"\r\n"), benchRead/64)
}

// BenchmarkHeaderBodyRESPWhole: every bulk string lies whole in its read.
func BenchmarkHeaderBodyRESPWhole(b *testing.B) {
	data := respStream()
	benchFeed(b, rawFrames{&HeaderBody{Delim: []byte("\r\n"), BodyLen: respBodyLen}}, [][]byte{data}, len(data)/64)
}

// BenchmarkHeaderBodyRESPSpanning: reads cut every bulk string in two,
// inside its header ("$5" | "7\r\n...") .
func BenchmarkHeaderBodyRESPSpanning(b *testing.B) {
	data := respStream()
	benchFeed(b, rawFrames{&HeaderBody{Delim: []byte("\r\n"), BodyLen: respBodyLen}}, cutFrames(data, 64, 2), len(data)/64)
}

// BenchmarkHeaderBodyHTTP: pipelined HTTP/1.1 requests (header block and
// an 11-byte body, 128 bytes each) in 4 KiB reads that cut some of them.
func BenchmarkHeaderBodyHTTP(b *testing.B) {
	req := "POST /items HTTP/1.1\r\nHost: example.com\r\nUser-Agent: bench\r\nContent-Length: 11\r\nAccept: */*\r\n\r\nhello world"
	req = req[:len(req)-11-4] + strings.Repeat(" ", 128-len(req)) + req[len(req)-11-4:]
	data := bytes.Repeat([]byte(req), 3*benchRead/128)
	benchFeed(b, rawFrames{&HeaderBody{Delim: []byte("\r\n\r\n"), BodyLen: contentLength}}, pieces(data, benchRead-100), len(data)/128)
}
