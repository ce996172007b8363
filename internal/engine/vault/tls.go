package vault

import (
	"crypto/tls"
	"fmt"
	"net/http"

	"github.com/hashicorp/vault/api"

	"github.com/nhigov/terraform-provider-nhi/internal/engine"
)

// TLS configures how the engine verifies Vault and, for mutual TLS, presents itself.
type TLS struct {
	// CACertFile is a PEM file of CA certificates to verify the server with (VAULT_CACERT).
	CACertFile string
	// CACertDir is a directory of PEM CA certificates (VAULT_CAPATH).
	CACertDir string
	// ClientCert and ClientKey are the PEM certificate and key presented to a server that asks
	// for one (VAULT_CLIENT_CERT, VAULT_CLIENT_KEY); both or neither.
	ClientCert string
	ClientKey  string
	// ServerName is the name expected in the server's certificate when it differs from the
	// address's host (VAULT_TLS_SERVER_NAME).
	ServerName string
	// SkipVerify turns verification off: development servers only (VAULT_SKIP_VERIFY is not
	// read: turning verification off takes the explicit setting).
	SkipVerify bool
}

func (t *TLS) applyEnv(fill func(field *string, vars ...string)) {
	fill(&t.CACertFile, "VAULT_CACERT")
	fill(&t.CACertDir, "VAULT_CAPATH")
	fill(&t.ClientCert, "VAULT_CLIENT_CERT")
	fill(&t.ClientKey, "VAULT_CLIENT_KEY")
	fill(&t.ServerName, "VAULT_TLS_SERVER_NAME")
}

// configure applies t, and only t, to the client configuration ac: the TLS settings that
// api.DefaultConfig took from the environment are dropped first, so the vault block (filled
// from the environment by ApplyEnv) is the one source.
func (t TLS) configure(ac *api.Config) error {
	if (t.ClientCert == "") != (t.ClientKey == "") {
		return fmt.Errorf("vault TLS: client_cert and client_key go together (VAULT_CLIENT_CERT, VAULT_CLIENT_KEY): set both or neither: %w", engine.ErrInvalid)
	}
	if tr, ok := ac.HttpClient.Transport.(*http.Transport); ok {
		tr.TLSClientConfig = &tls.Config{MinVersion: tls.VersionTLS12}
	}
	err := ac.ConfigureTLS(&api.TLSConfig{
		CACert: t.CACertFile, CAPath: t.CACertDir,
		ClientCert: t.ClientCert, ClientKey: t.ClientKey,
		TLSServerName: t.ServerName, Insecure: t.SkipVerify,
	})
	if err != nil {
		return fmt.Errorf("vault TLS settings (ca_cert_file %q, ca_cert_dir %q, client_cert %q, client_key %q): %v: %w",
			t.CACertFile, t.CACertDir, t.ClientCert, t.ClientKey, err, engine.ErrInvalid)
	}
	return nil
}
