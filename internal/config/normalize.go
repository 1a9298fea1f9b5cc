package config

import (
	"io"
	"net/netip"

	"github.com/carpd/carpd/carp"
	"github.com/carpd/carpd/internal/secret"
	"go.yaml.in/yaml/v3"
)

// The out* types fix the order and spelling of WriteNormalized. Keys that
// do not apply to a router's protocol are left out, as Load would refuse
// them.
type outFile struct {
	StateDir string      `yaml:"state_dir"`
	Debug    bool        `yaml:"debug"`
	Broker   *outBroker  `yaml:"broker,omitempty"`
	Metrics  string      `yaml:"metrics_listen,omitempty"`
	User     string      `yaml:"script_user,omitempty"`
	Routers  []outRouter `yaml:"routers"`
}

type outRouter struct {
	Name  string `yaml:"name"`
	Iface string `yaml:"iface"`
	Proto string `yaml:"proto"`
	VHID  *uint8 `yaml:"vhid,omitempty"`
	VRID  *uint8 `yaml:"vrid,omitempty"`

	AdvBase     *uint8        `yaml:"advbase,omitempty"`
	AdvSkew     *uint8        `yaml:"advskew,omitempty"`
	DeadRatio   *uint8        `yaml:"deadratio,omitempty"`
	DownFormula string        `yaml:"down_formula,omitempty"`
	DemoteMode  string        `yaml:"demote_mode,omitempty"`
	TieBreakIP  *bool         `yaml:"tiebreak_ip,omitempty"`
	Priority    *uint8        `yaml:"priority,omitempty"`
	Interval    string        `yaml:"interval,omitempty"`
	PreemptDly  string        `yaml:"preempt_delay,omitempty"`
	Preempt     bool          `yaml:"preempt"`
	V3AsV2      *bool         `yaml:"v3_checksum_as_v2,omitempty"`
	VIPs        []string      `yaml:"vips"`
	Password    secret.Secret `yaml:"password,omitempty"`
	Passfile    string        `yaml:"passfile,omitempty"`
	SrcIP       string        `yaml:"srcip,omitempty"`
	Peers       []string      `yaml:"peers"`
	Mcast       string        `yaml:"mcast,omitempty"`
	AcceptFrom  []string      `yaml:"accept_from,omitempty"`
	UnicastTTL  *bool         `yaml:"unicast_ttl_check,omitempty"`

	IgnoreIfState bool   `yaml:"ignore_ifstate"`
	VIPByScripts  bool   `yaml:"vip_by_scripts"`
	Neutral       bool   `yaml:"neutral"`
	VMAC          bool   `yaml:"vmac"`
	VMACIface     string `yaml:"vmac_iface,omitempty"`
	SplitBrain    string `yaml:"split_brain"`

	GARP            outGARP         `yaml:"garp"`
	Hooks           outHooks        `yaml:"hooks"`
	TrackInterfaces []outTrackIface `yaml:"track_interface"`
	TrackScripts    []outTrackScrip `yaml:"track_script"`
}

type outGARP struct {
	Repeat   int    `yaml:"repeat"`
	Interval string `yaml:"interval"`
	Refresh  string `yaml:"refresh"`
	Delay    string `yaml:"delay"`
}

type outHooks struct {
	Up      []string `yaml:"up"`
	Down    []string `yaml:"down"`
	Notify  []string `yaml:"notify"`
	Master  []string `yaml:"master"`
	Backup  []string `yaml:"backup"`
	Fault   []string `yaml:"fault"`
	Stop    []string `yaml:"stop"`
	XParam  string   `yaml:"xparam"`
	Timeout string   `yaml:"timeout"`
}

type outTrackIface struct {
	Iface  string `yaml:"iface"`
	Weight int    `yaml:"weight"`
}

type outTrackScrip struct {
	Name     string   `yaml:"name"`
	Argv     []string `yaml:"argv"`
	Interval string   `yaml:"interval"`
	Timeout  string   `yaml:"timeout"`
	Rise     int      `yaml:"rise"`
	Fall     int      `yaml:"fall"`
	Weight   int      `yaml:"weight"`
}

// WriteNormalized writes f as YAML with every default filled in, in the
// schema Load reads. A password is written as "***" (or its passfile is
// named), so the output is safe to share but does not carry the secret.
func (f *File) WriteNormalized(w io.Writer) error {
	out := outFile{StateDir: f.StateDir, Debug: f.Debug, Metrics: f.MetricsListen, Broker: normalizeBroker(f.Broker), Routers: []outRouter{}}
	if f.ScriptUser != nil {
		out.User = f.ScriptUser.Name
	}
	for i := range f.Routers {
		out.Routers = append(out.Routers, normalize(&f.Routers[i]))
	}
	enc := yaml.NewEncoder(w)
	enc.SetIndent(2)
	if err := enc.Encode(out); err != nil {
		return err
	}
	return enc.Close()
}

func normalize(r *Router) outRouter {
	m := r.Machine
	o := outRouter{
		Name: r.Name, Iface: r.Iface, Proto: r.Proto.String(), Preempt: m.Preempt,
		VIPs: []string{}, Peers: []string{}, Passfile: r.Passfile,
		IgnoreIfState: r.IgnoreIfState, VIPByScripts: r.VIPByScripts, Neutral: r.Neutral, VMAC: r.VMAC,
		SplitBrain: r.SplitBrain.String(),
		GARP: outGARP{Repeat: r.GARP.Repeat, Interval: r.GARP.Interval.String(),
			Refresh: r.GARP.Refresh.String(), Delay: r.GARP.Delay.String()},
		Hooks: outHooks{Up: orEmpty(r.Hooks.Up), Down: orEmpty(r.Hooks.Down), Notify: orEmpty(r.Hooks.Notify),
			Master: orEmpty(r.Hooks.Master), Backup: orEmpty(r.Hooks.Backup), Fault: orEmpty(r.Hooks.Fault),
			Stop: orEmpty(r.Hooks.Stop), XParam: r.Hooks.XParam, Timeout: r.Hooks.Timeout.String()},
		TrackInterfaces: []outTrackIface{}, TrackScripts: []outTrackScrip{},
	}
	id := r.ID
	if r.Proto == carp.ProtoCARP {
		o.VHID, o.AdvBase, o.AdvSkew, o.DeadRatio = &id, &m.AdvBase, &m.AdvSkew, &m.DeadRatio
		o.DownFormula, o.DemoteMode, o.TieBreakIP = m.Down.String(), m.Demote.String(), &m.TieBreakIP
	} else {
		o.VRID, o.Priority = &id, &m.Priority
		o.Interval, o.PreemptDly = m.Interval.String(), m.PreemptDelay.String()
	}
	if r.Proto == carp.ProtoVRRP3 {
		asV2 := !r.V3PseudoHeader
		o.V3AsV2 = &asV2
	}
	if r.VMAC {
		o.VMACIface = r.VMACIface
	}
	if r.Passfile == "" {
		o.Password = r.Password
	}
	for _, v := range r.VIPs {
		o.VIPs = append(o.VIPs, v.String())
	}
	o.SrcIP = addrString(r.SrcIP)
	for _, p := range r.Peers {
		o.Peers = append(o.Peers, p.String())
	}
	o.Mcast = addrString(r.Group)
	for _, pf := range r.AcceptFrom {
		if pf.IsSingleIP() {
			o.AcceptFrom = append(o.AcceptFrom, pf.Addr().String())
		} else {
			o.AcceptFrom = append(o.AcceptFrom, pf.String())
		}
	}
	if len(r.Peers) > 0 {
		o.UnicastTTL = &r.UnicastTTLCheck
	}
	for _, t := range r.TrackInterfaces {
		o.TrackInterfaces = append(o.TrackInterfaces, outTrackIface(t))
	}
	for _, t := range r.TrackScripts {
		o.TrackScripts = append(o.TrackScripts, outTrackScrip{Name: t.Name, Argv: t.Argv,
			Interval: t.Interval.String(), Timeout: t.Timeout.String(), Rise: t.Rise, Fall: t.Fall, Weight: t.Weight})
	}
	return o
}

func orEmpty(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func addrString(a netip.Addr) string {
	if !a.IsValid() {
		return ""
	}
	return a.String()
}
