// Package config reads carpd's configuration: a strict YAML file (Load) or
// a ucarp-compatible command line (FromArgs), both producing the same File
// of validated virtual routers with every default filled in.
//
// The package only reads: it never touches interfaces, addresses or
// processes. It looks at the system in two places, both read-only: the
// addresses of the configured interfaces (through an injectable lookup, so
// tests and `carpd check` need none of them) and the permissions of files
// holding passwords. Every problem is collected, so a user sees all of
// them at once, each as FILE:LINE: reason. The keys, their types, defaults
// and ranges are documented in docs/config.md.
package config
