package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"time"

	"github.com/sockactor/sockactor/bench/internal/procfs"
	"github.com/sockactor/sockactor/bench/internal/report"
)

// modulePath identifies this module's go.mod when looking for its root.
const modulePath = "github.com/sockactor/sockactor"

// machineInfo describes this machine for the report.
func machineInfo() report.Machine {
	return report.Machine{
		Cores:     runtime.NumCPU(),
		CPUModel:  procfs.CPUModel(),
		GoVersion: runtime.Version(),
		Kernel:    kernelRelease(),
		OS:        runtime.GOOS,
		Arch:      runtime.GOARCH,
	}
}

// kernelRelease returns uname's release and version, or "unknown".
func kernelRelease() string {
	var u syscall.Utsname
	if err := syscall.Uname(&u); err != nil {
		return "unknown"
	}
	str := func(a [65]int8) string {
		b := make([]byte, 0, len(a))
		for _, c := range a {
			if c == 0 {
				break
			}
			b = append(b, byte(c))
		}
		return string(b)
	}
	return str(u.Sysname) + " " + str(u.Release)
}

// gitCommit returns `git rev-parse --short HEAD` of the module, or
// "unknown".
func gitCommit() string {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "git", "rev-parse", "--short", "HEAD")
	if root := moduleRoot(); root != "" {
		cmd.Dir = root
	}
	out, err := cmd.Output()
	if err != nil {
		return "unknown"
	}
	if s := strings.TrimSpace(string(out)); s != "" {
		return s
	}
	return "unknown"
}

// moduleRoot returns the directory of this module's go.mod, searching
// upwards from the working directory, or "".
func moduleRoot() string {
	dir, err := os.Getwd()
	if err != nil {
		return ""
	}
	for {
		b, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil && bytes.Contains(b, []byte("module "+modulePath+"\n")) {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return ""
		}
		dir = parent
	}
}
