// Package command is the bootstrap the example commands share: a context
// cancelled by SIGINT or SIGTERM, and the exit status package flag's users
// expect (0 after -h, 1 with "name: error" on stderr for any other error).
//
// Each example keeps its behaviour in a run function that takes the context
// and its arguments, so its tests call run in-process; main only hands run to
// Main. Their test helpers are in internal/socktest (StartCommand).
package command

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

// Main runs run with a context that SIGINT or SIGTERM cancels and the
// command-line arguments after the program name, then exits: 0 when run
// returns nil or flag.ErrHelp (the usage is printed), else 1 after printing
// "name: error" on stderr. Call it from main only; it does not return on an
// error.
func Main(name string, run func(ctx context.Context, args []string) error) {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:])
	stop()
	switch {
	case err == nil:
	case errors.Is(err, flag.ErrHelp):
		os.Exit(0)
	default:
		fmt.Fprintln(os.Stderr, name+":", err)
		os.Exit(1)
	}
}
