package vault

import (
	"context"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/hashicorp/vault/api"

	"github.com/nhigov/terraform-provider-nhi/internal/engine"
)

// Default mounts of the login methods, as Vault enables them.
const (
	DefaultAppRoleLoginMount = "approle"
	DefaultJWTLoginMount     = "jwt"
)

// revokeTimeout bounds the revocation of the engine's own login token by Close: Terraform
// gives a provider process 2 s to exit after it stops serving.
const revokeTimeout = time.Second

// AppRoleLogin logs the provider in with AppRole: RoleID and SecretID, or the secret-id read
// from SecretIDFile, on the auth mount Mount (DefaultAppRoleLoginMount when empty).
type AppRoleLogin struct {
	Mount        string
	RoleID       string
	SecretID     string
	SecretIDFile string
}

// JWTLogin logs the provider in with the jwt auth method (how GitHub Actions and GitLab CI log
// in): the JWT, or the one read from JWTFile, for Role on the auth mount Mount
// (DefaultJWTLoginMount when empty).
type JWTLogin struct {
	Mount   string
	Role    string
	JWT     string
	JWTFile string
}

// loginMethod is a login that gives the engine its token: on the auth mount mount, an
// identifier (idName: id) and a secret (secretName: the secret, or the one read from
// secretFile), as the configuration block named block sets them.
type loginMethod struct {
	block, mount       string
	idName, id         string
	secretName, secret string
	secretFile         string
}

// loginMethod is the login that c asks for, or nil when the engine uses a token as it is.
func (c *Config) loginMethod() *loginMethod {
	switch {
	case c.AppRole != nil:
		l := c.AppRole
		return &loginMethod{block: "auth_login_approle", mount: orDefault(l.Mount, DefaultAppRoleLoginMount),
			idName: "role_id", id: l.RoleID, secretName: "secret_id", secret: l.SecretID, secretFile: l.SecretIDFile}
	case c.JWT != nil:
		l := c.JWT
		return &loginMethod{block: "auth_login_jwt", mount: orDefault(l.Mount, DefaultJWTLoginMount),
			idName: "role", id: l.Role, secretName: "jwt", secret: l.JWT, secretFile: l.JWTFile}
	}
	return nil
}

// request is the login's path and body, or why the block cannot log in.
func (m *loginMethod) request() (path string, body map[string]any, err error) {
	secret, err := fileOr(m.secret, m.secretFile, m.block+" "+m.secretName+"_file")
	if err != nil {
		return "", nil, err
	}
	if m.id == "" || secret == "" {
		return "", nil, fmt.Errorf("%s needs %s and %s (or %s_file): %w", m.block, m.idName, m.secretName, m.secretName, engine.ErrInvalid)
	}
	return "auth/" + m.mount + "/login", map[string]any{m.idName: m.id, m.secretName: secret}, nil
}

// tokenSource says how the engine gets its token, for messages.
func (c *Config) tokenSource() string {
	switch m := c.loginMethod(); {
	case m != nil:
		return m.block
	case c.TokenFile != "":
		return "token_file " + c.TokenFile
	default:
		return "token (or VAULT_TOKEN)"
	}
}

// login obtains the engine's token: from an AppRole or JWT login (owned: true, the engine
// renews and revokes it), from TokenFile, or the configured token. It sets the token on c.
func login(ctx context.Context, c *api.Client, cfg *Config) (s *api.Secret, owned bool, err error) {
	m := cfg.loginMethod()
	if m == nil {
		token, err := fileOr(cfg.Token, cfg.TokenFile, "token_file")
		if err != nil {
			return nil, false, err
		}
		if token == "" {
			return nil, false, fmt.Errorf("no Vault token for %s: set the vault block's token, token_file or an auth_login_approle / auth_login_jwt block, or VAULT_TOKEN: %w",
				cfg.Address, engine.ErrInvalid)
		}
		c.SetToken(token)
		return nil, false, nil
	}
	path, body, err := m.request()
	if err != nil {
		return nil, false, err
	}
	c.ClearToken()
	s, err = c.Logical().WriteWithContext(ctx, path, body)
	if err != nil {
		return nil, false, fmt.Errorf("%s login at %s/v1/%s failed: %v: check the block's role, credentials and mount: %w",
			m.block, cfg.Address, path, err, engine.ErrDenied)
	}
	if s == nil || s.Auth == nil || s.Auth.ClientToken == "" {
		return nil, false, fmt.Errorf("%s login at %s gave no token: %w", m.block, path, engine.ErrInvalid)
	}
	c.SetToken(s.Auth.ClientToken)
	return s, true, nil
}

// fileOr returns value, or the trimmed content of file when value is empty and file is set.
func fileOr(value, file, setting string) (string, error) {
	if value != "" || file == "" {
		return value, nil
	}
	raw, err := os.ReadFile(file)
	if err != nil {
		return "", fmt.Errorf("%s: %v: %w", setting, err, engine.ErrInvalid)
	}
	return strings.TrimSpace(string(raw)), nil
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// keepRenewed renews the engine's login token for as long as the engine is open (a long apply
// outlives a short login TTL), logging why renewal stops;
// Close stops it.
func (e *Engine) keepRenewed(s *api.Secret) {
	if !s.Auth.Renewable {
		return
	}
	w, err := e.client.NewLifetimeWatcher(&api.LifetimeWatcherInput{Secret: s})
	if err != nil {
		e.logf("cannot renew the provider's Vault token", map[string]any{"error": err.Error()})
		return
	}
	e.stopRenew = w.Stop
	go w.Start()
	go func() {
		for {
			select {
			case err := <-w.DoneCh():
				if err != nil {
					e.logf("stopped renewing the provider's Vault token", map[string]any{"error": err.Error()})
				}
				return
			case r := <-w.RenewCh():
				e.logf("renewed the provider's Vault token", map[string]any{"ttl_seconds": r.Secret.Auth.LeaseDuration})
			}
		}
	}()
}

// Close stops renewing the engine's token and, when the engine logged in itself (AppRole or
// JWT), revokes that token, so no working token of the provider outlives the process. A token
// the user gave (token, token_file, VAULT_TOKEN) is theirs and is only forgotten.
func (e *Engine) Close() error {
	e.closeOnce.Do(func() {
		if e.stopRenew != nil {
			e.stopRenew()
		}
		if e.ownsToken {
			ctx, cancel := context.WithTimeout(context.Background(), revokeTimeout)
			defer cancel()
			if err := e.client.Auth().Token().RevokeSelfWithContext(ctx, ""); err != nil {
				e.closeErr = e.vaultErr("write", "auth/token/revoke-self", err)
			}
		}
		e.client.ClearToken()
	})
	return e.closeErr
}
