package config

import (
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/carpd/carpd/carp"
	"github.com/carpd/carpd/internal/secret"
)

// Defaults that are not protocol defaults (those come from
// carp.DefaultConfig).
const (
	// DefaultStateDir is the state directory a carpd uses, and carpd
	// status and demote ask, when none is given.
	DefaultStateDir = "/run/carpd"

	// DefaultGARPRepeat is keepalived's garp_master_repeat.
	DefaultGARPRepeat = 5
	// DefaultGARPInterval spaces the packets of a burst: some switches
	// rate-limit gratuitous ARP to one a second per address and drop the
	// rest (MetalLB #172), so 1.1 s keeps every packet of the burst alive.
	DefaultGARPInterval = 1100 * time.Millisecond
	// DefaultGARPDelay is keepalived's garp_master_delay: a second burst
	// for switches that missed the first while their port was converging.
	DefaultGARPDelay = 5 * time.Second

	// DefaultHookTimeout bounds one hook run; its process group is killed
	// after it.
	DefaultHookTimeout = 30 * time.Second

	// DefaultTrackInterval, DefaultTrackRise and DefaultTrackFall are
	// keepalived's vrrp_script interval, rise and fall.
	DefaultTrackInterval = time.Second
	DefaultTrackRise     = 1
	DefaultTrackFall     = 1
)

// File is a whole configuration: from a YAML file or a command line.
type File struct {
	Path     string // "" for a command-line configuration
	StateDir string // pid, state and socket files; default /run/carpd
	Debug    bool   // debug logging (key debug, ucarp -D)
	// MetricsListen is the host:port serving Prometheus metrics; "" = off.
	MetricsListen string
	MetricsLine   int // line of metrics_listen; 0 when not in a file
	// Daemonize detaches into the background (ucarp -B); command line only,
	// since under systemd or another supervisor carpd stays in the foreground.
	Daemonize bool
	// ScriptUser is who hooks and track scripts run as (key script_user);
	// nil runs them as carpd's own user.
	ScriptUser *ScriptUser
	Routers    []Router
	// Broker is the supervised MQTT broker (key broker); nil when carpd
	// supervises none, as from a ucarp command line.
	Broker *Broker
	// Warnings are problems that do not stop carpd: a password readable by
	// others, an interface that does not exist on this machine (yet).
	Warnings []string
}

// Router is one virtual router with every default applied.
type Router struct {
	Name  string // unique; "carp<vhid>" / "vrrp<vrid>" unless configured
	Iface string
	Proto carp.Proto
	ID    uint8 // vhid (CARP) or vrid (VRRP)

	// Machine is the state machine configuration derived from the keys and
	// checked with carp.Config.Validate. Addr is left zero: the daemon
	// fills it from SrcIP or the interface's primary address.
	Machine carp.Config

	VIPs     []netip.Prefix // /32 or /128 unless a prefix was written
	Password secret.Secret  // CARP HMAC key (≤ 19 bytes) or VRRPv2 PASS (≤ 8)
	Passfile string         // where Password was read from; "" when typed
	SrcIP    netip.Addr     // optional advertisement source
	Peers    []netip.Addr   // unicast peers; empty = multicast to Group
	Group    netip.Addr     // multicast group; zero when Peers is set
	// AcceptFrom, when set, is every source an advert is accepted from
	// (addresses or prefixes); others are dropped as "source". With Peers,
	// adverts are accepted only from the peers as well.
	AcceptFrom []netip.Prefix
	// UnicastTTLCheck keeps the TTL 255 check for unicast peers (the
	// default); false is for peers reached through a router.
	UnicastTTLCheck bool

	// V3PseudoHeader makes VRRPv3 over IPv4 checksum with the IPv4
	// pseudo-header, as keepalived does by default; RFC 9568 says not to
	// (key v3_checksum_as_v2).
	V3PseudoHeader bool

	IgnoreIfState bool // ucarp -S: keep advertising when the link is down
	VIPByScripts  bool // ucarp --vip-by-scripts: hooks add and remove the VIPs
	Neutral       bool // ucarp -n: no down hook on the first INIT→BACKUP

	// VMAC puts the VIPs on a macvlan child of Iface whose address is the
	// virtual router MAC (RFC 5798 §7.3), up only while MASTER, so that
	// clients which ignore gratuitous ARP still reach the master
	// (keepalived use_vmac, BSD carp). VMACIface is its name, defaulted
	// by build (docs/config.md, vmac).
	VMAC      bool
	VMACIface string
	// SplitBrain is what the heartbeat over the broker path does for this
	// router (docs/daemon.md, "Heartbeat"); resolve when not written.
	SplitBrain carp.SplitMode

	GARP            GARP
	Hooks           Hooks
	TrackInterfaces []TrackInterface
	TrackScripts    []TrackScript

	Line int // line of the router in the file; 0 from the command line
}

// ScriptUser is a user and groups to run hooks and track scripts as.
type ScriptUser struct {
	Name     string // as written: USER or USER:GROUP
	UID, GID uint32
	// Groups are the supplementary groups: the user's own, or none when
	// a group is named.
	Groups []uint32
}

// GARP tunes the gratuitous ARP / unsolicited NA bursts sent on promotion.
type GARP struct {
	Repeat   int           // packets per burst; 0 sends none
	Interval time.Duration // between the packets of a burst
	Refresh  time.Duration // periodic burst while MASTER; 0 = off
	Delay    time.Duration // second burst after promotion; 0 = none
}

// Hooks are the programs run on transitions, as argv (never a shell
// string). Up and Down get ucarp's arguments appended, once per VIP:
// <iface> <vip> [xparam]. Notify gets keepalived's: INSTANCE <name>
// MASTER|BACKUP|FAULT|STOP <priority>. Master, Backup, Fault and Stop are
// keepalived's notify_master, notify_backup, notify_fault and notify_stop:
// run as configured, with nothing appended, only on entering their state,
// and before Notify, as keepalived runs them (vrrp_notify.c).
type Hooks struct {
	Up, Down, Notify            []string
	Master, Backup, Fault, Stop []string
	XParam                      string
	Timeout                     time.Duration
}

// TrackInterface follows a link's state. Weight 0 puts the router in FAULT
// while the link is down (keepalived); otherwise it is added to the
// priority while up (weight > 0) or while down (weight < 0).
type TrackInterface struct {
	Iface  string
	Weight int
}

// TrackScript runs Argv every Interval; Rise successes in a row mark it up,
// Fall failures in a row down. Weight works as for TrackInterface.
type TrackScript struct {
	Name              string
	Argv              []string
	Interval, Timeout time.Duration
	Rise, Fall        int
	Weight            int
}

// Error is one problem at a place in a file: "FILE:LINE: msg". File is
// empty for a command line, Line is 0 when the problem has no line.
type Error struct {
	File string
	Line int
	Msg  string
}

func (e Error) Error() string {
	switch {
	case e.File == "":
		return e.Msg
	case e.Line == 0:
		return e.File + ": " + e.Msg
	}
	return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg)
}

// Errors is every problem found, in file order; it prints one per line.
type Errors []Error

func (es Errors) Error() string {
	s := make([]string, len(es))
	for i, e := range es {
		s[i] = e.Error()
	}
	return strings.Join(s, "\n")
}
