// Package vault is the engine for HashiCorp Vault and OpenBao (same API), the engine for real
// fleets. Each identity is a Vault identity entity (its metadata names class, owner and
// environment), an AppRole role whose token settings carry the identity's TTL policy, and an
// entity alias binding the role's tokens to the entity. A dynamic credential is a Vault token
// from an AppRole login with a single-use secret-id. The rotated secret of a persistent
// identity is versioned in KV v2, and each version that authenticates is a custom secret-id of
// the identity's role (see rotation.go). Governance records, identity records, credential
// records, secret version records and the audit log are JSON in a KV v2 mount owned by the
// provider.
//
// Vault enforces credential terms in real time (token TTL, explicit max TTL, number of uses);
// the engine also checks its own records against the injected clock, so that expiry and
// renewal budgets hold, and can be tested, independently of Vault's clock.
package vault

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/hashicorp/vault/api"

	"github.com/nhigov/terraform-provider-nhi/internal/clock"
	"github.com/nhigov/terraform-provider-nhi/internal/engine"
	"github.com/nhigov/terraform-provider-nhi/internal/policy"
)

// Defaults for the provider's mounts.
const (
	DefaultMount        = "nhi"
	DefaultAppRoleMount = "nhi-approle"
)

// mountReadyTimeout bounds the wait for a new KV v2 mount to finish its set-up.
const mountReadyTimeout = 10 * time.Second

// Config configures the connection to Vault or OpenBao.
type Config struct {
	Address string
	// Addresses are further nodes of the cluster, tried in turn with Address when a request is
	// retried (see retry.go).
	Addresses []string
	// RetryWindow bounds the retries of one request; DefaultRetryWindow when zero.
	RetryWindow time.Duration
	// The engine's token comes from exactly one of: an AppRole login, a JWT login, Token,
	// TokenFile (see login.go). A token from a login is renewed while the engine is open and
	// revoked by Close.
	Token     string
	TokenFile string
	AppRole   *AppRoleLogin
	JWT       *JWTLogin
	Namespace string
	// Mount is the KV v2 mount holding the provider's records; DefaultMount when empty.
	Mount string
	// AppRoleMount is the AppRole auth mount of the identities; DefaultAppRoleMount when empty.
	AppRoleMount string
	TLS          TLS
	// AuditLogPath is the file of a Vault file audit device that the engine reads to learn
	// when identities were last used (lastuse.go); empty: last use is unknown.
	AuditLogPath string
}

// ApplyEnv fills empty fields from VAULT_ADDR, VAULT_NAMESPACE and the TLS variables (see
// TLS), then from BAO_ADDR; the token from VAULT_TOKEN, then BAO_TOKEN, only when no other
// token source is configured; and defaults the mounts.
func (c *Config) ApplyEnv() {
	fill := func(field *string, vars ...string) {
		for _, v := range vars {
			if *field == "" {
				*field = os.Getenv(v)
			}
		}
	}
	fill(&c.Address, "VAULT_ADDR", "BAO_ADDR")
	if c.TokenFile == "" && c.AppRole == nil && c.JWT == nil {
		fill(&c.Token, "VAULT_TOKEN", "BAO_TOKEN")
	}
	fill(&c.Namespace, "VAULT_NAMESPACE")
	c.TLS.applyEnv(fill)
	c.applyDefaults()
}

func (c *Config) applyDefaults() {
	if c.Mount == "" {
		c.Mount = DefaultMount
	}
	if c.AppRoleMount == "" {
		c.AppRoleMount = DefaultAppRoleMount
	}
}

// Engine is the Vault engine. It is safe for concurrent use; concurrent writers of one record,
// in this process or another, are serialised by KV v2 check-and-set.
type Engine struct {
	// GovernanceRecords keeps the classes, TTL policies, owners and rotation schedules
	// (governance.go).
	engine.GovernanceRecords

	client      *api.Client
	addr        string
	retryWindow time.Duration
	namespace   string
	mount       string
	approle     string
	clock       clock.Clock
	logf        func(msg string, fields map[string]any)

	// mountsMu guards the lazy creation of the mounts by the first write (see ensureMounts).
	mountsMu    sync.Mutex
	mountsReady bool
	// accessor is the AppRole mount's accessor, which new entity aliases name; set by
	// ensureMounts.
	accessor string

	// ownsToken: the engine logged in itself and revokes its token on Close (login.go);
	// stopRenew stops the renewal of that token.
	ownsToken bool
	stopRenew func()
	closeOnce sync.Once
	closeErr  error

	// gov caches the governance records (see governance.go).
	gov govCache
	// use reads the audit log for last use (lastuse.go); nil without one.
	use *useLog
	// written keeps the identity records this engine wrote last (see identities.go).
	written written
	// inspectors keeps the targets' inspector logins (see targets.go).
	inspectors inspectorCache
}

var _ engine.Engine = (*Engine)(nil)

// Open connects, checks that the server is reachable and unsealed and that the token works,
// and returns the engine. It writes nothing: the first write creates the KV v2 mount and the
// AppRole auth mount when absent (see ensureMounts), so plans and drift jobs work with a
// read-only token (ReadOnlyPolicy). A nil clk is the wall clock; a nil logf discards.
func Open(ctx context.Context, cfg Config, clk clock.Clock, logf func(msg string, fields map[string]any)) (*Engine, error) {
	cfg.applyDefaults()
	if clk == nil {
		clk = clock.Real{}
	}
	if logf == nil {
		logf = func(string, map[string]any) {}
	}
	if cfg.Address == "" && len(cfg.Addresses) > 0 {
		cfg.Address = cfg.Addresses[0]
	}
	if cfg.Address == "" {
		return nil, fmt.Errorf("no Vault address: set the vault block's address, VAULT_ADDR or BAO_ADDR: %w", engine.ErrInvalid)
	}
	for _, m := range []string{cfg.Mount, cfg.AppRoleMount} {
		if err := policy.CheckName(m); err != nil {
			return nil, fmt.Errorf("vault mount: %v: %w", err, engine.ErrInvalid)
		}
	}

	ac := api.DefaultConfig()
	ac.Address, ac.AgentAddress = cfg.Address, ""
	if err := cfg.TLS.configure(ac); err != nil {
		return nil, err
	}
	// Retries are the retryTransport's, against the configured addresses only.
	addrs, err := cfg.addressList()
	if err != nil {
		return nil, err
	}
	if cfg.RetryWindow <= 0 {
		cfg.RetryWindow = DefaultRetryWindow
	}
	ac.MaxRetries = 0
	ac.HttpClient.Transport = &retryTransport{next: ac.HttpClient.Transport, addrs: addrs, window: cfg.RetryWindow, logf: logf}
	client, err := api.NewClient(ac)
	if err != nil {
		return nil, fmt.Errorf("vault client for %s: %v: %w", cfg.Address, err, engine.ErrInvalid)
	}
	client.ClearToken()
	setNamespace(client, cfg.Namespace)

	e := &Engine{client: client, addr: cfg.Address, namespace: cfg.Namespace, retryWindow: cfg.RetryWindow,
		mount: cfg.Mount, approle: cfg.AppRoleMount, clock: clk, logf: logf, use: newUseLog(cfg.AuditLogPath)}
	e.GovernanceRecords = e.governanceRecords()
	if err := e.checkSeal(ctx); err != nil {
		return nil, err
	}
	s, owned, err := login(ctx, client, &cfg)
	if err != nil {
		return nil, err
	}
	e.ownsToken = owned
	if err := e.checkToken(ctx, cfg.tokenSource()); err != nil {
		_ = e.Close()
		return nil, err
	}
	if owned {
		e.keepRenewed(s)
	}
	return e, nil
}

// ensureMounts creates the KV v2 mount and the AppRole auth mount when absent (logging each
// creation through logf) and records the AppRole mount's accessor, once per engine: write and
// del call it before their first request. Reads never do; against mounts that do not exist yet
// they find nothing.
func (e *Engine) ensureMounts(ctx context.Context) error {
	e.mountsMu.Lock()
	defer e.mountsMu.Unlock()
	if e.mountsReady {
		return nil
	}
	if err := e.ensureKVMount(ctx); err != nil {
		return err
	}
	if err := e.ensureAppRoleMount(ctx); err != nil {
		return err
	}
	e.mountsReady = true
	return nil
}

// Client returns the engine's Vault client, which sends the engine's token: for tests and
// tooling that inspect what Vault holds. Requests through it bypass the engine's records.
func (e *Engine) Client() *api.Client { return e.client }

// Mount returns the KV v2 mount holding the engine's records.
func (e *Engine) Mount() string { return e.mount }

// AppRoleMount returns the AppRole auth mount of the identities.
func (e *Engine) AppRoleMount() string { return e.approle }

// RoleName returns the name of an identity's AppRole role on AppRoleMount.
func (e *Engine) RoleName(identity string) string { return identity }

// EntityName returns the name of an identity's Vault entity.
func (e *Engine) EntityName(identity string) string { return e.entityName(identity) }

// checkSeal fails with ErrUnavailable, naming the address setting, when Vault is unreachable,
// uninitialised or sealed. It needs no token.
func (e *Engine) checkSeal(ctx context.Context) error {
	st, err := e.client.Sys().SealStatusWithContext(onePass(ctx))
	if err != nil {
		return fmt.Errorf("%w: check the vault block's address (or VAULT_ADDR, BAO_ADDR) and, for https, its TLS settings",
			e.vaultErr("read", "sys/seal-status", err))
	}
	switch {
	case !st.Initialized:
		return fmt.Errorf("%w: Vault at %s is not initialized: run `vault operator init`", engine.ErrUnavailable, e.addr)
	case st.Sealed:
		return fmt.Errorf("%w: Vault at %s is sealed: unseal it (`vault operator unseal`) and retry", engine.ErrUnavailable, e.addr)
	}
	return nil
}

// checkToken fails with a clear error, naming where the token came from, when Vault refuses it.
func (e *Engine) checkToken(ctx context.Context, source string) error {
	if _, err := e.read(ctx, "auth/token/lookup-self"); err != nil {
		if errors.Is(err, engine.ErrDenied) {
			return fmt.Errorf("the Vault token from %s was refused by %s (expired, revoked or mistyped?): %w", source, e.addr, err)
		}
		return err
	}
	return nil
}

// ensureMount returns the mount at path (of kind "mounts" or "auth") among those list
// returns; when there is none, it enables one with enable and looks again. Another process may
// enable the mount meanwhile, so a failed enable is no error when the mount is there after all.
// made says whether this call enabled it.
func ensureMount[M any](ctx context.Context, e *Engine, kind, path string, list func(context.Context) (map[string]*M, error), enable func() error) (m *M, made bool, err error) {
	find := func() (*M, error) {
		all, err := list(ctx)
		if err != nil {
			return nil, e.vaultErr("list", "sys/"+kind, err)
		}
		return all[path+"/"], nil
	}
	if m, err = find(); err != nil || m != nil {
		return m, false, err
	}
	if err := enable(); err != nil {
		if m, _ = find(); m == nil {
			return nil, false, e.vaultErr("write", "sys/"+kind+"/"+path, err)
		}
		return m, false, nil
	}
	m, err = find()
	return m, true, err
}

// ensureKVMount creates the provider's KV v2 mount when absent, and refuses a mount of that
// path that is not KV version 2.
func (e *Engine) ensureKVMount(ctx context.Context) error {
	m, made, err := ensureMount(ctx, e, "mounts", e.mount, e.client.Sys().ListMountsWithContext, func() error {
		in := &api.MountInput{Type: "kv", Description: "terraform-provider-nhi records: governance, identities, credentials, audit",
			Options: map[string]string{"version": "2"}}
		return e.client.Sys().MountWithContext(ctx, e.mount, in)
	})
	if err != nil {
		return err
	}
	if m == nil || m.Type != "kv" || m.Options["version"] != "2" {
		kind, version := "missing", ""
		if m != nil {
			kind, version = m.Type, m.Options["version"]
		}
		return fmt.Errorf("the Vault mount %s/ is a %s mount (version %q), not KV version 2: choose another mount for the provider: %w",
			e.mount, kind, version, engine.ErrInvalid)
	}
	if made {
		e.logf("created the KV v2 mount for the provider's records", map[string]any{"mount": e.mount, "address": e.addr})
		return e.waitKVReady(ctx)
	}
	return nil
}

// waitKVReady waits for a new KV v2 mount to finish its set-up: until then it answers
// "upgrading from non-versioned to versioned data".
func (e *Engine) waitKVReady(ctx context.Context) error {
	deadline := time.Now().Add(mountReadyTimeout)
	for {
		_, err := e.read(ctx, e.mount+"/config")
		if err == nil || time.Now().After(deadline) {
			return err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w: waiting for KV mount %s: %v", engine.ErrUnavailable, e.mount, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// ensureAppRoleMount enables the AppRole auth mount when absent and records its accessor.
func (e *Engine) ensureAppRoleMount(ctx context.Context) error {
	a, made, err := ensureMount(ctx, e, "auth", e.approle, e.client.Sys().ListAuthWithContext, func() error {
		in := &api.EnableAuthOptions{Type: "approle", Description: "terraform-provider-nhi identities"}
		return e.client.Sys().EnableAuthWithOptionsWithContext(ctx, e.approle, in)
	})
	if err != nil {
		return err
	}
	if made {
		e.logf("enabled the AppRole auth mount for identities", map[string]any{"auth_mount": e.approle, "address": e.addr})
	}
	if a == nil || a.Type != "approle" {
		kind := "missing"
		if a != nil {
			kind = a.Type
		}
		return fmt.Errorf("the Vault auth mount %s/ is %s, not approle: choose another approle_mount: %w", e.approle, kind, engine.ErrInvalid)
	}
	e.accessor = a.Accessor
	return nil
}

// as returns a client of the same server that sends token instead of the engine's own
// token, or no token when token is empty.
func (e *Engine) as(token string) (*api.Client, error) {
	c, err := e.client.Clone()
	if err != nil {
		return nil, fmt.Errorf("vault client: %v: %w", err, engine.ErrUnavailable)
	}
	c.SetToken(token)
	setNamespace(c, e.namespace)
	return c, nil
}

// setNamespace sends requests to namespace ns, or to the root namespace when ns is empty
// (whatever VAULT_NAMESPACE says: the configuration is explicit).
func setNamespace(c *api.Client, ns string) {
	if ns == "" {
		c.ClearNamespace()
		return
	}
	c.SetNamespace(ns)
}

// read runs one read with the engine's token; Vault having nothing at path is ErrNotFound.
// read, write, list and del all map errors with vaultErr.
func (e *Engine) read(ctx context.Context, path string) (*api.Secret, error) {
	s, err := e.client.Logical().ReadWithContext(ctx, path)
	if err != nil {
		return nil, e.vaultErr("read", path, err)
	}
	if s == nil {
		return nil, fmt.Errorf("%s: %w", path, engine.ErrNotFound)
	}
	return s, nil
}

// write runs one write with the engine's token, after ensureMounts; the answer may be nil (204
// No Content).
func (e *Engine) write(ctx context.Context, path string, data map[string]any) (*api.Secret, error) {
	if err := e.ensureMounts(ctx); err != nil {
		return nil, err
	}
	s, err := e.client.Logical().WriteWithContext(ctx, path, data)
	return s, e.vaultErr("write", path, err)
}

// lookup runs a look-up that Vault serves only as a write (POST auth/token/lookup-accessor, say):
// it changes nothing, so it neither creates mounts nor needs more than the look-up's capability,
// and retryTransport retries it like a read.
func (e *Engine) lookup(ctx context.Context, path string, data map[string]any) (*api.Secret, error) {
	s, err := e.client.Logical().WriteWithContext(idempotent(ctx), path, data)
	return s, e.vaultErr("write", path, err)
}

// list returns the keys at path, none when Vault has nothing there.
func (e *Engine) list(ctx context.Context, path string) ([]string, error) {
	s, err := e.client.Logical().ListWithContext(ctx, path)
	if err != nil || s == nil {
		return nil, e.vaultErr("list", path, err)
	}
	raw, _ := s.Data["keys"].([]any)
	keys := make([]string, 0, len(raw))
	for _, k := range raw {
		if k, ok := k.(string); ok {
			keys = append(keys, k)
		}
	}
	return keys, nil
}

// del runs one delete with the engine's token, after ensureMounts.
func (e *Engine) del(ctx context.Context, path string) error {
	if err := e.ensureMounts(ctx); err != nil {
		return err
	}
	_, err := e.client.Logical().DeleteWithContext(ctx, path)
	return e.vaultErr("delete", path, err)
}
