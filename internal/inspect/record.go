package inspect

import (
	"fmt"
	"strings"
)

// timeFormat is RFC 3339 with all nine fractional digits, so lines align
// and sort as text.
const timeFormat = "2006-01-02T15:04:05.000000000Z07:00"

// Record is one decoded packet, as printed with --json. Fields that
// belong to the other protocol are left out.
type Record struct {
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
	Version *uint8 `json:"version,omitempty"`
	Type    *uint8 `json:"type,omitempty"`
	AdvBase *uint8 `json:"advbase,omitempty"`
	AdvSkew *uint8 `json:"advskew,omitempty"`
	AuthLen *uint8 `json:"authlen,omitempty"`
	Demote  *uint8 `json:"demote,omitempty"`
	// Counter is the CARP replay counter as "0x" and 16 hex digits: a
	// JSON number holds 53 bits exactly in most readers (jq, JavaScript),
	// and the counter is 64 random bits.
	Counter string   `json:"counter,omitempty"`
	VIPs    []string `json:"vips,omitempty"` // CARP: the addresses the HMAC matched

	// VRRP
	Priority     *uint8   `json:"priority,omitempty"`
	IntervalCS   *uint16  `json:"interval_cs,omitempty"`
	Addrs        []string `json:"addrs,omitempty"`
	AuthType     *uint8   `json:"auth_type,omitempty"`
	PseudoHeader *bool    `json:"pseudo_header,omitempty"`
}

func ptr[T any](v T) *T { return &v }

// counter formats a CARP counter as Record.Counter holds it.
func counter(c uint64) string { return fmt.Sprintf("0x%016x", c) }

// Text is the one-line human form.
func (r Record) Text() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s > %s ttl %d %s", r.Time, r.Src, r.Dst, r.TTL, r.Proto)
	if r.Error != "" && r.Version == nil && r.Priority == nil {
		fmt.Fprintf(&b, " error: %s", r.Error)
		return b.String()
	}
	if r.Proto == "carp" {
		fmt.Fprintf(&b, " vhid %d advbase %d advskew %d demote %d counter %s",
			r.ID, *r.AdvBase, *r.AdvSkew, *r.Demote, r.Counter)
	} else {
		fmt.Fprintf(&b, " vrid %d prio %d int %d.%02ds addrs %s",
			r.ID, *r.Priority, *r.IntervalCS/100, *r.IntervalCS%100, strings.Join(r.Addrs, ","))
	}
	ck := "ok"
	if !r.ChecksumOK {
		ck = "bad"
	}
	if r.PseudoHeader != nil && r.ChecksumOK {
		if *r.PseudoHeader {
			ck += "(pseudo-header)"
		} else {
			ck += "(no pseudo-header)"
		}
	}
	fmt.Fprintf(&b, " cksum %s", ck)
	switch {
	case r.Proto == "carp" && r.Auth == "none":
		b.WriteString(" hmac unchecked")
	case r.Proto == "carp":
		fmt.Fprintf(&b, " hmac %s", r.Auth)
		if len(r.VIPs) > 0 {
			fmt.Fprintf(&b, " (vip %s)", strings.Join(r.VIPs, ","))
		}
	case r.AuthType != nil && *r.AuthType == 1:
		fmt.Fprintf(&b, " pass %s", map[string]string{"none": "unchecked", "ok": "ok", "bad": "bad"}[r.Auth])
	}
	if r.Error != "" {
		fmt.Fprintf(&b, " error: %s", r.Error)
	}
	return b.String()
}
