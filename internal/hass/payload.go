package hass

import (
	"encoding/json"
	"strconv"
	"time"
)

// Payloads of the state topics. Home Assistant's MQTT binary_sensor reads
// ON and OFF by default, and its availability online and offline.
const (
	Online  = "online"
	Offline = "offline"
	On      = "ON"
	Off     = "OFF"
	// Unknown sets a sensor's state to unknown: Home Assistant's MQTT
	// sensor treats the payload "None" so.
	Unknown = "None"
)

// Message is one retained MQTT message.
type Message struct {
	Topic   string
	Payload string
}

// Node says how this node appears in Home Assistant.
type Node struct {
	// ID is the node id: [A-Za-z0-9_-], distinct per node.
	ID string
	// DiscoveryPrefix is Home Assistant's discovery prefix.
	DiscoveryPrefix string
	// StatePrefix is where the states go.
	StatePrefix string
	// Version is carpd's version, shown as the device's firmware.
	Version string
	// ExpireAfter, if set, makes Home Assistant show an entity
	// unavailable when no state arrived for that long. A node that dies
	// takes its broker with it, so its Will never reaches the peer's
	// broker; only the expiry tells Home Assistant, connected to the
	// survivor, that the dead node's retained "ON" is stale. The
	// Publisher sends every state again each Config.Refresh.
	ExpireAfter time.Duration
}

// Availability is the topic of online / offline.
func (n Node) Availability() string { return n.StatePrefix + "/availability" }

// MasterTopic is the state topic of router's binary_sensor.
func (n Node) MasterTopic(router string) string { return n.StatePrefix + "/" + router + "/master" }

// AdvertsLostTopic is the state topic of router's adverts-lost
// binary_sensor.
func (n Node) AdvertsLostTopic(router string) string {
	return n.StatePrefix + "/" + router + "/adverts_lost"
}

// LatencyTopic is the state topic of the latency sensor of a bridge
// direction ("out" or "in").
func (n Node) LatencyTopic(dir string) string { return n.StatePrefix + "/probe/" + dir + "/latency" }

// MasterPayload is the state of a router's binary_sensor.
func MasterPayload(master bool) string {
	if master {
		return On
	}
	return Off
}

// LatencyPayload is the state of a latency sensor: milliseconds with a
// tenth, or Unknown while the direction does not replicate.
func LatencyPayload(rtt time.Duration, ok bool) string {
	if !ok {
		return Unknown
	}
	return strconv.FormatFloat(float64(rtt.Microseconds())/1000, 'f', 1, 64)
}

// entity holds the keys of a discovery config, in the order Home
// Assistant's documentation lists them; the full key names are used, not
// the abbreviations, so the retained configs can be read by people.
type entity struct {
	Name                string `json:"name"`
	UniqueID            string `json:"unique_id"`
	StateTopic          string `json:"state_topic"`
	PayloadOn           string `json:"payload_on,omitempty"`
	PayloadOff          string `json:"payload_off,omitempty"`
	DeviceClass         string `json:"device_class,omitempty"`
	StateClass          string `json:"state_class,omitempty"`
	Unit                string `json:"unit_of_measurement,omitempty"`
	Precision           *int   `json:"suggested_display_precision,omitempty"`
	EntityCategory      string `json:"entity_category,omitempty"`
	Icon                string `json:"icon"`
	AvailabilityTopic   string `json:"availability_topic"`
	PayloadAvailable    string `json:"payload_available"`
	PayloadNotAvailable string `json:"payload_not_available"`
	QoS                 int    `json:"qos"`
	Device              device `json:"device"`
	Origin              origin `json:"origin"`
	ExpireAfter         int    `json:"expire_after,omitempty"`
}

type device struct {
	Identifiers  []string `json:"identifiers"`
	Name         string   `json:"name"`
	Manufacturer string   `json:"manufacturer"`
	Model        string   `json:"model"`
	SWVersion    string   `json:"sw_version,omitempty"`
}

type origin struct {
	Name      string `json:"name"`
	SWVersion string `json:"sw_version,omitempty"`
}

func (n Node) base(name, unique, state string) entity {
	return entity{
		Name: name, UniqueID: unique, StateTopic: state,
		AvailabilityTopic: n.Availability(), PayloadAvailable: Online, PayloadNotAvailable: Offline, QoS: 1,
		// One device per node groups its entities; Home Assistant shows
		// the device name before each entity's name.
		Device: device{Identifiers: []string{"carpd_" + n.ID}, Name: "carpd " + n.ID, Manufacturer: "carpd",
			Model: "carpd", SWVersion: n.Version},
		Origin:      origin{Name: "carpd", SWVersion: n.Version},
		ExpireAfter: int(n.ExpireAfter / time.Second),
	}
}

// objectID makes a router name (which may hold '.') usable as a discovery
// object id and in a unique id: [A-Za-z0-9_-] only.
func objectID(s string) string {
	b := []byte(s)
	for i, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			b[i] = '_'
		}
	}
	return string(b)
}

// discoveryTopic is <prefix>/<component>/carpd_<node>/<object>/config, the
// form Home Assistant subscribes to (<prefix>/+/+/+/config).
func (n Node) discoveryTopic(component, object string) string {
	return n.DiscoveryPrefix + "/" + component + "/carpd_" + n.ID + "/" + object + "/config"
}

// MasterConfig is the discovery config of router's binary_sensor: ON while
// this node is MASTER of router, that is holds its VIPs. No device class
// fits (connectivity would read "connected"), so it shows on / off.
func (n Node) MasterConfig(router string) Message {
	obj := objectID(router) + "_master"
	e := n.base("holds "+router+" VIP", "carpd_"+n.ID+"_"+obj, n.MasterTopic(router))
	e.PayloadOn, e.PayloadOff, e.Icon = On, Off, "mdi:ip-network"
	return Message{Topic: n.discoveryTopic("binary_sensor", obj), Payload: marshal(e)}
}

// AdvertsLostConfig is the discovery config of router's adverts-lost
// binary_sensor: ON while this node is BACKUP, its master-down timer has
// run out, and the peer is alive and MASTER over the broker path
// (docs/daemon.md, "Heartbeat"): multicast between the nodes is broken
// while both live. Home Assistant's "problem" class reads it as Problem /
// OK.
func (n Node) AdvertsLostConfig(router string) Message {
	obj := objectID(router) + "_adverts_lost"
	e := n.base("adverts from peer lost ("+router+")", "carpd_"+n.ID+"_"+obj, n.AdvertsLostTopic(router))
	e.PayloadOn, e.PayloadOff, e.DeviceClass = On, Off, "problem"
	e.EntityCategory, e.Icon = "diagnostic", "mdi:lan-disconnect"
	return Message{Topic: n.discoveryTopic("binary_sensor", obj), Payload: marshal(e)}
}

// LatencyConfig is the discovery config of the sensor of a bridge
// direction: the probe's publish-to-delivery time across the bridge.
func (n Node) LatencyConfig(dir string) Message {
	obj := "bridge_" + objectID(dir) + "_latency"
	e := n.base("bridge "+dir+" latency", "carpd_"+n.ID+"_"+obj, n.LatencyTopic(dir))
	prec := 1
	e.DeviceClass, e.StateClass, e.Unit, e.Precision = "duration", "measurement", "ms", &prec
	e.EntityCategory, e.Icon = "diagnostic", "mdi:timer-sync-outline"
	return Message{Topic: n.discoveryTopic("sensor", obj), Payload: marshal(e)}
}

// Remove returns the message that deletes a retained discovery config or
// state: an empty retained payload (Home Assistant then removes the
// entity).
func Remove(topic string) Message { return Message{Topic: topic} }

func marshal(e entity) string {
	b, err := json.Marshal(e)
	if err != nil {
		// entity holds only strings, ints and slices of strings.
		panic(err)
	}
	return string(b)
}
