// Package secret holds Secret, the one type for a credential in carpd: a
// CARP or VRRP password, a broker or probe password. Every printed form of
// it shows "***", so a configuration or a client setting can be logged or
// dumped whole.
//
// The package imports nothing of carpd's so that any package, config and
// mosquitto alike, can use it; it must not read files or know where a
// secret comes from.
package secret

import (
	"fmt"
	"log/slog"
)

// redacted is what every printed form of a Secret shows.
const redacted = "***"

// Secret is a password. Every way of printing it (fmt verbs, YAML, JSON,
// text, slog) shows "***"; Bytes is the only way to the value.
type Secret []byte

// Bytes returns the password itself.
func (s Secret) Bytes() []byte { return s }

// String returns "***", or "" when there is no password.
func (s Secret) String() string {
	if len(s) == 0 {
		return ""
	}
	return redacted
}

// GoString hides the value from %#v.
func (s Secret) GoString() string { return "secret.Secret(" + fmt.Sprintf("%q", s.String()) + ")" }

// Format hides the value from every verb, %x and %d included, which would
// otherwise print the bytes of a []byte.
func (s Secret) Format(f fmt.State, verb rune) {
	if verb == 'v' && f.Flag('#') {
		fmt.Fprint(f, s.GoString())
		return
	}
	fmt.Fprint(f, s.String())
}

// MarshalYAML hides the value from YAML output.
func (s Secret) MarshalYAML() (any, error) { return s.String(), nil }

// MarshalJSON hides the value from JSON output.
func (s Secret) MarshalJSON() ([]byte, error) { return []byte(`"` + s.String() + `"`), nil }

// MarshalText hides the value from encoders that prefer text, such as
// slog's handlers.
func (s Secret) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// LogValue hides the value from slog.
func (s Secret) LogValue() slog.Value { return slog.StringValue(s.String()) }
