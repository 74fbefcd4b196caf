package procfs

import (
	"errors"
	"os"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestParseStat(t *testing.T) {
	tests := []struct {
		name    string
		line    string
		want    Stat
		wantErr bool
	}{
		{
			name: "plain",
			line: "4242 (bench) S 1 4242 4242 0 -1 4194560 1519 0 0 0 731 52 0 0 20 0 6 0 123456 1468006400 3355 18446744073709551615 1 1 0 0 0 0 0 0 2143420159 0 0 0 17 1 0 0 0 0 0\n",
			want: Stat{PID: 4242, Comm: "bench", State: "S", UTime: 731, STime: 52},
		},
		{
			name: "comm with spaces and parentheses",
			line: "77 (my (weird) prog) 1) R 1 77 77 0 -1 4194304 10 0 0 0 1200 345 0 0 20 0 1 0 99 1000 10 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 0 0 0 0 0 0",
			want: Stat{PID: 77, Comm: "my (weird) prog) 1", State: "R", UTime: 1200, STime: 345},
		},
		{name: "no comm", line: "77 bench R 1 2 3", wantErr: true},
		{name: "truncated", line: "77 (bench) R 1 77 77 0 -1 4194304 10 0 0 0 12", wantErr: true},
		{name: "bad utime", line: "77 (b) R 1 77 77 0 -1 4194304 10 0 0 0 x 1 0 0", wantErr: true},
		{name: "bad pid", line: "x (b) R 1 77 77 0 -1 4194304 10 0 0 0 1 1 0 0", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseStat([]byte(tt.line))
			if tt.wantErr {
				if !errors.Is(err, ErrMalformed) {
					t.Fatalf("ParseStat err = %v, want ErrMalformed", err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("ParseStat = %+v, %v; want %+v", got, err, tt.want)
			}
		})
	}
}

func TestStatCPUTime(t *testing.T) {
	s := Stat{UTime: 150, STime: 50}
	if s.CPUTicks() != 200 || s.CPUTime() != 2*time.Second {
		t.Fatalf("CPUTicks %d CPUTime %v", s.CPUTicks(), s.CPUTime())
	}
	s.Clock = 1987654321 * time.Nanosecond
	if s.CPUTime() != s.Clock {
		t.Fatalf("with Clock %v, CPUTime %v", s.Clock, s.CPUTime())
	}
}

// TestReadStatClock burns CPU in this process and checks that ReadStat's
// clock saw it, to the nanosecond where the ticks count in 10 ms, and that
// the two agree.
func TestReadStatClock(t *testing.T) {
	s0, err := ReadStat(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if s0.Clock <= 0 {
		t.Fatalf("no CPU clock read: %+v", s0)
	}
	x := uint64(1)
	for start := time.Now(); time.Since(start) < 300*time.Millisecond; {
		for range 1000 {
			x = x*6364136223846793005 + 1442695040888963407
		}
	}
	s1, err := ReadStat(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	clock := s1.Clock - s0.Clock
	ticks := time.Duration(s1.CPUTicks()-s0.CPUTicks()) * (time.Second / ClockTicks)
	// The loop ran for 300 ms of wall time on this thread: on a loaded
	// machine less of it on a CPU, so only a floor well below it.
	if clock < 50*time.Millisecond {
		t.Fatalf("CPU clock moved %v over a 300 ms busy loop (x=%d)", clock, x)
	}
	if d := clock - ticks; d < -30*time.Millisecond || d > 30*time.Millisecond {
		t.Fatalf("CPU clock %v and ticks %v disagree by more than three ticks", clock, ticks)
	}
	if clock%(10*time.Millisecond) == 0 {
		t.Fatalf("CPU clock delta %v is a whole number of ticks: not the ns clock", clock)
	}
}

func TestParseRSS(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    int64
		wantErr bool
	}{
		{"status", "Name:\tbench\nVmPeak:\t  20000 kB\nVmRSS:\t    5120 kB\nRssAnon:\t 100 kB\n", 5120 * 1024, false},
		{"missing", "Name:\tbench\n", 0, true},
		{"bad unit", "VmRSS:\t 5 MB\n", 0, true},
		{"bad number", "VmRSS:\t x kB\n", 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseRSS([]byte(tt.in))
			if (err != nil) != tt.wantErr || got != tt.want {
				t.Fatalf("ParseRSS = %d, %v; want %d (err %v)", got, err, tt.want, tt.wantErr)
			}
		})
	}
}

func TestParsePeakRSS(t *testing.T) {
	in := "Name:\tbench\nVmPeak:\t  20000 kB\nVmHWM:\t    9216 kB\nVmRSS:\t    5120 kB\n"
	if got, err := ParsePeakRSS([]byte(in)); err != nil || got != 9216*1024 {
		t.Fatalf("ParsePeakRSS = %d, %v; want %d", got, err, 9216*1024)
	}
	if _, err := ParsePeakRSS([]byte("VmRSS:\t 5 kB\n")); !errors.Is(err, ErrMalformed) {
		t.Fatalf("ParsePeakRSS without VmHWM: %v", err)
	}
}

func TestParseCPUModel(t *testing.T) {
	in := "processor\t: 0\nvendor_id\t: AuthenticAMD\nmodel name\t: AMD EPYC 7B13 64-Core Processor\nflags\t\t: fpu\n\nprocessor\t: 1\nmodel name\t: other\n"
	if got := ParseCPUModel([]byte(in)); got != "AMD EPYC 7B13 64-Core Processor" {
		t.Fatalf("ParseCPUModel = %q", got)
	}
	if got := ParseCPUModel([]byte("processor: 0\n")); got != "" {
		t.Fatalf("ParseCPUModel without model = %q", got)
	}
}

// TestReadSelf reads this test process's own /proc files: it checks the
// plumbing, not any figure.
func TestReadSelf(t *testing.T) {
	if _, err := os.Stat("/proc/self/stat"); err != nil {
		t.Skip("no /proc on this system")
	}
	st, err := ReadStat(os.Getpid())
	if err != nil || st.PID != os.Getpid() {
		t.Fatalf("ReadStat(self) = %+v, %v", st, err)
	}
	rss, err := ReadRSS(os.Getpid())
	if err != nil || rss <= 0 {
		t.Fatalf("ReadRSS(self) = %d, %v", rss, err)
	}
	if peak, err := ReadPeakRSS(os.Getpid()); err != nil || peak < rss {
		t.Fatalf("ReadPeakRSS(self) = %d, %v; RSS %d", peak, err, rss)
	}
	if CPUModel() == "" {
		t.Fatal("CPUModel is empty")
	}
}
