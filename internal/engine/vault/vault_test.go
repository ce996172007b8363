package vault

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/vault/api"

	"github.com/nhigov/terraform-provider-nhi/internal/acctest"
	"github.com/nhigov/terraform-provider-nhi/internal/clock"
	"github.com/nhigov/terraform-provider-nhi/internal/engine"
	"github.com/nhigov/terraform-provider-nhi/internal/engine/enginetest"
	"github.com/nhigov/terraform-provider-nhi/internal/policy"
)

// openTest opens an engine on fresh, uniquely named mounts of the Vault at VAULT_ADDR, so
// tests never collide and can run again and again against one server; it removes the mounts
// and the entities it made when the test ends. Without VAULT_ADDR the test is skipped.
func openTest(t testing.TB, clk clock.Clock) *Engine {
	t.Helper()
	if os.Getenv("VAULT_ADDR") == "" {
		t.Skip("VAULT_ADDR is not set: start a dev server with `eval \"$(scripts/vault-dev start)\"` (make testacc does it)")
	}
	mount := randomName("nhi-test-")
	cfg := Config{Mount: mount, AppRoleMount: mount + "-approle", AuditLogPath: acctest.VaultAuditLog(t)}
	cfg.ApplyEnv()
	e, err := Open(context.Background(), cfg, clk, func(msg string, fields map[string]any) { t.Logf("%s %v", msg, fields) })
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	acctest.VaultPolicies(t, e.client)
	t.Cleanup(func() {
		ctx := context.Background()
		if ids, err := e.ListIdentities(ctx); err == nil {
			for _, id := range ids {
				_ = e.del(ctx, e.entityPath(id.Name))
			}
		}
		_ = e.client.Sys().DisableAuthWithContext(ctx, e.approle)
		_ = e.client.Sys().UnmountWithContext(ctx, e.mount)
		_ = e.client.Sys().UnmountWithContext(ctx, e.DatabaseMount())
		_ = e.Close()
	})
	return e
}

// randomName is prefix with a random suffix: a name no other test run uses.
func randomName(prefix string) string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return prefix + hex.EncodeToString(b)
}

// openTestNow is openTest on a fake clock that starts now.
func openTestNow(t testing.TB) (*Engine, *clock.Fake) {
	t.Helper()
	clk := clock.NewFake(time.Now())
	return openTest(t, clk), clk
}

func TestConformance(t *testing.T) {
	enginetest.Run(t, func(t *testing.T, clk *clock.Fake) engine.Engine { return openTest(t, clk) })
}

// TestTargetConformance runs the target suites on Vault (make testpg).
func TestTargetConformance(t *testing.T) {
	factory := func(t *testing.T, clk *clock.Fake) engine.Engine { return openTest(t, clk) }
	enginetest.RunTargets(t, factory)
	enginetest.RunTargetCredentials(t, factory)
	enginetest.RunTargetRotation(t, factory)
}

// setupIdentity stores an ephemeral class, policy p and an identity under them.
func setupIdentity(t testing.TB, e *Engine, p policy.TTLPolicy, name string) {
	t.Helper()
	ctx := context.Background()
	must(t, e.PutClass(ctx, policy.Class{Name: p.Class, Kind: policy.KindEphemeral, MaxLifetime: time.Hour}))
	must(t, e.PutTTLPolicy(ctx, p))
	// Scope "default" lets the identity's tokens look themselves up (lookupSelf).
	_, err := e.CreateIdentity(ctx, policy.Identity{Name: name, Class: p.Class, Owner: "team-test", TTLPolicy: p.Name, Scopes: []string{"default"}})
	must(t, err)
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("unexpected error: %v", err)
	}
}

// lookupSelf asks Vault itself, bypassing the engine's records, whether token still works.
func lookupSelf(t *testing.T, e *Engine, token string) error {
	t.Helper()
	c, err := e.as(token)
	must(t, err)
	_, err = c.Logical().ReadWithContext(context.Background(), "auth/token/lookup-self")
	return err
}

func TestVaultEnforcesTTL(t *testing.T) {
	e := openTest(t, clock.Real{})
	ctx := context.Background()
	setupIdentity(t, e, policy.TTLPolicy{Name: "brief", Class: "ci", TTL: 2 * time.Second}, "ci-brief")
	_, token, err := e.IssueCredential(ctx, engine.CredentialRequest{Identity: "ci-brief"})
	must(t, err)
	if err := lookupSelf(t, e, token); err != nil {
		t.Fatalf("fresh token refused by Vault: %v", err)
	}
	time.Sleep(3500 * time.Millisecond)
	if err := lookupSelf(t, e, token); err == nil {
		t.Fatal("Vault still accepts the token after its 2s TTL")
	}
	if _, err := e.Authenticate(ctx, token); !errors.Is(err, engine.ErrDenied) {
		t.Fatalf("Authenticate after expiry: error = %v, want ErrDenied", err)
	}
}

func TestVaultEnforcesMaxUses(t *testing.T) {
	e := openTest(t, clock.Real{})
	ctx := context.Background()
	setupIdentity(t, e, policy.TTLPolicy{Name: "twice", Class: "ci", TTL: time.Minute, MaxUses: 2}, "ci-twice")
	_, token, err := e.IssueCredential(ctx, engine.CredentialRequest{Identity: "ci-twice"})
	must(t, err)
	for i := range 2 {
		if err := lookupSelf(t, e, token); err != nil {
			t.Fatalf("use %d: %v", i+1, err)
		}
	}
	if err := lookupSelf(t, e, token); err == nil {
		t.Fatal("Vault accepts the token after its 2 uses")
	}
}

func TestRetiredIdentityRefusedByVault(t *testing.T) {
	e := openTest(t, clock.Real{})
	ctx := context.Background()
	setupIdentity(t, e, policy.TTLPolicy{Name: "p", Class: "ci", TTL: 10 * time.Minute, MaxLifetime: time.Hour, Renewable: true}, "ci-leaver")
	cred, token, err := e.IssueCredential(ctx, engine.CredentialRequest{Identity: "ci-leaver", Requester: "job-1"})
	must(t, err)
	// The live credential's record sits in its identity's record.
	raw, err := e.read(ctx, e.dataPath(identityKey("ci-leaver")))
	must(t, err)
	if !strings.Contains(fmt.Sprint(raw.Data), cred.ID) || strings.Contains(fmt.Sprint(raw.Data), token) {
		t.Fatalf("the identity record should hold the credential %s, never its token: %v", cred.ID, raw.Data)
	}
	// A secret-id minted before retirement, as a rotated secret would be.
	_, err = e.write(ctx, e.rolePath("ci-leaver")+"/secret-id", nil)
	must(t, err)

	_, err = e.RetireIdentity(ctx, "ci-leaver")
	must(t, err)

	if err := lookupSelf(t, e, token); err == nil {
		t.Fatal("Vault still accepts the retired identity's token")
	}
	left, err := e.list(ctx, e.rolePath("ci-leaver")+"/secret-id")
	must(t, err)
	if len(left) != 0 {
		t.Fatalf("retired identity's role still has %d secret-ids", len(left))
	}
	ent, err := e.read(ctx, e.entityPath("ci-leaver"))
	must(t, err)
	if ent.Data["disabled"] != true {
		t.Fatalf("entity of the retired identity is not disabled: %v", ent.Data["disabled"])
	}
	// Even a fresh secret-id, minted by an administrator after retirement, gets no login.
	roleID, err := e.roleID(ctx, "ci-leaver")
	must(t, err)
	s, err := e.write(ctx, e.rolePath("ci-leaver")+"/secret-id", nil)
	must(t, err)
	anon, err := e.as("")
	must(t, err)
	_, err = anon.Logical().WriteWithContext(ctx, "auth/"+e.approle+"/login", map[string]any{"role_id": roleID, "secret_id": s.Data["secret_id"]})
	if err == nil {
		t.Fatal("Vault logs in the retired identity with a fresh secret-id")
	}
}

func TestCreateLeavesNothingOnFailure(t *testing.T) {
	e := openTest(t, clock.Real{})
	ctx := context.Background()
	must(t, e.PutClass(ctx, policy.Class{Name: "svc", Kind: policy.KindPersistent}))
	// An entity of the same name that the provider does not manage makes provisioning fail
	// after the name is claimed and the role written.
	_, err := e.write(ctx, e.entityPath("svc-taken"), map[string]any{"metadata": map[string]string{"team": "other"}})
	must(t, err)
	_, err = e.CreateIdentity(ctx, policy.Identity{Name: "svc-taken", Class: "svc"})
	if !errors.Is(err, engine.ErrConflict) || !strings.Contains(err.Error(), "not managed by") {
		t.Fatalf("CreateIdentity over a foreign entity: error = %v, want ErrConflict naming the entity", err)
	}
	if _, err := e.GetIdentity(ctx, "svc-taken"); !errors.Is(err, engine.ErrNotFound) {
		t.Fatalf("identity record left behind: %v", err)
	}
	if _, err := e.read(ctx, e.rolePath("svc-taken")); !errors.Is(err, engine.ErrNotFound) {
		t.Fatalf("role left behind: %v", err)
	}
	if _, err := e.read(ctx, e.entityPath("svc-taken")); err != nil {
		t.Fatalf("the foreign entity was touched: %v", err)
	}
	must(t, e.del(ctx, e.entityPath("svc-taken")))
}

func TestOpenSealed(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"initialized":true,"sealed":true,"t":1,"n":1,"progress":0}`))
	}))
	defer srv.Close()
	_, err := Open(context.Background(), Config{Address: srv.URL, Token: "t"}, nil, nil)
	if !errors.Is(err, engine.ErrUnavailable) || !strings.Contains(err.Error(), "sealed") {
		t.Fatalf("Open of a sealed Vault: error = %v, want ErrUnavailable saying sealed", err)
	}
}

func TestOpenUnreachable(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	addr := srv.URL
	srv.Close()
	_, err := Open(context.Background(), Config{Address: addr, Token: "t"}, nil, nil)
	if !errors.Is(err, engine.ErrUnavailable) || !strings.Contains(err.Error(), "cannot reach Vault at "+addr) ||
		!strings.Contains(err.Error(), "check the vault block's address (or VAULT_ADDR, BAO_ADDR)") {
		t.Fatalf("Open of an unreachable Vault: error = %v, want ErrUnavailable naming %s", err, addr)
	}
}

func TestVaultErr(t *testing.T) {
	e := &Engine{addr: "https://vault.example:8200"}
	resp := func(code int, msgs ...string) error { return &api.ResponseError{StatusCode: code, Errors: msgs} }
	const path = "nhi/data/classes/ci"
	tests := []struct {
		name   string
		err    error
		want   error
		substr string
	}{
		{"not found", resp(404), engine.ErrNotFound, path},
		{"forbidden", resp(403, "permission denied"), engine.ErrDenied, "permission denied on " + path + " (read): the Vault token's policies do not allow it: give the token the apply policy"},
		{"sealed", resp(503, "Vault is sealed"), engine.ErrUnavailable, "is sealed"},
		{"server error", resp(500, "internal error"), engine.ErrUnavailable, "answered 500"},
		{"throttled", resp(429, "rate limit quota exceeded"), engine.ErrUnavailable, "answered 429"},
		{"check-and-set", resp(400, "check-and-set parameter did not match the current version"), engine.ErrConflict, path},
		{"bad request", resp(400, "invalid role name"), engine.ErrInvalid, "invalid role name"},
		{"transport", &url.Error{Op: "Get", URL: "https://vault.example:8200", Err: errors.New("connection refused")}, engine.ErrUnavailable, "cannot reach Vault at https://vault.example:8200"},
		{"cancelled", context.Canceled, engine.ErrUnavailable, path},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := e.vaultErr("read", path, tt.err)
			if !errors.Is(got, tt.want) || !strings.Contains(got.Error(), tt.substr) {
				t.Fatalf("vaultErr = %v, want %v containing %q", got, tt.want, tt.substr)
			}
		})
	}
	if e.vaultErr("read", path, nil) != nil {
		t.Fatal("vaultErr(nil) is not nil")
	}
}

func TestApplyEnv(t *testing.T) {
	t.Setenv("VAULT_ADDR", "")
	t.Setenv("VAULT_TOKEN", "vault-token")
	t.Setenv("BAO_ADDR", "https://bao.example:8200")
	t.Setenv("BAO_TOKEN", "bao-token")
	t.Setenv("VAULT_NAMESPACE", "team")
	t.Setenv("VAULT_CACERT", "/etc/ca.pem")
	t.Setenv("VAULT_CAPATH", "/etc/ca.d")
	t.Setenv("VAULT_CLIENT_CERT", "/etc/client.pem")
	t.Setenv("VAULT_CLIENT_KEY", "/etc/client-key.pem")
	t.Setenv("VAULT_TLS_SERVER_NAME", "vault.internal")
	c := Config{Namespace: "explicit", TLS: TLS{CACertFile: "/explicit/ca.pem"}}
	c.ApplyEnv()
	want := Config{Address: "https://bao.example:8200", Token: "vault-token", Namespace: "explicit",
		Mount: DefaultMount, AppRoleMount: DefaultAppRoleMount,
		TLS: TLS{CACertFile: "/explicit/ca.pem", CACertDir: "/etc/ca.d", ClientCert: "/etc/client.pem",
			ClientKey: "/etc/client-key.pem", ServerName: "vault.internal"}}
	if !reflect.DeepEqual(c, want) {
		t.Fatalf("ApplyEnv = %+v, want %+v", c, want)
	}
	// A configured token source wins over VAULT_TOKEN.
	for _, c := range []Config{{TokenFile: "/run/token"}, {AppRole: &AppRoleLogin{}}, {JWT: &JWTLogin{}}} {
		c.ApplyEnv()
		if c.Token != "" {
			t.Errorf("ApplyEnv with %s took VAULT_TOKEN", c.tokenSource())
		}
	}
}

// TestOpenDiagnostics: each misconfiguration names the setting to change.
func TestOpenDiagnostics(t *testing.T) {
	health := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if r.URL.Path != "/v1/sys/seal-status" {
			w.WriteHeader(http.StatusForbidden)
			_, _ = w.Write([]byte(`{"errors":["permission denied"]}`))
			return
		}
		_, _ = w.Write([]byte(`{"initialized":true,"sealed":false,"t":1,"n":1,"progress":0}`))
	}))
	defer health.Close()
	for _, c := range []struct {
		name string
		cfg  Config
		want string
	}{
		{"no address", Config{Token: "t"}, "set the vault block's address, VAULT_ADDR or BAO_ADDR"},
		{"no token", Config{Address: health.URL}, "set the vault block's token, token_file or an auth_login_approle / auth_login_jwt block, or VAULT_TOKEN"},
		{"token file missing", Config{Address: health.URL, TokenFile: "/nonexistent/token"}, "token_file: open /nonexistent/token"},
		{"token refused", Config{Address: health.URL, Token: "t"}, "the Vault token from token (or VAULT_TOKEN) was refused"},
		{"approle refused", Config{Address: health.URL, AppRole: &AppRoleLogin{RoleID: "r", SecretID: "s"}}, "auth_login_approle login at " + health.URL + "/v1/auth/approle/login failed"},
		{"jwt incomplete", Config{Address: health.URL, JWT: &JWTLogin{Role: "ci"}}, "auth_login_jwt needs role and jwt (or jwt_file)"},
		{"half a client cert", Config{Address: health.URL, Token: "t", TLS: TLS{ClientCert: "/c.pem"}}, "client_cert and client_key go together"},
	} {
		_, err := Open(context.Background(), c.cfg, nil, nil)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: Open error = %v, want it to say %q", c.name, err, c.want)
		}
	}
}

func TestRoleSettings(t *testing.T) {
	three := int64(3)
	s, err := roleSettings(&policy.TTLPolicy{Name: "p", TTL: 15 * time.Minute, MaxLifetime: time.Hour, Renewable: true, MaxRenewals: &three, MaxUses: 5})
	must(t, err)
	want := map[string]any{"token_ttl": int64(900), "token_max_ttl": int64(3600), "token_explicit_max_ttl": int64(3600),
		"token_num_uses": int64(5), "token_type": "service", "token_period": 0, "secret_id_num_uses": 1}
	for k, v := range want {
		if s[k] != v {
			t.Errorf("%s = %v (%T), want %v (%T)", k, s[k], s[k], v, v)
		}
	}
	s, err = roleSettings(&policy.TTLPolicy{Name: "once", TTL: 90 * time.Second})
	must(t, err)
	if s["token_explicit_max_ttl"] != int64(90) {
		t.Errorf("non-renewable policy: token_explicit_max_ttl = %v, want 90 (one TTL)", s["token_explicit_max_ttl"])
	}
}

func TestMalformedSecretDenied(t *testing.T) {
	e := &Engine{}
	for _, secret := range []string{"", "hvs.abc\r\nX-Injected: 1", "token with spaces"} {
		if _, err := e.Authenticate(context.Background(), secret); !errors.Is(err, engine.ErrDenied) {
			t.Errorf("Authenticate(%q): error = %v, want ErrDenied", secret, err)
		}
		if _, err := e.RenewCredential(context.Background(), "acc", secret); !errors.Is(err, engine.ErrDenied) {
			t.Errorf("RenewCredential(%q): error = %v, want ErrDenied", secret, err)
		}
	}
}

// TestOpenAndReadsCreateNoMounts: Open and every read leave Vault without the engine's mounts;
// the first write creates them.
func TestOpenAndReadsCreateNoMounts(t *testing.T) {
	e := openTest(t, clock.Real{})
	ctx := context.Background()
	mounted := func() (kv, approle bool) {
		mounts, err := e.client.Sys().ListMountsWithContext(ctx)
		must(t, err)
		auths, err := e.client.Sys().ListAuthWithContext(ctx)
		must(t, err)
		return mounts[e.mount+"/"] != nil, auths[e.approle+"/"] != nil
	}
	if _, err := engine.Observe(ctx, e, time.Now()); err != nil {
		t.Fatalf("Observe on absent mounts: %v", err)
	}
	if _, err := e.GetIdentity(ctx, "nope"); !errors.Is(err, engine.ErrNotFound) {
		t.Fatalf("GetIdentity on absent mounts: error = %v, want ErrNotFound", err)
	}
	if kv, approle := mounted(); kv || approle {
		t.Fatalf("Open and reads created mounts: kv %v, approle %v", kv, approle)
	}
	must(t, e.PutClass(ctx, policy.Class{Name: "ci", Kind: policy.KindEphemeral}))
	if kv, approle := mounted(); !kv || !approle {
		t.Fatalf("the first write did not create the mounts: kv %v, approle %v", kv, approle)
	}
}

func TestOpenReusesAndChecksMounts(t *testing.T) {
	e := openTest(t, clock.Real{})
	ctx := context.Background()
	must(t, e.PutClass(ctx, policy.Class{Name: "svc", Kind: policy.KindPersistent}))
	cfg := Config{Mount: e.mount, AppRoleMount: e.approle}
	cfg.ApplyEnv()
	var logged []string
	again, err := Open(ctx, cfg, nil, func(msg string, _ map[string]any) { logged = append(logged, msg) })
	must(t, err)
	must(t, again.PutClass(ctx, policy.Class{Name: "svc2", Kind: policy.KindPersistent}))
	if len(logged) != 0 {
		t.Fatalf("reopening existing mounts logged %v", logged)
	}
	if _, err := again.GetClass(ctx, "svc"); err != nil {
		t.Fatalf("reopened engine does not see the records: %v", err)
	}

	v1 := e.mount + "-v1"
	must(t, e.client.Sys().MountWithContext(ctx, v1, &api.MountInput{Type: "kv", Options: map[string]string{"version": "1"}}))
	t.Cleanup(func() { _ = e.client.Sys().UnmountWithContext(context.Background(), v1) })
	cfg.Mount = v1
	onV1, err := Open(ctx, cfg, nil, nil)
	must(t, err)
	if err := onV1.PutClass(ctx, policy.Class{Name: "svc", Kind: policy.KindPersistent}); !errors.Is(err, engine.ErrInvalid) || !strings.Contains(err.Error(), "not KV version 2") {
		t.Fatalf("the first write on a KV v1 mount: error = %v, want ErrInvalid saying not KV version 2", err)
	}
}

func TestPolicyChangeReachesRoles(t *testing.T) {
	e := openTest(t, clock.Real{})
	ctx := context.Background()
	p := policy.TTLPolicy{Name: "p", Class: "ci", TTL: 10 * time.Minute, MaxUses: 3}
	setupIdentity(t, e, p, "ci-role")
	p.TTL, p.MaxUses = 5*time.Minute, 1
	must(t, e.PutTTLPolicy(ctx, p))
	role, err := e.read(ctx, e.rolePath("ci-role"))
	must(t, err)
	if ttl, uses := fmt.Sprint(role.Data["token_ttl"]), fmt.Sprint(role.Data["token_num_uses"]); ttl != "300" || uses != "1" {
		t.Fatalf("role after policy change: token_ttl %s, token_num_uses %s; want 300 and 1", ttl, uses)
	}
}

// TestTargetDynamicRoles: an issue writes the dynamic role of its terms and lists it in the
// identity's record; a close leaves it; a listed role deleted by hand is written again by the
// next issue; retiring the identity deletes its roles, listed or not (one of an earlier release,
// one per credential, left by an interrupted issue), so that no login can be minted for it
// through Vault any more.
func TestTargetDynamicRoles(t *testing.T) {
	e, f := targetIdentity(t, "ci-db")
	ctx := context.Background()
	c, _, err := e.IssueCredential(ctx, engine.CredentialRequest{Identity: "ci-db"})
	must(t, err)
	must(t, e.RevokeCredential(ctx, c.ID))
	rec, _, err := e.readRecord(ctx, "ci-db")
	must(t, err)
	if len(rec.DynamicRoles) != 1 || !isDynamicRole("ci-db", rec.DynamicRoles[0]) {
		t.Fatalf("dynamic roles listed after an issue: %v, want one of ci-db", rec.DynamicRoles)
	}
	role := rec.DynamicRoles[0]
	if _, err := e.read(ctx, e.dynamicRolePath(role)); err != nil {
		t.Fatalf("dynamic role %s after a close: %v, want it kept", role, err)
	}
	must(t, e.del(ctx, e.dynamicRolePath(role)))
	c, _, err = e.IssueCredential(ctx, engine.CredentialRequest{Identity: "ci-db"})
	must(t, err)
	t.Cleanup(func() { _ = f.Admin.DropLogin(context.Background(), c.Username) })
	left := "ci-db_0123456789abcdef"
	_, err = e.write(ctx, e.dynamicRolePath(left), map[string]any{"db_name": f.Target, "creation_statements": []string{`CREATE ROLE "{{name}}"`}})
	must(t, err)
	for _, r := range []string{role, left} {
		if _, err := e.read(ctx, e.dynamicRolePath(r)); err != nil {
			t.Fatalf("dynamic role %s before retirement: %v", r, err)
		}
	}
	_, err = e.RetireIdentity(ctx, "ci-db")
	must(t, err)
	for _, r := range []string{role, left} {
		if _, err := e.read(ctx, e.dynamicRolePath(r)); !errors.Is(err, engine.ErrNotFound) {
			t.Fatalf("dynamic role %s after retirement: %v, want not found", r, err)
		}
	}
	if l, err := f.Admin.Inspect(ctx, c.Username); err != nil || l.Exists {
		t.Fatalf("the login after retirement: %+v, %v; want none", l, err)
	}
}

// targetIdentity opens an engine on a fake clock at the wall clock, with a target on the
// PostgreSQL test server and an ephemeral identity name on it whose one scope may SELECT a table
// (under budgetPolicy, beside an identity without a target, ci-warm).
func targetIdentity(t *testing.T, name string) (*Engine, *acctest.PostgresFixture) {
	t.Helper()
	f := acctest.NewPostgresFixture(t)
	e, _ := openTestNow(t)
	ctx := context.Background()
	setupIdentity(t, e, budgetPolicy, "ci-warm")
	must(t, e.PutTarget(ctx, engine.Target{Name: f.Target, Connection: f.Conn}, f.Password))
	_, err := e.CreateIdentity(ctx, policy.Identity{Name: name, Class: "ci", TTLPolicy: budgetEphemeralPolicy, Target: f.Target, Scopes: []string{f.Reader}})
	must(t, err)
	return e, f
}

// persistentTarget opens an engine at the wall clock with a persistent class "svc" and the
// target of a new PostgreSQL fixture.
func persistentTarget(t *testing.T) (*Engine, *clock.Fake, *acctest.PostgresFixture) {
	t.Helper()
	f := acctest.NewPostgresFixture(t)
	e, clk := openTestNow(t)
	ctx := context.Background()
	must(t, e.PutClass(ctx, policy.Class{Name: "svc", Kind: policy.KindPersistent}))
	must(t, e.PutTarget(ctx, engine.Target{Name: f.Target, Connection: f.Conn}, f.Password))
	return e, clk, f
}

// persistentOn creates persistent identity name on f's target with a rotation schedule of
// strategy; the test's cleanup drops its logins.
func persistentOn(t *testing.T, e *Engine, f *acctest.PostgresFixture, name, strategy string) {
	t.Helper()
	ctx := context.Background()
	base := engine.RotatedLoginName(name)
	t.Cleanup(func() {
		for _, l := range []string{base, base + "_a", base + "_b"} {
			_ = f.Admin.DropLogin(context.Background(), l)
		}
	})
	_, err := e.CreateIdentity(ctx, policy.Identity{Name: name, Class: "svc", Target: f.Target, Scopes: []string{f.Reader}})
	must(t, err)
	must(t, e.PutRotationSchedule(ctx, policy.RotationSchedule{Identity: name, Interval: policy.Day, Verify: true, SecretLength: 32, Strategy: strategy}))
}

// TestTargetLoginSecretsUnindexed: retiring or deleting a persistent identity on a target removes
// the login-secrets/ index entries of its versions (one login and alternating logins), and its
// passwords no longer authenticate.
func TestTargetLoginSecretsUnindexed(t *testing.T) {
	e, clk, f := persistentTarget(t)
	ctx := context.Background()
	for _, tc := range []struct{ name, strategy string }{
		{"svc-unindex-one", ""}, {"svc-unindex-alt", policy.StrategyAlternating},
		{"svc-unindex-del", ""},
	} {
		persistentOn(t, e, f, tc.name, tc.strategy)
		var secrets []string
		for range 2 {
			clk.Set(time.Now())
			v, secret, err := e.StageSecret(ctx, tc.name, 32)
			must(t, err)
			_, err = e.PromoteSecret(ctx, tc.name, v.Version, engine.PromoteOptions{})
			must(t, err)
			secrets = append(secrets, secret)
		}
		for _, s := range secrets {
			if _, _, err := kvGet[loginSecretRef](ctx, e, loginSecretsFolder+fingerprint(s)); err != nil {
				t.Fatalf("%s: the index entry of a version before retirement: %v", tc.name, err)
			}
		}
		if tc.name == "svc-unindex-del" {
			must(t, e.DeleteIdentity(ctx, tc.name))
		} else {
			_, err := e.RetireIdentity(ctx, tc.name)
			must(t, err)
		}
		for i, s := range secrets {
			if _, _, err := kvGet[loginSecretRef](ctx, e, loginSecretsFolder+fingerprint(s)); !errors.Is(err, engine.ErrNotFound) {
				t.Errorf("%s: the index entry of version %d after the identity went: %v, want not found", tc.name, i+1, err)
			}
			if _, err := e.Authenticate(ctx, s); !errors.Is(err, engine.ErrDenied) {
				t.Errorf("%s: version %d's password after the identity went: %v, want it denied", tc.name, i+1, err)
			}
		}
	}
}

// TestTargetInspector: writing a target creates its inspector login, with no privilege, under a
// static role that Vault rotated at once (the throwaway password the engine created it with is
// gone); a token holding only the read-only policy reads the target's version and its logins as
// the inspector; writing the target again with its password takes back a role granted to the
// inspector by hand; deleting the target deletes the static role and drops the login.
func TestTargetInspector(t *testing.T) {
	e, f := targetIdentity(t, "ci-inspected")
	ctx := context.Background()
	login := engine.InspectorLoginName(f.Target)
	l, err := f.Admin.Inspect(ctx, login)
	must(t, err)
	if !l.Exists || !l.CanLogin || len(l.Roles) != 0 || l.Comment != engine.InspectorLoginComment(e.LoginOwner(), f.Target) {
		t.Fatalf("inspector login = %+v, want one that logs in, with no role, commented as the inspector", l)
	}
	s, err := e.read(ctx, e.inspectorCredsPath(f.Target))
	must(t, err)
	password, _ := s.Data["password"].(string)
	if s.Data["username"] != login || password == "" {
		t.Fatalf("static-creds = %v, want the inspector login and a password", s.Data)
	}
	must(t, f.Admin.Login(ctx, login, password))
	if match, checked, err := f.Admin.CheckPassword(ctx, login, password); err != nil || (checked && !match) {
		t.Fatalf("the inspector's verifier does not hold the static-creds password: match %v, checked %v, %v", match, checked, err)
	}

	// The read-only policy is enough for the drift checks on targets, and cannot write.
	tok := acctest.VaultToken(t, e.client, e.Mount()+"-readonly", ReadOnlyPolicy(e.Mount(), e.AppRoleMount()))
	cfg := Config{Token: tok, Mount: e.Mount(), AppRoleMount: e.AppRoleMount()}
	cfg.ApplyEnv()
	ro, err := Open(ctx, cfg, clock.Real{}, nil)
	must(t, err)
	c, _, err := e.IssueCredential(ctx, engine.CredentialRequest{Identity: "ci-inspected"})
	must(t, err)
	version, err := ro.CheckTarget(ctx, f.Target)
	must(t, err)
	if !strings.HasPrefix(version, "15.") {
		t.Errorf("CheckTarget with the read-only token = %q, want 15.x", version)
	}
	logins, err := ro.ObserveLogins(ctx, "")
	must(t, err)
	if len(logins) != 1 || logins[0].Name != c.Username || logins[0].Credential != "" {
		t.Errorf("ObserveLogins with the read-only token = %+v, want the one login of credential %s", logins, c.ID)
	}
	if err := ro.PutTarget(ctx, engine.Target{Name: f.Target, Connection: f.Conn}, f.Password); !errors.Is(err, engine.ErrDenied) {
		t.Errorf("PutTarget with the read-only token: %v, want ErrDenied", err)
	}
	must(t, e.RevokeCredential(ctx, c.ID))

	// A role granted to the inspector by hand goes at the next write with the password.
	acctest.PostgresExec(t, f.Conn, f.Password, `GRANT "`+f.Reader+`" TO "`+login+`"`)
	must(t, e.PutTarget(ctx, engine.Target{Name: f.Target, Connection: f.Conn, PasswordVersion: 2}, f.Password))
	if l, err = f.Admin.Inspect(ctx, login); err != nil || !l.Exists || len(l.Roles) != 0 {
		t.Errorf("inspector after a rewrite: %+v, %v; want it with no role", l, err)
	}

	_, err = e.RetireIdentity(ctx, "ci-inspected")
	must(t, err)
	must(t, e.DeleteTarget(ctx, f.Target))
	if _, err := e.read(ctx, e.inspectorRolePath(f.Target)); !errors.Is(err, engine.ErrNotFound) {
		t.Errorf("the inspector's static role after the target's deletion: %v, want not found", err)
	}
	if l, err := f.Admin.Inspect(ctx, login); err != nil || l.Exists {
		t.Errorf("the inspector login after the target's deletion: %+v, %v; want it dropped", l, err)
	}
}

// TestTargetSecretIDDrift: a persistent identity on a target has an AppRole role like any
// identity (its versions are logins' passwords, with no secret-id), and a secret-id minted on
// it by hand is a Vault login the engine did not issue: the refresh's LIST of the role's
// secret-ids reports it, which is why that request stays in budgetTargetPersistent.
func TestTargetSecretIDDrift(t *testing.T) {
	e, _, f := persistentTarget(t)
	ctx := context.Background()
	const name = "svc-db-secret-id"
	persistentOn(t, e, f, name, "")
	v, _, err := e.StageSecret(ctx, name, 32)
	must(t, err)
	_, err = e.PromoteSecret(ctx, name, v.Version, engine.PromoteOptions{})
	must(t, err)
	wantDrift(t, e, name)
	_, err = e.write(ctx, e.rolePath(name)+"/secret-id", nil)
	must(t, err)
	wantDrift(t, e, name, "role has 1 secret-id the engine did not issue")
}

// TestTargetLegacyStaticRolesDeleted: the static roles earlier builds made for the alternating
// logins of a persistent identity (static-roles/_rotated.<login>) are deleted by the identity's
// next staging, and again by its retirement, so that Vault never sets those logins' passwords
// (in clear) again.
func TestTargetLegacyStaticRolesDeleted(t *testing.T) {
	e, _, f := persistentTarget(t)
	ctx := context.Background()
	const name = "svc-legacy"
	persistentOn(t, e, f, name, policy.StrategyAlternating)
	a, b := rotatedLogins(name)
	for range 2 { // both logins exist
		v, _, err := e.StageSecret(ctx, name, 32)
		must(t, err)
		_, err = e.PromoteSecret(ctx, name, v.Version, engine.PromoteOptions{})
		must(t, err)
	}
	legacy := func() {
		t.Helper()
		for _, login := range []string{a, b} {
			_, err := e.write(ctx, e.legacyStaticRolePath(login), map[string]any{"db_name": f.Target, "username": login, "rotation_period": "87600h"})
			must(t, err)
		}
	}
	wantGone := func(after string) {
		t.Helper()
		for _, login := range []string{a, b} {
			if _, err := e.read(ctx, e.legacyStaticRolePath(login)); !errors.Is(err, engine.ErrNotFound) {
				t.Errorf("the static role of login %s after %s: %v, want not found", login, after, err)
			}
		}
	}
	legacy()
	v, secret, err := e.StageSecret(ctx, name, 32)
	must(t, err)
	wantGone("a staging")
	must(t, f.Admin.Login(ctx, a, secret)) // the third version is on the first login again
	_, err = e.PromoteSecret(ctx, name, v.Version, engine.PromoteOptions{})
	must(t, err)
	legacy()
	_, err = e.RetireIdentity(ctx, name)
	must(t, err)
	wantGone("the retirement")
}

// TestTargetReplayedCredsRead: a read of creds that the network layer sent twice mints a login
// whose lease the engine never records (simulated by reading the role's creds once more). The
// refresh reports it as an orphaned login; the repair of the next issue leaves it alone (it
// cannot be told from another process's issue in flight); its lease's end drops it.
func TestTargetReplayedCredsRead(t *testing.T) {
	e, f := targetIdentity(t, "ci-db")
	ctx := context.Background()
	c, _, err := e.IssueCredential(ctx, engine.CredentialRequest{Identity: "ci-db"})
	must(t, err)
	t.Cleanup(func() { _ = f.Admin.DropLogin(context.Background(), c.Username) })
	rec, _, err := e.readRecord(ctx, "ci-db")
	must(t, err)
	replayed, err := e.readCreds(ctx, rec.DynamicRoles[0])
	must(t, err)
	stray, _ := replayed.Data["username"].(string)
	t.Cleanup(func() { _ = f.Admin.DropLogin(context.Background(), stray) })

	orphaned := func(what string) {
		t.Helper()
		fleet, err := engine.ReadObserved(ctx, e, "ci-db", time.Now())
		must(t, err)
		var got []string
		for _, fd := range policy.Drift(fleet).About("ci-db") {
			if strings.HasPrefix(fd.Object, "login/") {
				got = append(got, fd.Rule+" "+strings.TrimPrefix(fd.Object, "login/"))
			}
		}
		if want := []string{policy.RuleOrphanedLogin + " " + stray}; !slices.Equal(got, want) {
			t.Errorf("%s: login findings %q, want %q", what, got, want)
		}
	}
	orphaned("refresh")
	second, _, err := e.IssueCredential(ctx, engine.CredentialRequest{Identity: "ci-db"})
	must(t, err)
	t.Cleanup(func() { _ = f.Admin.DropLogin(context.Background(), second.Username) })
	if l, err := f.Admin.Inspect(ctx, stray); err != nil || !l.Exists {
		t.Fatalf("the unrecorded login after the next issue's repair: %+v, %v; want it left to its lease", l, err)
	}
	orphaned("refresh after the next issue")
	must(t, e.revokeLease(ctx, replayed.LeaseID)) // what the lease's expiry does
	if l, err := f.Admin.Inspect(ctx, stray); err != nil || l.Exists {
		t.Errorf("the unrecorded login after its lease ended: %+v, %v; want it dropped", l, err)
	}
}
