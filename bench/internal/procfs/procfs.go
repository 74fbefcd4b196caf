// Package procfs reads the few Linux /proc figures the bench reports: a
// process's CPU time (its CPU clock to the nanosecond, or utime+stime from
// /proc/PID/stat in 10 ms ticks where that clock cannot be read), its resident set
// size and that size's peak (VmRSS and VmHWM from /proc/PID/status) and
// the CPU model from /proc/cpuinfo.
//
// The parsers take the file contents as bytes so they can be tested on
// literal lines; the Read helpers do the I/O.
package procfs

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// ClockTicks is the unit of the utime and stime fields of /proc/PID/stat:
// sysconf(_SC_CLK_TCK). On Linux it is USER_HZ, fixed at 100 by the kernel
// ABI on every architecture Go supports, so it is a constant here rather
// than a cgo call.
const ClockTicks = 100

// Stat is the part of /proc/PID/stat the bench uses.
type Stat struct {
	// PID is field 1.
	PID int
	// Comm is field 2 without its parentheses; it may itself contain spaces
	// and parentheses.
	Comm string
	// State is field 3 (R, S, D, Z, ...).
	State string
	// UTime is field 14: user-mode CPU time in clock ticks.
	UTime uint64
	// STime is field 15: kernel-mode CPU time in clock ticks.
	STime uint64
	// Clock is the process's CPU clock (user and kernel time of all its
	// threads, also those that exited) read with clock_gettime beside the
	// stat line by ReadStat, to the nanosecond; 0 when it could not be
	// read (then CPUTime falls back to the ticks).
	Clock time.Duration
}

// CPUTicks returns utime+stime in clock ticks.
func (s Stat) CPUTicks() uint64 { return s.UTime + s.STime }

// CPUTime returns the process's CPU time: Clock when ReadStat read it,
// else utime+stime. A window of half a second of one busy core is only 50
// ticks, so ±1 tick at each end is ±4 % of a ratio of two such windows;
// the clock removes that error.
func (s Stat) CPUTime() time.Duration {
	if s.Clock > 0 {
		return s.Clock
	}
	return time.Duration(s.CPUTicks()) * (time.Second / ClockTicks)
}

// ErrMalformed is wrapped by every parse error of this package.
var ErrMalformed = errors.New("procfs: malformed content")

// ParseStat parses the contents of /proc/PID/stat. The command name (field
// 2) is delimited by the first '(' and the last ')' of the line, because the
// name may contain spaces and parentheses of its own.
func ParseStat(b []byte) (Stat, error) {
	line := string(bytes.TrimSpace(b))
	open := strings.IndexByte(line, '(')
	closing := strings.LastIndexByte(line, ')')
	if open < 0 || closing < open {
		return Stat{}, fmt.Errorf("%w: stat line has no (comm)", ErrMalformed)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(line[:open]))
	if err != nil {
		return Stat{}, fmt.Errorf("%w: stat pid: %v", ErrMalformed, err)
	}
	rest := strings.Fields(line[closing+1:])
	// rest[0] is field 3 (state); utime is field 14, stime field 15.
	const utimeIdx, stimeIdx = 14 - 3, 15 - 3
	if len(rest) <= stimeIdx {
		return Stat{}, fmt.Errorf("%w: stat line has %d fields after comm, want > %d", ErrMalformed, len(rest), stimeIdx)
	}
	ut, err := strconv.ParseUint(rest[utimeIdx], 10, 64)
	if err != nil {
		return Stat{}, fmt.Errorf("%w: utime: %v", ErrMalformed, err)
	}
	st, err := strconv.ParseUint(rest[stimeIdx], 10, 64)
	if err != nil {
		return Stat{}, fmt.Errorf("%w: stime: %v", ErrMalformed, err)
	}
	return Stat{PID: pid, Comm: line[open+1 : closing], State: rest[0], UTime: ut, STime: st}, nil
}

// ReadStat reads and parses /proc/PID/stat, and reads the process's CPU
// clock into Clock.
func ReadStat(pid int) (Stat, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return Stat{}, err
	}
	s, err := ParseStat(b)
	if err == nil {
		s.Clock = processCPUClock(pid)
	}
	return s, err
}

// processCPUClock reads the CPU clock of process pid (Linux lets any
// process read another's: clock_getcpuclockid(3)), or returns 0.
func processCPUClock(pid int) time.Duration {
	// The clock id of a process's CPU clock, as glibc's
	// clock_getcpuclockid builds it: the pid complemented, shifted left
	// by 3, with CPUCLOCK_SCHED (2): the scheduler's exact run time.
	const cpuclockSched = 2
	id := int32(^pid)<<3 | cpuclockSched
	var ts unix.Timespec
	if unix.ClockGettime(id, &ts) != nil {
		return 0
	}
	return time.Duration(ts.Nano())
}

// ParseRSS returns the VmRSS figure of the contents of /proc/PID/status, in
// bytes.
func ParseRSS(b []byte) (int64, error) { return parseStatusKB(b, "VmRSS") }

// ParsePeakRSS returns the VmHWM figure of the contents of
// /proc/PID/status: the largest resident set size the process has had, in
// bytes.
func ParsePeakRSS(b []byte) (int64, error) { return parseStatusKB(b, "VmHWM") }

// parseStatusKB returns the figure of a "<key>: N kB" line of
// /proc/PID/status, in bytes.
func parseStatusKB(b []byte, key string) (int64, error) {
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		line := sc.Text()
		v, ok := strings.CutPrefix(line, key+":")
		if !ok {
			continue
		}
		f := strings.Fields(v)
		if len(f) != 2 || f[1] != "kB" {
			return 0, fmt.Errorf("%w: %s line %q", ErrMalformed, key, line)
		}
		kb, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			return 0, fmt.Errorf("%w: %s: %v", ErrMalformed, key, err)
		}
		return kb * 1024, nil
	}
	return 0, fmt.Errorf("%w: no %s line", ErrMalformed, key)
}

// ReadRSS reads the resident set size of process pid, in bytes.
func ReadRSS(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	return ParseRSS(b)
}

// ReadPeakRSS reads the peak resident set size of process pid (VmHWM), in
// bytes.
func ReadPeakRSS(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	return ParsePeakRSS(b)
}

// ParseCPUModel returns the first "model name" of the contents of
// /proc/cpuinfo, or "" when there is none (some architectures omit it).
func ParseCPUModel(b []byte) string {
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// CPUModel returns the CPU model of this machine, or "unknown".
func CPUModel() string {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return "unknown"
	}
	if m := ParseCPUModel(b); m != "" {
		return m
	}
	return "unknown"
}
