package vault

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/vault/api"

	"github.com/nhigov/terraform-provider-nhi/internal/acctest"
	"github.com/nhigov/terraform-provider-nhi/internal/clock"
	"github.com/nhigov/terraform-provider-nhi/internal/policy"
)

// rootClient is a client of the Vault at VAULT_ADDR with the root token of VAULT_TOKEN, or
// skips the test without one.
func rootClient(t *testing.T) *api.Client {
	t.Helper()
	if os.Getenv("VAULT_ADDR") == "" {
		t.Skip("VAULT_ADDR is not set: start a dev server with `eval \"$(scripts/vault-dev start)\"`")
	}
	c, err := api.NewClient(api.DefaultConfig())
	must(t, err)
	return c
}

// enableAuth enables an auth method of kind at a fresh mount, disabled when the test ends.
func enableAuth(t *testing.T, root *api.Client, kind string) string {
	t.Helper()
	mount := randomName("login-" + kind + "-")
	must(t, root.Sys().EnableAuthWithOptions(mount, &api.EnableAuthOptions{Type: kind}))
	t.Cleanup(func() { _ = root.Sys().DisableAuth(mount) })
	return mount
}

// loginTestConfig is the configuration of an engine on fresh mounts whose token comes from a
// login method (set by the caller), and the name of the apply policy its login role grants.
func loginTestConfig(t *testing.T, root *api.Client) (Config, string) {
	t.Helper()
	mount := randomName("nhi-login-")
	cfg := Config{Address: root.Address(), Mount: mount, AppRoleMount: mount + "-approle", TLS: TLS{CACertFile: os.Getenv("VAULT_CACERT")}}
	policyName := mount + "-apply"
	must(t, root.Sys().PutPolicy(policyName, ApplyPolicy(cfg.Mount, cfg.AppRoleMount)))
	t.Cleanup(func() {
		_ = root.Sys().DisableAuth(cfg.AppRoleMount)
		_ = root.Sys().Unmount(cfg.Mount)
		_ = root.Sys().DeletePolicy(policyName)
	})
	return cfg, policyName
}

// openLoggedIn opens cfg, checks that the engine can write with the token it logged in for,
// waits for one renewal of that token (its TTL is a few seconds) and closes the engine: the
// token must then be revoked.
func openLoggedIn(t *testing.T, root *api.Client, cfg Config) {
	t.Helper()
	renewed := make(chan struct{}, 1)
	logf := func(msg string, _ map[string]any) {
		if strings.HasPrefix(msg, "renewed the provider's Vault token") {
			select {
			case renewed <- struct{}{}:
			default:
			}
		}
	}
	e, err := Open(context.Background(), cfg, clock.Real{}, logf)
	if err != nil {
		t.Fatalf("Open with %s: %v", cfg.tokenSource(), err)
	}
	token := e.client.Token()
	if !e.ownsToken || token == "" {
		t.Fatalf("Open with %s: the engine does not own a login token", cfg.tokenSource())
	}
	must(t, e.PutClass(context.Background(), policy.Class{Name: "ci", Kind: policy.KindEphemeral}))
	select {
	case <-renewed:
	case <-time.After(time.Minute):
		t.Fatal("the login token (TTL 4 s) was not renewed within a minute")
	}
	must(t, e.Close())
	if _, err := root.Logical().Write("auth/token/lookup", map[string]any{"token": token}); err == nil {
		t.Fatal("the engine's login token still works after Close")
	}
}

// TestLoginAppRole: the engine logs in with AppRole (secret_id, then secret_id_file), writes
// with the apply policy its role grants, keeps the token renewed and revokes it on Close.
func TestLoginAppRole(t *testing.T) {
	root := rootClient(t)
	cfg, policyName := loginTestConfig(t, root)
	mount := enableAuth(t, root, "approle")
	_, err := root.Logical().Write("auth/"+mount+"/role/nhi-provider", map[string]any{
		"token_policies": []string{policyName}, "token_no_default_policy": true, "token_ttl": "4s", "token_max_ttl": "1h"})
	must(t, err)
	s, err := root.Logical().Read("auth/" + mount + "/role/nhi-provider/role-id")
	must(t, err)
	roleID, _ := s.Data["role_id"].(string)
	secretID := func() string {
		s, err := root.Logical().Write("auth/"+mount+"/role/nhi-provider/secret-id", nil)
		must(t, err)
		id, _ := s.Data["secret_id"].(string)
		return id
	}

	cfg.AppRole = &AppRoleLogin{Mount: mount, RoleID: roleID, SecretID: secretID()}
	openLoggedIn(t, root, cfg)

	file := filepath.Join(t.TempDir(), "secret-id")
	must(t, os.WriteFile(file, []byte(secretID()+"\n"), 0o600))
	cfg.AppRole = &AppRoleLogin{Mount: mount, RoleID: roleID, SecretIDFile: file}
	openLoggedIn(t, root, cfg)
}

// TestLoginJWT: offline JWT login. Vault issues an identity token itself (identity/oidc, for
// the entity of an AppRole login) and its jwt auth method verifies it against Vault's own
// JWKS on loopback; the engine logs in with that JWT (jwt, then jwt_file) as a CI job does
// with its OIDC ID token.
func TestLoginJWT(t *testing.T) {
	root := rootClient(t)
	cfg, policyName := loginTestConfig(t, root)
	name := randomName("nhi-oidc-")
	_, err := root.Logical().Write("identity/oidc/key/"+name, map[string]any{"allowed_client_ids": "*", "algorithm": "RS256"})
	must(t, err)
	_, err = root.Logical().Write("identity/oidc/role/"+name, map[string]any{"key": name, "ttl": "5m"})
	must(t, err)
	t.Cleanup(func() {
		_, _ = root.Logical().Delete("identity/oidc/role/" + name)
		_, _ = root.Logical().Delete("identity/oidc/key/" + name)
	})
	s, err := root.Logical().Read("identity/oidc/role/" + name)
	must(t, err)
	audience, _ := s.Data["client_id"].(string)

	// The "CI system": an AppRole login (which has an entity) allowed to mint the token.
	must(t, root.Sys().PutPolicy(name, `path "identity/oidc/token/`+name+`" { capabilities = ["read"] }`))
	t.Cleanup(func() { _ = root.Sys().DeletePolicy(name) })
	ci := enableAuth(t, root, "approle")
	_, err = root.Logical().Write("auth/"+ci+"/role/ci-job", map[string]any{"token_policies": []string{name}, "token_ttl": "5m"})
	must(t, err)
	s, err = root.Logical().Read("auth/" + ci + "/role/ci-job/role-id")
	must(t, err)
	roleID := s.Data["role_id"]
	mintJWT := func() string {
		s, err := root.Logical().Write("auth/"+ci+"/role/ci-job/secret-id", nil)
		must(t, err)
		c, err := root.Clone()
		must(t, err)
		c.ClearToken()
		login, err := c.Logical().Write("auth/"+ci+"/login", map[string]any{"role_id": roleID, "secret_id": s.Data["secret_id"]})
		must(t, err)
		c.SetToken(login.Auth.ClientToken)
		tok, err := c.Logical().Read("identity/oidc/token/" + name)
		must(t, err)
		jwt, _ := tok.Data["token"].(string)
		return jwt
	}

	jwtMount := enableAuth(t, root, "jwt")
	_, err = root.Logical().Write("auth/"+jwtMount+"/config", map[string]any{
		"jwks_url": root.Address() + "/v1/identity/oidc/.well-known/keys", "jwks_ca_pem": caPEM(t)})
	must(t, err)
	_, err = root.Logical().Write("auth/"+jwtMount+"/role/nhi-provider", map[string]any{
		"role_type": "jwt", "user_claim": "sub", "bound_audiences": []string{audience},
		"token_policies": []string{policyName}, "token_no_default_policy": true, "token_ttl": "4s", "token_max_ttl": "1h"})
	must(t, err)

	cfg.JWT = &JWTLogin{Mount: jwtMount, Role: "nhi-provider", JWT: mintJWT()}
	openLoggedIn(t, root, cfg)

	file := filepath.Join(t.TempDir(), "jwt")
	must(t, os.WriteFile(file, []byte(mintJWT()), 0o600))
	cfg.JWT = &JWTLogin{Mount: jwtMount, Role: "nhi-provider", JWTFile: file}
	openLoggedIn(t, root, cfg)

	// A JWT for another audience is refused with a message naming the login block.
	cfg.JWT = &JWTLogin{Mount: jwtMount, Role: "nhi-provider", JWT: "not-a-jwt"}
	if _, err := Open(context.Background(), cfg, nil, nil); err == nil || !strings.Contains(err.Error(), "auth_login_jwt login at") {
		t.Fatalf("Open with a bad JWT: error = %v, want the auth_login_jwt login to fail", err)
	}
}

// caPEM is the CA certificate of VAULT_CACERT (a dev server with TLS), or empty.
func caPEM(t *testing.T) string {
	t.Helper()
	f := os.Getenv("VAULT_CACERT")
	if f == "" {
		return ""
	}
	raw, err := os.ReadFile(f)
	must(t, err)
	return string(raw)
}

// TestTLS: against a dev server listening with TLS (VAULT_DEV_TLS=1 scripts/vault-dev run),
// the engine verifies the server with ca_cert_file or ca_cert_dir, fails without the CA, and
// checks the certificate against tls_server_name.
func TestTLS(t *testing.T) {
	root := rootClient(t)
	ca := os.Getenv("VAULT_CACERT")
	if !strings.HasPrefix(root.Address(), "https://") || ca == "" {
		t.Skip("needs a dev server with TLS: VAULT_DEV_TLS=1 scripts/vault-dev run go test ./internal/engine/vault/ -run TestTLS")
	}
	acctest.VaultPolicies(t, root)
	dir := t.TempDir()
	raw, err := os.ReadFile(ca)
	must(t, err)
	must(t, os.WriteFile(filepath.Join(dir, "vault-ca.pem"), raw, 0o600))
	token := os.Getenv("VAULT_TOKEN")
	for _, c := range []struct {
		name string
		tls  TLS
		want string // empty: Open succeeds
	}{
		{"ca_cert_file", TLS{CACertFile: ca}, ""},
		{"ca_cert_dir", TLS{CACertDir: dir}, ""},
		{"tls_server_name of the certificate", TLS{CACertFile: ca, ServerName: "localhost"}, ""},
		{"no CA", TLS{}, "certificate signed by unknown authority"},
		{"wrong tls_server_name", TLS{CACertFile: ca, ServerName: "vault.example.com"}, "vault.example.com"},
		{"skip_tls_verify", TLS{SkipVerify: true}, ""},
	} {
		e, err := Open(context.Background(), Config{Address: root.Address(), Token: token, TLS: c.tls}, nil, nil)
		switch {
		case c.want == "" && err != nil:
			t.Errorf("%s: Open: %v", c.name, err)
		case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), "TLS settings")):
			t.Errorf("%s: Open error = %v, want it to say %q and name the TLS settings", c.name, err, c.want)
		}
		if e != nil {
			_ = e.Close()
		}
	}
}
