package mqconf

import "fmt"

// Direction is which way a bridge carries messages, seen from the broker that
// has the bridge configured (mosquitto.conf "topic ... out|in|both"), or which
// ways a probe checks.
type Direction uint8

// Directions. Out is from the local broker to the peer.
const (
	Out  Direction = 1 << iota // local → peer
	In                         // peer → local
	Both = Out | In
)

func (d Direction) String() string {
	switch d {
	case Out:
		return "out"
	case In:
		return "in"
	case Both:
		return "both"
	}
	return fmt.Sprintf("Direction(%d)", uint8(d))
}

// ParseDirection reads "out", "in" or "both".
func ParseDirection(s string) (Direction, error) {
	switch s {
	case "out":
		return Out, nil
	case "in":
		return In, nil
	case "both":
		return Both, nil
	}
	return 0, fmt.Errorf("direction %q, want out, in or both", s)
}
