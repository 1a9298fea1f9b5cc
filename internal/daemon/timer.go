package daemon

import "time"

// routerTimer is a router's one timer: the machine's next deadline (the
// advertisement timer of a MASTER, the master-down timer of a BACKUP).
// It calls its callback, on a goroutine of its own, when a deadline is
// due. Set replaces the deadline, armed or not. The callback may run for
// a deadline that Stop or Set came too late to withdraw; the router
// tolerates it, as the machine's Tick does nothing before its deadline.
type routerTimer interface {
	// Set arms the timer for dl. every > 0 says that the deadlines after
	// dl will be dl+every, dl+2·every, ... as long as Set is called with
	// them; a timer may then keep firing at that period by itself.
	Set(dl time.Time, every time.Duration)
	Stop()
	Close()
}

// timerMaker is implemented by a Net that has a cheaper timer than the
// runtime's (net_linux.go); the fakes of the tests do not.
type timerMaker interface {
	NewTimer(fire func()) (routerTimer, error)
}

// newRouterTimer returns the Net's timer, or the runtime's, calling fire
// at each due deadline.
func newRouterTimer(n Net, fire func()) routerTimer {
	if tm, ok := n.(timerMaker); ok {
		if t, err := tm.NewTimer(fire); err == nil {
			return t
		}
	}
	t := time.AfterFunc(time.Hour, fire)
	t.Stop()
	return goTimer{t}
}

// goTimer is a time.AfterFunc timer as a routerTimer.
type goTimer struct{ t *time.Timer }

func (g goTimer) Set(dl time.Time, _ time.Duration) { g.t.Reset(time.Until(dl)) }
func (g goTimer) Stop()                             { g.t.Stop() }
func (g goTimer) Close()                            { g.t.Stop() }
