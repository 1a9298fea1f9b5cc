package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/carpd/carpd/carp"
	"github.com/carpd/carpd/internal/config"
	"github.com/carpd/carpd/internal/inspect"
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
		Args: usageArgs(cobra.MaximumNArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			if f.passf != "" {
				pw, err := config.ReadPassfile(f.passf)
				if err != nil {
					return fmt.Errorf("--passfile: %w", err)
				}
				f.pass = pw
			}
			passSet := cmd.Flags().Changed("pass") || cmd.Flags().Changed("passfile")
			opts, err := f.options(passSet)
			if err != nil {
				return err
			}
			in := inspect.New(opts)
			emit := printer(f.json, cmd.OutOrStdout())
			switch {
			case f.iface != "" && len(args) == 0:
				return live(cmd.Context(), in, f, emit)
			case f.iface == "" && len(args) == 1:
				return inspectFile(in, args[0], emit, cmd.ErrOrStderr())
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

// options turns the flags into the engine's options.
func (f inspectFlags) options(passSet bool) (inspect.Options, error) {
	o := inspect.Options{Pass: []byte(f.pass), CheckPass: passSet}
	switch strings.ToLower(f.proto) {
	case "":
	case "carp":
		o.Proto = carp.ProtoCARP
	case "vrrp":
		o.AnyVRRP = true
	case "vrrp2":
		o.Proto = carp.ProtoVRRP2
	case "vrrp3":
		o.Proto = carp.ProtoVRRP3
	default:
		return o, fmt.Errorf("unknown --proto %q: want carp, vrrp, vrrp2 or vrrp3", f.proto)
	}
	for _, s := range f.vips {
		a, err := netip.ParseAddr(s)
		if err != nil {
			return o, fmt.Errorf("parsing --vip: %w", err)
		}
		o.VIPs = append(o.VIPs, a)
	}
	return o, nil
}

// printer prints records as JSON objects, one a line, or as text lines.
func printer(asJSON bool, out io.Writer) func(inspect.Record) error {
	if asJSON {
		enc := json.NewEncoder(out)
		return func(r inspect.Record) error { return enc.Encode(r) }
	}
	return func(r inspect.Record) error {
		_, err := fmt.Fprintln(out, r.Text())
		return err
	}
}

// live captures on --iface until --count packets, --timeout, or SIGINT
// or SIGTERM.
func live(ctx context.Context, in *inspect.Inspector, f inspectFlags, emit func(inspect.Record) error) error {
	if ctx == nil {
		ctx = context.Background()
	}
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	if f.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, f.timeout)
		defer cancel()
	}
	return in.Live(ctx, f.iface, f.count, emit)
}

// inspectFile reads a pcap or pcapng file, each packet with its own link
// type (a pcapng file may hold several interfaces).
func inspectFile(in *inspect.Inspector, path string, emit func(inspect.Record) error, errw io.Writer) error {
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
			// A truncated last record is common when tcpdump is killed:
			// what was read is printed, and the exit status says the
			// capture is not all there, so a script does not take the
			// output for the whole capture.
			return fmt.Errorf("%s: damaged capture, stopped after %d packets: %w", path, in.Packets(), err)
		}
		if rec, ok := in.Frame(p.Time, p.LinkType, p.Data); ok {
			if err := emit(rec); err != nil {
				return err
			}
		}
	}
	if in.Packets() == 0 {
		fmt.Fprintf(errw, "carpd inspect: %s: no IP protocol 112 packets\n", path)
	}
	return nil
}
