package mosquitto

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// testPKI is a throw-away CA with a server certificate for 127.0.0.1 and a
// client certificate for user "probe", plus a rogue CA that signed neither
// and a client certificate from it, all as PEM files in one directory.
type testPKI struct {
	ca, rogueCA                     string
	serverCert, serverKey           string
	clientCert, clientKey           string
	rogueClientCert, rogueClientKey string
}

// newTestPKI generates the certificates in dir.
func newTestPKI(t *testing.T, dir string) *testPKI {
	t.Helper()
	p := &testPKI{
		ca:              filepath.Join(dir, "ca.pem"),
		rogueCA:         filepath.Join(dir, "rogue-ca.pem"),
		serverCert:      filepath.Join(dir, "server.pem"),
		serverKey:       filepath.Join(dir, "server.key"),
		clientCert:      filepath.Join(dir, "client.pem"),
		clientKey:       filepath.Join(dir, "client.key"),
		rogueClientCert: filepath.Join(dir, "rogue-client.pem"),
		rogueClientKey:  filepath.Join(dir, "rogue-client.key"),
	}
	caCert, caKey, caDER := selfSignedCA(t, "carpd test CA")
	writePEM(t, p.ca, "CERTIFICATE", caDER)
	// Same subject as the real CA, so that only the signature tells
	// them apart.
	rogueCert, rogueKey, rogueDER := selfSignedCA(t, "carpd test CA")
	writePEM(t, p.rogueCA, "CERTIFICATE", rogueDER)

	issue(t, caCert, caKey, &x509.Certificate{
		Subject:     pkix.Name{CommonName: "mosquitto"},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}, p.serverCert, p.serverKey)
	// use_identity_as_username makes the CN the MQTT username.
	client := func() *x509.Certificate {
		return &x509.Certificate{
			Subject:     pkix.Name{CommonName: "probe"},
			ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
		}
	}
	issue(t, caCert, caKey, client(), p.clientCert, p.clientKey)
	issue(t, rogueCert, rogueKey, client(), p.rogueClientCert, p.rogueClientKey)
	return p
}

func newKey(t *testing.T) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func serial(t *testing.T) *big.Int {
	t.Helper()
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 64))
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func selfSignedCA(t *testing.T, cn string) (*x509.Certificate, *ecdsa.PrivateKey, []byte) {
	t.Helper()
	key := newKey(t)
	tmpl := &x509.Certificate{
		SerialNumber:          serial(t),
		Subject:               pkix.Name{CommonName: cn},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return cert, key, der
}

// issue signs tmpl with ca and writes the certificate and a new key.
func issue(t *testing.T, ca *x509.Certificate, caKey *ecdsa.PrivateKey, tmpl *x509.Certificate, certPath, keyPath string) {
	t.Helper()
	key := newKey(t)
	tmpl.SerialNumber = serial(t)
	tmpl.NotBefore, tmpl.NotAfter = time.Now().Add(-time.Hour), time.Now().Add(time.Hour)
	tmpl.KeyUsage = x509.KeyUsageDigitalSignature
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, key.Public(), caKey)
	if err != nil {
		t.Fatal(err)
	}
	writePEM(t, certPath, "CERTIFICATE", der)
	k, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	writePEM(t, keyPath, "PRIVATE KEY", k)
}

func writePEM(t *testing.T, path, typ string, der []byte) {
	t.Helper()
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}
