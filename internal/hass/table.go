package hass

// table is a map that remembers the order keys were first set in, so the
// state is republished in a stable order.
type table struct {
	keys []string
	vals map[string]string
}

func (t *table) set(k, v string) {
	if t.vals == nil {
		t.vals = make(map[string]string)
	}
	if _, ok := t.vals[k]; !ok {
		t.keys = append(t.keys, k)
	}
	t.vals[k] = v
}

func (t *table) get(k string) (string, bool) {
	v, ok := t.vals[k]
	return v, ok
}

func (t *table) del(k string) {
	if _, ok := t.vals[k]; !ok {
		return
	}
	delete(t.vals, k)
	for i, key := range t.keys {
		if key == k {
			t.keys = append(t.keys[:i:i], t.keys[i+1:]...)
			break
		}
	}
}

func (t *table) messages() []Message {
	out := make([]Message, 0, len(t.keys))
	for _, k := range t.keys {
		out = append(out, Message{Topic: k, Payload: t.vals[k]})
	}
	return out
}
