package carp

import (
	"testing"

	"github.com/google/gopacket"
)

// TestGopacketLayerTypeDecoders: the registered layer types decode a bare
// payload without classifying.
func TestGopacketLayerTypeDecoders(t *testing.T) {
	p := gopacket.NewPacket(unhex(t, vector1), LayerTypeCARP, gopacket.Default)
	if h, ok := p.Layer(LayerTypeCARP).(*Header); !ok || h.VHID != 1 || p.ErrorLayer() != nil {
		t.Errorf("LayerTypeCARP decode: %v", p)
	}
	// Without an IP layer the pseudo-header form cannot be checked.
	p = gopacket.NewPacket(unhex(t, vrrp3PseudoVector), LayerTypeVRRP, gopacket.Default)
	if v, ok := p.Layer(LayerTypeVRRP).(*VRRP); !ok || v.VRID != 51 || v.ChecksumChecked || p.ErrorLayer() != nil {
		t.Errorf("LayerTypeVRRP decode: %v", p)
	}
}
