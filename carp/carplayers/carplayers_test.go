package carplayers_test

import (
	"errors"
	"io"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"testing"

	"github.com/carpd/carpd/carp"
	"github.com/carpd/carpd/carp/carplayers"
	"github.com/carpd/carpd/carp/internal/frametest"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"
)

var (
	// ignoreBytes drops the layers' Contents/Payload from comparisons;
	// TestGoldenCaptures checks them against the IP payload.
	ignoreBytes = cmp.Options{
		cmpopts.IgnoreFields(carplayers.CARP{}, "BaseLayer"),
		cmpopts.IgnoreFields(carplayers.VRRP{}, "BaseLayer"),
	}
	eqAddr = cmpopts.EquateComparable(netip.Addr{})
)

func addrs(ss ...string) []netip.Addr {
	var as []netip.Addr
	for _, s := range ss {
		as = append(as, netip.MustParseAddr(s))
	}
	return as
}

// signedCARP returns a CARP advertisement signed with a lab password.
func signedCARP(t testing.TB) *carplayers.CARP {
	t.Helper()
	a, err := carp.NewAuth([]byte("mypassword"), 1, addrs("10.1.1.252"), nil)
	if err != nil {
		t.Fatal(err)
	}
	c := &carplayers.CARP{Header: carp.Header{Version: 2, Type: 1, VHID: 1, AuthLen: 7, AdvBase: 1, Counter: 0x0123456789abcdef}}
	a.Sign(&c.Header)
	return c
}

// vrrpLayer wraps v as a layer.
func vrrpLayer(v carp.VRRP) *carplayers.VRRP { return &carplayers.VRRP{VRRP: v} }

func TestGopacketDecodes(t *testing.T) {
	h := signedCARP(t)
	v2 := vrrpLayer(carp.VRRP{Version: 2, Type: 1, VRID: 51, Priority: 100, AdvInt: 1, Addrs: addrs("192.168.1.100")})
	v3 := vrrpLayer(carp.VRRP{Version: 3, Type: 1, VRID: 51, Priority: 100, AdvInt: 100, Addrs: addrs("192.168.1.100"),
		Src: frametest.Src4, Dst: frametest.Dst4, PseudoHeader: true})
	v3v6 := vrrpLayer(carp.VRRP{Version: 3, Type: 1, VRID: 51, Priority: 100, AdvInt: 100, Addrs: addrs("2001:2::100"),
		Src: frametest.Src6, Dst: frametest.Dst6})
	// IP-in-IP: the v3 checksum must use the inner addresses.
	outer := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolIPv4, SrcIP: net.IP{198, 18, 9, 1}, DstIP: net.IP{198, 18, 9, 2}}

	tests := []struct {
		name  string
		frame []byte
		want  gopacket.Layer // with Src/Dst, PseudoHeader, ChecksumChecked as decoded
	}{
		{"carp", frametest.Frame(t, false, h), h},
		{"vrrp2", frametest.Frame(t, false, v2), vrrpLayer(carp.VRRP{Version: 2, Type: 1, VRID: 51, Priority: 100, CountAddrs: 1, AdvInt: 1,
			Checksum: 0xb8bd, Addrs: v2.Addrs, Src: frametest.Src4, Dst: frametest.Dst4, ChecksumChecked: true})},
		{"vrrp3", frametest.Frame(t, false, v3), vrrpLayer(carp.VRRP{Version: 3, Type: 1, VRID: 51, Priority: 100, CountAddrs: 1, AdvInt: 100,
			Checksum: 0x0622, Addrs: v3.Addrs, Src: frametest.Src4, Dst: frametest.Dst4, PseudoHeader: true, ChecksumChecked: true})},
		{"vrrp3 ipv6", frametest.Frame(t, true, v3v6), vrrpLayer(carp.VRRP{Version: 3, Type: 1, VRID: 51, Priority: 100, CountAddrs: 1, AdvInt: 100,
			Checksum: 0x4b45, Addrs: v3v6.Addrs, Src: frametest.Src6, Dst: frametest.Dst6, PseudoHeader: true, ChecksumChecked: true})},
		{"vrrp3 ip-in-ip", frametest.Frame(t, false, v3, outer), vrrpLayer(carp.VRRP{Version: 3, Type: 1, VRID: 51, Priority: 100, CountAddrs: 1, AdvInt: 100,
			Checksum: 0x0622, Addrs: v3.Addrs, Src: frametest.Src4, Dst: frametest.Dst4, PseudoHeader: true, ChecksumChecked: true})},
	}
	for _, tt := range tests {
		for _, opts := range []gopacket.DecodeOptions{gopacket.Default, gopacket.Lazy} {
			p := gopacket.NewPacket(tt.frame, layers.LayerTypeEthernet, opts)
			if el := p.ErrorLayer(); el != nil {
				t.Errorf("%s (lazy %v): error layer %v", tt.name, opts.Lazy, el.Error())
			}
			got := p.Layer(tt.want.LayerType())
			if diff := cmp.Diff(tt.want, got, ignoreBytes, eqAddr); diff != "" {
				t.Errorf("%s (lazy %v): layer (-want +got):\n%s", tt.name, opts.Lazy, diff)
			}
		}
	}
}

// TestGopacketErrors: a damaged packet still shows its fields, with the
// error in a DecodeFailure; garbage never panics.
func TestGopacketErrors(t *testing.T) {
	bad := frametest.Frame(t, false, signedCARP(t))
	bad[len(bad)-1] ^= 1 // MD, so the CARP checksum no longer holds
	v2 := frametest.Frame(t, false, vrrpLayer(carp.VRRP{Version: 2, Type: 1, VRID: 51, Priority: 100, AdvInt: 1, Addrs: addrs("192.168.1.100")}))
	v2[14+20+19] ^= 1 // last auth byte; the frame ends in Ethernet padding

	tests := []struct {
		name      string
		frame     []byte
		wantLayer gopacket.LayerType // 0: neither CARP nor VRRP
		wantErr   error
	}{
		{"carp bad checksum", bad, carplayers.LayerTypeCARP, carp.ErrChecksum},
		{"vrrp2 bad checksum", v2, carplayers.LayerTypeVRRP, carp.ErrChecksum},
		{"version 5", frametest.Frame(t, false, gopacket.Payload{0x51, 1, 2, 3, 4, 5, 6, 7}), 0, carp.ErrVersion},
		{"short", frametest.Frame(t, false, gopacket.Payload{0x21, 1}), 0, carp.ErrShort},
		{"ambiguous", frametest.Frame(t, false, gopacket.Payload{0x21, 1, 2, 3, 4, 5, 6, 7, 8}), 0, carp.ErrAmbiguous},
		{"vrrp3 bad length", frametest.Frame(t, false, gopacket.Payload{0x31, 1, 2, 3, 4, 5, 6, 7, 8}), carplayers.LayerTypeVRRP, carp.ErrLength},
	}
	for _, tt := range tests {
		p := gopacket.NewPacket(tt.frame, layers.LayerTypeEthernet, gopacket.Default)
		el := p.ErrorLayer()
		if el == nil || !errors.Is(el.Error(), tt.wantErr) {
			t.Errorf("%s: error layer %v, want %v", tt.name, el, tt.wantErr)
		}
		for _, lt := range []gopacket.LayerType{carplayers.LayerTypeCARP, carplayers.LayerTypeVRRP} {
			if got := p.Layer(lt) != nil; got != (lt == tt.wantLayer) {
				t.Errorf("%s: has %v layer = %v", tt.name, lt, got)
			}
		}
	}
}

// TestGoldenCaptures: gopacket.NewPacket on every frame of the captures of
// real ucarp and keepalived (carp/testdata/README.md) that carries IP
// protocol 112 decodes to our layer for the sender's protocol, with a
// checked checksum, covering exactly the IP payload.
func TestGoldenCaptures(t *testing.T) {
	for _, tc := range []struct {
		file    string
		want    gopacket.LayerType
		version uint8
	}{
		{"ucarp.pcap", carplayers.LayerTypeCARP, 2},
		{"keepalived-v2.pcap", carplayers.LayerTypeVRRP, 2},
		{"keepalived-v3.pcap", carplayers.LayerTypeVRRP, 3},
		{"keepalived-v3-ipv6.pcap", carplayers.LayerTypeVRRP, 3},
	} {
		t.Run(tc.file, func(t *testing.T) {
			frames, lt := readFrames(t, filepath.Join("..", "testdata", tc.file))
			n := 0
			for i, data := range frames {
				p := gopacket.NewPacket(data, lt, gopacket.Default)
				ipPayload, ok := proto112(p)
				if !ok {
					continue
				}
				n++
				if el := p.ErrorLayer(); el != nil {
					t.Errorf("frame %d: error layer %v", i+1, el.Error())
				}
				l := p.Layer(tc.want)
				var version uint8
				switch l := l.(type) {
				case *carplayers.CARP:
					version = l.Version
				case *carplayers.VRRP:
					version = l.Version
					if !l.ChecksumChecked {
						t.Errorf("frame %d: VRRP checksum not checked", i+1)
					}
				default:
					t.Fatalf("frame %d: layer %v is %T; layers %v", i+1, tc.want, l, p.Layers())
				}
				if version != tc.version {
					t.Errorf("frame %d: version %d, want %d", i+1, version, tc.version)
				}
				if diff := cmp.Diff(ipPayload, l.LayerContents()); diff != "" {
					t.Errorf("frame %d: LayerContents (-IP payload +got):\n%s", i+1, diff)
				}
			}
			if n == 0 {
				t.Fatal("no IP protocol 112 frames")
			}
		})
	}
}

// proto112 returns the IP payload of a packet carrying IP protocol 112.
func proto112(p gopacket.Packet) ([]byte, bool) {
	switch ip := p.NetworkLayer().(type) {
	case *layers.IPv4:
		return ip.Payload, ip.Protocol == layers.IPProtocolVRRP
	case *layers.IPv6:
		return ip.Payload, ip.NextHeader == layers.IPProtocolVRRP
	}
	return nil, false
}

func readFrames(t *testing.T, path string) ([][]byte, layers.LinkType) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r, err := pcapgo.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	var frames [][]byte
	for {
		data, _, err := r.ReadPacketData()
		if errors.Is(err, io.EOF) {
			return frames, r.LinkType()
		}
		if err != nil {
			t.Fatal(err)
		}
		frames = append(frames, data)
	}
}
