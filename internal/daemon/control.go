package daemon

import (
	"fmt"

	"github.com/carpd/carpd/internal/control"
)

// answer executes one control request (internal/control serves the
// socket).
func (d *Daemon) answer(req control.Request) control.Response {
	switch req.Op {
	case "status":
		st := d.Status()
		return control.Response{Status: &st}
	case "demote":
		n, err := d.Demote(req.Router, req.N, req.Reset)
		if err != nil {
			return control.Response{Error: err.Error()}
		}
		return control.Response{Demote: &n}
	case "resign":
		if err := d.Resign(req.Router); err != nil {
			return control.Response{Error: err.Error()}
		}
		return control.Response{}
	}
	return control.Response{Error: fmt.Sprintf("unknown op %q (status, demote, resign)", req.Op)}
}
