package main

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"
)

// writeTwoInterfaces rewrites an Ethernet pcap as pcapng with two
// interfaces, as `tcpdump -i eth0 -i any` would: every frame as captured
// on interface 0 (Ethernet), then again as Linux SLL on interface 1.
func writeTwoInterfaces(t *testing.T, pcap, out string) {
	t.Helper()
	in, err := os.Open(pcap)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	r, err := pcapgo.NewReader(in)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	w, err := pcapgo.NewNgWriter(&buf, layers.LinkTypeEthernet)
	if err != nil {
		t.Fatal(err)
	}
	sll := pcapgo.DefaultNgInterface
	sll.LinkType = layers.LinkTypeLinuxSLL
	id, err := w.AddInterface(sll)
	if err != nil {
		t.Fatal(err)
	}
	for {
		data, ci, err := r.ReadPacketData()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if err := w.WritePacket(ci, data); err != nil {
			t.Fatal(err)
		}
		// SLL: packet type 2 (multicast), ARPHRD_ETHER, address length 6,
		// source MAC padded to 8, then the EtherType.
		cooked := append([]byte{0, 2, 0, 1, 0, 6}, data[6:12]...)
		cooked = append(append(cooked, 0, 0), data[12:]...)
		ci.InterfaceIndex, ci.CaptureLength, ci.Length = id, len(cooked), len(cooked)
		if err := w.WritePacket(ci, cooked); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(out, buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestInspectPcapngInterfaces: a pcapng capture whose interfaces have
// different link types shows every packet of each, decoded as from the
// pcap. (Before internal/pcapfile, pcapgo dropped the packets of
// interfaces whose link type differed from the first.)
func TestInspectPcapngInterfaces(t *testing.T) {
	for _, file := range []string{"ucarp.pcap", "keepalived-v2.pcap", "keepalived-v3-ipv6.pcap"} {
		t.Run(file, func(t *testing.T) {
			pcap := filepath.Join(testdata, file)
			ng := filepath.Join(t.TempDir(), strings.TrimSuffix(file, ".pcap")+".pcapng")
			writeTwoInterfaces(t, pcap, ng)
			want, _, err := runInspect(t, "--pass", "s3cretpw", pcap)
			if err != nil {
				t.Fatal(err)
			}
			got, _, err := runInspect(t, "--pass", "s3cretpw", ng)
			if err != nil {
				t.Fatal(err)
			}
			var twice []string
			for _, line := range strings.SplitAfter(want, "\n") {
				if line != "" {
					twice = append(twice, line, line)
				}
			}
			if len(twice) == 0 {
				t.Fatal("no output from the pcap")
			}
			if diff := cmp.Diff(strings.Join(twice, ""), got); diff != "" {
				t.Errorf("pcapng output (-each pcap line twice +got):\n%s", diff)
			}
		})
	}
}
