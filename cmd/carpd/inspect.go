package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"strings"
	"time"

	"github.com/carpd/carpd/carp"
	"github.com/carpd/carpd/internal/config"
	"github.com/carpd/carpd/internal/pcapfile"
	"github.com/spf13/cobra"
)

type inspectFlags struct {
	proto   string
	pass    string
	passf   string // --passfile
	vips    []string
	json    bool
	iface   string
	count   int
	timeout time.Duration
}

func newInspect() *cobra.Command {
	var f inspectFlags
	cmd := &cobra.Command{
		Use:   "inspect [flags] [FILE.pcap]",
		Short: "Decode CARP and VRRP advertisements from a capture file or a live interface",
		Long: `Inspect prints one line per IP protocol 112 packet: time, source, protocol,
vhid/vrid, timers or priority, demote, counter, addresses, and whether the
checksum and the authentication (CARP HMAC, VRRPv2 PASS) are good.

CARP and VRRPv2 look alike on the wire; --proto says which one the segment
speaks, otherwise each packet is classified by its length, authlen and
checksum (see carp.Classify). A CARP HMAC covers the virtual addresses,
which are not in the packet: give them with --vip, or inspect searches the
source's /24 and the addresses seen in the capture and names the match.

With --json, standard output holds exactly one JSON object per packet.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if f.passf != "" {
				pw, err := config.ReadPassfile(f.passf)
				if err != nil {
					return fmt.Errorf("--passfile: %w", err)
				}
				f.pass = pw
			}
			passSet := cmd.Flags().Changed("pass") || cmd.Flags().Changed("passfile")
			in, err := newInspector(f, passSet, cmd.OutOrStdout(), cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			switch {
			case f.iface != "" && len(args) == 0:
				return in.live(cmd.Context(), f.iface, f.count, f.timeout)
			case f.iface == "" && len(args) == 1:
				return in.file(args[0])
			}
			return errors.New("inspect needs exactly one of FILE or --iface IF")
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.proto, "proto", "", "protocol on the segment: carp, vrrp (v2 or v3 by version), vrrp2, vrrp3; default: classify each packet")
	fl.StringVar(&f.pass, "pass", "", "password to check: CARP HMAC key (≤ 19 bytes) or VRRPv2 PASS (≤ 8 bytes)")
	fl.StringVar(&f.passf, "passfile", "", "read the password from the first line of FILE (as ucarp --passfile), keeping it out of ps")
	cmd.MarkFlagsMutuallyExclusive("pass", "passfile")
	fl.StringSliceVar(&f.vips, "vip", nil, "virtual address covered by the CARP HMAC (repeatable)")
	fl.BoolVar(&f.json, "json", false, "one JSON object per packet on standard output")
	fl.StringVar(&f.iface, "iface", "", "capture live on this interface (root)")
	fl.IntVar(&f.count, "count", 0, "with --iface: stop after this many packets (0: no limit)")
	fl.DurationVar(&f.timeout, "timeout", 0, "with --iface: stop after this long (0: until interrupted)")
	return cmd
}

// record is one decoded packet, as printed with --json. Fields that belong
// to the other protocol are left out.
type record struct {
	Time       string `json:"time"`
	Src        string `json:"src"`
	Dst        string `json:"dst"`
	TTL        uint8  `json:"ttl"`
	Proto      string `json:"proto"`
	ID         uint8  `json:"id"`
	ChecksumOK bool   `json:"checksum_ok"`
	Auth       string `json:"auth"`
	Error      string `json:"error,omitempty"`

	// CARP
	Version *uint8   `json:"version,omitempty"`
	Type    *uint8   `json:"type,omitempty"`
	AdvBase *uint8   `json:"advbase,omitempty"`
	AdvSkew *uint8   `json:"advskew,omitempty"`
	AuthLen *uint8   `json:"authlen,omitempty"`
	Demote  *uint8   `json:"demote,omitempty"`
	Counter *uint64  `json:"counter,omitempty"`
	VIPs    []string `json:"vips,omitempty"` // CARP: the addresses the HMAC matched

	// VRRP
	Priority     *uint8   `json:"priority,omitempty"`
	IntervalCS   *uint16  `json:"interval_cs,omitempty"`
	Addrs        []string `json:"addrs,omitempty"`
	AuthType     *uint8   `json:"auth_type,omitempty"`
	PseudoHeader *bool    `json:"pseudo_header,omitempty"`
}

func ptr[T any](v T) *T { return &v }

// inspector turns frames into records. It is single-threaded: the codec
// structs and HMAC contexts are reused across packets.
type inspector struct {
	hint    carp.Proto
	forceV  bool // --proto vrrp: VRRP of either version
	pass    []byte
	passSet bool
	vips    []netip.Addr
	json    *json.Encoder
	out     io.Writer
	errw    io.Writer

	hdr   carp.Header
	vrrp  carp.VRRP
	auths map[authKey]*carp.Auth
	seen  map[netip.Addr]bool // candidate VIPs: every address seen in the capture
	n     int
}

type authKey struct {
	vhid uint8
	vip  netip.Addr
}

func newInspector(f inspectFlags, passSet bool, out, errw io.Writer) (*inspector, error) {
	in := &inspector{out: out, errw: errw, pass: []byte(f.pass), passSet: passSet,
		auths: map[authKey]*carp.Auth{}, seen: map[netip.Addr]bool{}}
	switch strings.ToLower(f.proto) {
	case "":
	case "carp":
		in.hint = carp.ProtoCARP
	case "vrrp":
		in.forceV = true
	case "vrrp2":
		in.hint = carp.ProtoVRRP2
	case "vrrp3":
		in.hint = carp.ProtoVRRP3
	default:
		return nil, fmt.Errorf("unknown --proto %q: want carp, vrrp, vrrp2 or vrrp3", f.proto)
	}
	for _, s := range f.vips {
		a, err := netip.ParseAddr(s)
		if err != nil {
			return nil, fmt.Errorf("parsing --vip: %w", err)
		}
		in.vips = append(in.vips, a.Unmap())
	}
	if f.json {
		in.json = json.NewEncoder(out)
	}
	return in, nil
}

// file reads a pcap or pcapng file, each packet with its own link type
// (a pcapng file may hold several interfaces).
func (in *inspector) file(path string) error {
	fh, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("opening capture: %w", err)
	}
	defer fh.Close()
	r, err := pcapfile.NewReader(fh)
	if err != nil {
		return fmt.Errorf("reading %s: %w", path, err)
	}
	for {
		p, err := r.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			// A truncated last record is common when tcpdump is killed; keep what was read.
			fmt.Fprintf(in.errw, "carpd inspect: %s: stopping after %d packets: %v\n", path, in.n, err)
			break
		}
		if err := in.frame(p.Time, p.LinkType, p.Data); err != nil {
			return err
		}
	}
	if in.n == 0 {
		fmt.Fprintf(in.errw, "carpd inspect: %s: no IP protocol 112 packets\n", path)
	}
	return nil
}
