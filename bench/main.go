package main

import (
	"io"
	"os"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run dispatches on the hidden role flag: the harness re-executes this
// binary as a server or a load generator (and, for the fleet scenario, an
// etcd server or a fleet watcher), and everything else is the harness
// itself.
func run(args []string, stdout, stderr io.Writer) int {
	raiseNoFileLimit()
	if role, rest, ok := roleArgs(args); ok {
		switch role {
		case "server":
			return serverRole(rest, stdout, stderr)
		case "loadgen":
			return loadgenRole(rest, stdout, stderr)
		case "etcd":
			return etcdRole(rest, stdout, stderr)
		case "fleetwatch":
			return fleetWatchRole(rest, stdout, stderr)
		default:
			_, _ = io.WriteString(stderr, "bench: unknown role "+role+"\n")
			return 2
		}
	}
	return harnessMain(args, stdout, stderr)
}
