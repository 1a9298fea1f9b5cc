package config

import (
	"slices"
	"strings"
	"testing"
)

func TestVMACDefaults(t *testing.T) {
	f, errs := loadText(t, `
routers:
  - iface: eth0
    proto: vrrp3
    vrid: 7
    vips: [198.18.0.7]
    vmac: true
  - iface: eth0
    vhid: 8
    vips: [198.18.0.8]
    vmac: true
    vmac_iface: carp8
  - iface: eth0
    vhid: 9
    vips: [198.18.0.9]
  - iface: eth0
    name: v6
    proto: vrrp3
    vrid: 7
    vips: ["2001:2::7"]
    vmac: true
`)
	if errs != nil {
		t.Fatal(errs)
	}
	want := []struct {
		vmac        bool
		iface, addr string
	}{{true, "vrrp.7", "00:00:5e:00:01:07"}, {true, "carp8", "00:00:5e:00:01:08"}, {false, "", ""}, {true, "vrrp6.7", "00:00:5e:00:02:07"}}
	for i, w := range want {
		r := f.Routers[i]
		if r.VMAC != w.vmac || r.VMACIface != w.iface || w.vmac && r.VMACAddr().String() != w.addr {
			t.Errorf("router %d: vmac %v %q %v, want %v %q %s", i, r.VMAC, r.VMACIface, r.VMACAddr(), w.vmac, w.iface, w.addr)
		}
	}
	plans := f.Plans()
	if len(plans) != 3 || !strings.Contains(plans[0], "macvlan vrrp.7") || !strings.Contains(plans[0], "00:00:5e:00:01:07") ||
		!strings.Contains(plans[2], "macvlan vrrp6.7") || !strings.Contains(plans[2], "00:00:5e:00:02:07") || !strings.Contains(plans[2], "link-local") {
		t.Errorf("Plans = %q", plans)
	}
}

func TestVMACRefused(t *testing.T) {
	for _, c := range []struct{ name, routers, want string }{
		{"iface without vmac", `
  - {iface: eth0, vhid: 1, vips: [198.18.0.1], vmac_iface: v1}`, "2: vmac_iface is the name of the vmac interface, and vmac is not set"},
		{"scripts", `
  - {iface: eth0, vhid: 1, vips: [198.18.0.1], vmac: true, vip_by_scripts: true, hooks: {up: [/bin/true]}}`, "2: vmac and vip_by_scripts exclude each other"},
		{"too long", `
  - {iface: eth0, vhid: 1, vips: [198.18.0.1], vmac: true, vmac_iface: a-very-long-name0}`, "longer than 15 bytes"},
		{"parent", `
  - {iface: eth0, vhid: 1, vips: [198.18.0.1], vmac: true, vmac_iface: eth0}`, "is the interface itself"},
		{"same default name on two parents", `
  - {iface: eth0, vhid: 1, vips: [198.18.0.1], vmac: true}
  - {name: b, iface: eth1, vhid: 1, vips: [198.18.1.1], vmac: true}`, `3: vmac_iface: "vrrp.1" is also the vmac interface of router carp1`},
		{"clash with an interface in use", `
  - {iface: eth0, vhid: 1, vips: [198.18.0.1], vmac: true, vmac_iface: eth1}
  - {iface: eth1, vhid: 2, vips: [198.18.1.1]}`, `2: vmac_iface: "eth1" is an interface router carp2 uses`},
		{"same id and family on one interface", `
  - {iface: eth0, proto: vrrp3, vrid: 1, vips: [198.18.0.1], vmac: true}
  - {iface: eth0, vhid: 1, name: c, vips: [198.18.0.2], vmac: true, vmac_iface: c1}`, "vhid 1 on eth0 is already used"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, errs := loadText(t, "routers:"+c.routers+"\n")
			if !slices.ContainsFunc(errs, func(e string) bool { return strings.Contains(e, c.want) }) {
				t.Errorf("errors %q, want one containing %q", errs, c.want)
			}
		})
	}
}

func TestVMACFlags(t *testing.T) {
	f, err := testLoader.FromArgs([]string{"-i", "eth0", "-v", "7", "-a", "198.18.0.7", "--proto", "vrrp3", "--vmac"})
	if err != nil {
		t.Fatal(err)
	}
	if r := f.Routers[0]; !r.VMAC || r.VMACIface != "vrrp.7" {
		t.Errorf("--vmac: VMAC %v, VMACIface %q", r.VMAC, r.VMACIface)
	}
	f, err = testLoader.FromArgs([]string{"-i", "eth0", "-v", "7", "-a", "198.18.0.7", "--vmac", "--vmac-iface", "v7"})
	if err != nil {
		t.Fatal(err)
	}
	if r := f.Routers[0]; !r.VMAC || r.VMACIface != "v7" {
		t.Errorf("--vmac-iface v7: VMAC %v, VMACIface %q", r.VMAC, r.VMACIface)
	}
	_, err = testLoader.FromArgs([]string{"-i", "eth0", "-v", "7", "-a", "198.18.0.7", "--vmac-iface", "v7"})
	if err == nil || !strings.Contains(err.Error(), "--vmac-iface is the name of the vmac interface, and --vmac is not set") {
		t.Errorf("--vmac-iface alone: %v", err)
	}
}
