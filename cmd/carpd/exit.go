package main

import (
	"errors"

	"github.com/spf13/cobra"
)

// Exit statuses, documented in the root command's help and docs/status.md.
// 3 for "not running" is what an LSB init script's status action returns
// (LSB Core, "Init Script Actions"), so scripts can tell a stopped carpd
// from a broken one.
const (
	exitOK         = 0
	exitFailure    = 1 // a runtime failure
	exitUsage      = 2 // a bad command line or configuration
	exitNotRunning = 3 // status and demote: no carpd answers on the control socket
)

const exitCodesHelp = `Exit status:
  0  success
  1  failure at run time
  2  bad command line or configuration (unknown flag, missing value,
     invalid file; "carpd check" finding errors)
  3  "carpd status" and "carpd demote": carpd is not running (no control
     socket, or nobody listens on it), as an LSB status action`

// exitError carries the exit status main gives an error.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

// usageError marks err as a bad command line or configuration (exit 2).
func usageError(err error) error {
	if err == nil {
		return nil
	}
	return &exitError{exitUsage, err}
}

// usageArgs makes a cobra argument check's complaint a usage error.
func usageArgs(check cobra.PositionalArgs) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		return usageError(check(cmd, args))
	}
}

// exitCode is the status main exits with after err from cmd, the command
// cobra ran or tried to.
func exitCode(cmd *cobra.Command, err error) int {
	if err == nil {
		return exitOK
	}
	var e *exitError
	if errors.As(err, &e) {
		return e.code
	}
	// The root runs nothing: its errors are cobra's own about the command
	// line, such as an unknown command.
	if cmd != nil && !cmd.HasParent() {
		return exitUsage
	}
	return exitFailure
}

// withExitCodes documents the exit statuses in root's help and makes
// every flag parsing error, in any command, a usage error.
func withExitCodes(root *cobra.Command) {
	long := root.Long
	if long == "" {
		long = root.Short + "."
	}
	root.Long = long + "\n\n" + exitCodesHelp
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError(err) })
}

// execute runs the command tree and says how to exit: the status and the
// error to print, if any.
func execute(root *cobra.Command) (int, error) {
	cmd, err := root.ExecuteC()
	return exitCode(cmd, err), err
}
