package secret

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

const pw = "Zq7-unique-pass"

// holder is a struct that carries a Secret, as config.Router and
// mosquitto.Broker do.
type holder struct {
	Name     string `json:"name" yaml:"name"`
	Password Secret `json:"password" yaml:"password"`
}

func TestSecretNeverPrinted(t *testing.T) {
	s := Secret(pw)
	h := holder{Name: "a", Password: s}
	var logged bytes.Buffer
	slog.New(slog.NewTextHandler(&logged, nil)).Info("x", "secret", s, "holder", h)
	slog.New(slog.NewJSONHandler(&logged, nil)).Info("x", "secret", s, "holder", h)
	js, err := json.Marshal(h)
	if err != nil {
		t.Fatal(err)
	}
	ym, err := yaml.Marshal(h)
	if err != nil {
		t.Fatal(err)
	}
	forms := map[string]string{
		"%v": fmt.Sprintf("%v", s), "%+v": fmt.Sprintf("%+v", s), "%s": fmt.Sprintf("%s", s),
		"%q": fmt.Sprintf("%q", s), "%x": fmt.Sprintf("%x", s), "%X": fmt.Sprintf("%X", s),
		"%d": fmt.Sprintf("%d", s), "%#v": fmt.Sprintf("%#v", s),
		"%v holder": fmt.Sprintf("%v", h), "%+v holder": fmt.Sprintf("%+v", h), "%#v holder": fmt.Sprintf("%#v", h),
		"error": fmt.Errorf("using %v: %w", s, errors.New("x")).Error(),
		"json":  string(js), "yaml": string(ym), "slog": logged.String(), "String": s.String(),
	}
	hexed := fmt.Sprintf("%x", []byte(pw))
	for name, out := range forms {
		if strings.Contains(out, pw) || strings.Contains(strings.ToLower(out), hexed) {
			t.Errorf("%s shows the password: %s", name, out)
		}
		if !strings.Contains(out, "***") {
			t.Errorf("%s = %q, want ***", name, out)
		}
	}
	if got := string(s.Bytes()); got != pw {
		t.Errorf("Bytes() = %q, want the password", got)
	}
	if got := Secret(nil).String(); got != "" {
		t.Errorf("empty Secret prints %q, want \"\"", got)
	}
}
