package vault

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// testCert issues a certificate for cn signed by ca (self-signed when ca is nil) and writes it
// and its key as PEM files into dir.
func testCert(t *testing.T, dir, cn string, ca *x509.Certificate, caKey *ecdsa.PrivateKey) (*x509.Certificate, *ecdsa.PrivateKey, string, string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	must(t, err)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage:    x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, DNSNames: []string{"vault.internal"},
	}
	parent, signer := tmpl, key
	if ca == nil {
		tmpl.IsCA, tmpl.BasicConstraintsValid = true, true
	} else {
		parent, signer = ca, caKey
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, signer)
	must(t, err)
	cert, err := x509.ParseCertificate(der)
	must(t, err)
	keyDER, err := x509.MarshalECPrivateKey(key)
	must(t, err)
	certFile, keyFile := filepath.Join(dir, cn+".pem"), filepath.Join(dir, cn+"-key.pem")
	must(t, os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600))
	must(t, os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), 0o600))
	return cert, key, certFile, keyFile
}

// TestMutualTLS: against a server that requires a client certificate (Vault's
// tls_require_and_verify_client_cert), the engine presents client_cert/client_key and is
// refused without them. The server is a stand-in answering the two requests Open makes: the
// dev server cannot require client certificates (TestTLS covers a real Vault with TLS).
func TestMutualTLS(t *testing.T) {
	dir := t.TempDir()
	ca, caKey, caFile, _ := testCert(t, dir, "test-ca", nil, nil)
	serverCert, serverKey, _, _ := testCert(t, dir, "vault-server", ca, caKey)
	_, _, clientCert, clientKey := testCert(t, dir, "nhi-provider", ca, caKey)
	pool := x509.NewCertPool()
	pool.AddCert(ca)

	var clients []string
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		clients = append(clients, r.TLS.PeerCertificates[0].Subject.CommonName)
		w.Header().Set("Content-Type", "application/json")
		if r.URL.Path == "/v1/sys/seal-status" {
			_, _ = w.Write([]byte(`{"initialized":true,"sealed":false,"t":1,"n":1,"progress":0}`))
			return
		}
		_, _ = w.Write([]byte(`{"data":{"policies":["nhi-apply"]}}`))
	}))
	srv.TLS = &tls.Config{
		ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: pool, MinVersion: tls.VersionTLS12,
		Certificates: []tls.Certificate{{Certificate: [][]byte{serverCert.Raw}, PrivateKey: serverKey}},
	}
	srv.StartTLS()
	defer srv.Close()

	open := func(tlsCfg TLS) error {
		e, err := Open(context.Background(), Config{Address: srv.URL, Token: "t", TLS: tlsCfg}, nil, nil)
		if e != nil {
			_ = e.Close()
		}
		return err
	}
	if err := open(TLS{CACertFile: caFile, ClientCert: clientCert, ClientKey: clientKey}); err != nil {
		t.Fatalf("Open with client_cert: %v", err)
	}
	if len(clients) == 0 || clients[0] != "nhi-provider" {
		t.Fatalf("the server saw client certificates %q, want nhi-provider", clients)
	}
	// tls_server_name: the address is 127.0.0.1, the certificate also names vault.internal.
	if err := open(TLS{CACertFile: caFile, ClientCert: clientCert, ClientKey: clientKey, ServerName: "vault.internal"}); err != nil {
		t.Fatalf("Open with tls_server_name vault.internal: %v", err)
	}
	if err := open(TLS{CACertFile: caFile}); err == nil || !strings.Contains(err.Error(), "TLS settings") {
		t.Fatalf("Open without a client certificate: error = %v, want a refusal naming the TLS settings", err)
	}
}
