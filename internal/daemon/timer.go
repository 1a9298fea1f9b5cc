package daemon

import "time"

// routerTimer is the router loop's one timer: the machine's next
// deadline (the advertisement timer of a MASTER, the master-down timer of
// a BACKUP). Reset replaces the deadline, armed or not. C may deliver a
// tick that Stop or Reset came too late to withdraw; the loop tolerates
// it, as the machine's Tick does nothing before its deadline.
type routerTimer interface {
	C() <-chan time.Time
	Reset(d time.Duration)
	Stop()
	Close()
}

// timerMaker is implemented by a Net that has a cheaper timer than the
// runtime's (net_linux.go); the fakes of the tests do not.
type timerMaker interface {
	NewTimer() (routerTimer, error)
}

// newRouterTimer returns the Net's timer, or the runtime's.
func newRouterTimer(n Net) routerTimer {
	if tm, ok := n.(timerMaker); ok {
		if t, err := tm.NewTimer(); err == nil {
			return t
		}
	}
	t := time.NewTimer(time.Hour)
	t.Stop()
	return goTimer{t}
}

// goTimer is a time.Timer as a routerTimer.
type goTimer struct{ t *time.Timer }

func (g goTimer) C() <-chan time.Time   { return g.t.C }
func (g goTimer) Reset(d time.Duration) { g.t.Reset(d) }
func (g goTimer) Stop()                 { g.t.Stop() }
func (g goTimer) Close()                { g.t.Stop() }
