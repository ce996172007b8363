package vault

import (
	"context"
	"errors"
	"maps"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nhigov/terraform-provider-nhi/internal/acctest"
	"github.com/nhigov/terraform-provider-nhi/internal/clock"
	"github.com/nhigov/terraform-provider-nhi/internal/engine"
	"github.com/nhigov/terraform-provider-nhi/internal/engine/enginetest"
	"github.com/nhigov/terraform-provider-nhi/internal/policy"
)

// ciPolicy is a renewable policy: token_ttl 900s, max and explicit max 3600s.
var ciPolicy = policy.TTLPolicy{Name: "ci-short", Class: "ci", TTL: 15 * time.Minute, MaxLifetime: time.Hour, Renewable: true}

// wantDrift fails unless GetIdentity reports exactly want.
func wantDrift(t *testing.T, e *Engine, name string, want ...string) {
	t.Helper()
	id, err := e.GetIdentity(context.Background(), name)
	must(t, err)
	if !slices.Equal(id.EngineDrift, want) {
		t.Fatalf("EngineDrift of %q =\n  %q\nwant\n  %q", name, id.EngineDrift, want)
	}
}

// wantNoUnmanaged fails the test if Vault holds roles or entities that no identity record
// explains; what names what left them.
func wantNoUnmanaged(t *testing.T, e *Engine, what string) {
	t.Helper()
	unmanaged, err := e.ListUnmanaged(context.Background())
	must(t, err)
	if len(unmanaged) != 0 {
		t.Fatalf("%s left unmanaged objects: %v", what, unmanaged)
	}
}

// restore runs UpdateIdentity with the identity as recorded, as the provider does for drift.
func restore(t *testing.T, e *Engine, name string) {
	t.Helper()
	id, err := e.readIdentity(context.Background(), name)
	must(t, err)
	_, err = e.UpdateIdentity(context.Background(), id)
	must(t, err)
}

// removeEntityOnCleanup deletes an entity the test made by hand.
func removeEntityOnCleanup(t *testing.T, e *Engine, name string) {
	t.Cleanup(func() { _ = e.del(context.Background(), "identity/entity/name/"+name) })
}

func TestCompareRole(t *testing.T) {
	declared, err := roleSettings(&ciPolicy)
	must(t, err)
	asRead := func(changes map[string]any) map[string]any {
		out := map[string]any{}
		for k, v := range declared {
			out[k] = v
		}
		for k, v := range changes {
			out[k] = v
		}
		return out
	}
	tests := []struct {
		name    string
		actual  map[string]any
		want    []string
		declare map[string]any
	}{
		{"same", asRead(nil), nil, declared},
		{"ttls raised", asRead(map[string]any{"token_explicit_max_ttl": "28800", "token_period": "3600"}),
			[]string{"role token_explicit_max_ttl is 28800s, declared 3600s", "role token_period is 3600s, declared 0"}, declared},
		{"uses and type", asRead(map[string]any{"token_num_uses": 0, "token_type": "batch", "bind_secret_id": false}),
			[]string{`role token_type is "batch", declared "service"`, "role bind_secret_id is false, declared true"}, declared},
		{"secret-id terms", asRead(map[string]any{"secret_id_ttl": 0, "secret_id_num_uses": 10}),
			[]string{"role secret_id_num_uses is 10, declared 1", "role secret_id_ttl is 0, declared 60s"}, declared},
		{"setting unset", asRead(map[string]any{"token_ttl": nil}), []string{"role token_ttl is unset, declared 900s"}, declared},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := compareRole(tt.declare, tt.actual); !slices.Equal(got, tt.want) {
				t.Fatalf("compareRole = %q, want %q", got, tt.want)
			}
		})
	}
}

// TestRoleKeysCoverRoleSettings: every setting the engine writes is read back.
func TestRoleKeysCoverRoleSettings(t *testing.T) {
	s, err := roleSettings(nil)
	must(t, err)
	var keys []string
	for k := range s {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	want := slices.Clone(roleKeys)
	slices.Sort(want)
	if !slices.Equal(keys, want) {
		t.Fatalf("roleSettings writes %v, drift reads back %v", keys, want)
	}
}

// TestComparePrivileges: what Vault grants beyond the declaration is added (escalation), what it
// no longer grants is removed; Vault's spelling of a single-host network reads as its prefix.
func TestComparePrivileges(t *testing.T) {
	id := policy.Identity{Name: "ci-a", Scopes: []string{"ci-read", "kv-read"}, BoundCIDRs: []string{"10.0.0.0/8", "192.168.1.7/32"}}
	asRead := func(changes map[string]any) map[string]any {
		out := map[string]any{
			"token_policies": []any{"ci-read", "kv-read"}, "token_no_default_policy": true,
			"token_bound_cidrs": []any{"10.0.0.0/8", "192.168.1.7"}, "secret_id_bound_cidrs": []any{"192.168.1.7", "10.0.0.0/8"},
		}
		maps.Copy(out, changes)
		return out
	}
	tests := []struct {
		name           string
		role           map[string]any
		ent            *entityState
		added, removed []string
	}{
		{"as declared", asRead(nil), &entityState{}, nil, nil},
		{"policies replaced by hand", asRead(map[string]any{"token_policies": []any{"default", "admin"}}), nil,
			[]string{`role token_policies grants "admin", not declared`, `role token_policies grants "default", not declared`},
			[]string{`role token_policies lacks "ci-read", declared`, `role token_policies lacks "kv-read", declared`}},
		{"deprecated policies field", asRead(map[string]any{"policies": []any{"ci-read", "root"}}), nil,
			[]string{`role token_policies grants "root", not declared`}, nil},
		{"default policy let back in", asRead(map[string]any{"token_no_default_policy": false}), nil,
			[]string{`role token_no_default_policy is false: tokens also get Vault's "default" policy, not declared`}, nil},
		{"entity policies", asRead(nil), &entityState{policies: []string{"admin"}},
			[]string{`entity policies grant "admin" to every token of the identity, not declared`}, nil},
		{"network widened", asRead(map[string]any{"token_bound_cidrs": []any{"10.0.0.0/8", "192.168.1.7", "0.0.0.0/0"}}), nil,
			[]string{"role token_bound_cidrs allows 0.0.0.0/0, not declared"}, nil},
		{"network bound removed", asRead(map[string]any{"secret_id_bound_cidrs": []any{}}), nil,
			[]string{"role secret_id_bound_cidrs is empty: usable from any address, declared 10.0.0.0/8, 192.168.1.7/32"}, nil},
		{"network narrowed", asRead(map[string]any{"token_bound_cidrs": []any{"10.0.0.0/8"}}), nil,
			nil, []string{"role token_bound_cidrs lacks 192.168.1.7/32, declared"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			added, removed := comparePrivileges(id, tt.role, tt.ent)
			if !slices.Equal(added, tt.added) || !slices.Equal(removed, tt.removed) {
				t.Fatalf("comparePrivileges = added %q, removed %q; want %q, %q", added, removed, tt.added, tt.removed)
			}
		})
	}
	withDefault := policy.Identity{Name: "ci-b", Scopes: []string{"default"}}
	if a, r := comparePrivileges(withDefault, map[string]any{"token_policies": []any{"default"}, "token_no_default_policy": false}, nil); a != nil || r != nil {
		t.Fatalf("a declared default policy: added %q, removed %q; want none", a, r)
	}
}

func TestCompareEntity(t *testing.T) {
	id := policy.Identity{Name: "ci-a", Class: "ci", Owner: "team-build", Environment: "dev", TTLPolicy: "p", Status: policy.StatusActive}
	ok := &entityState{metadata: entityMetadata(id)}
	if got := compareEntity(id, ok); got != nil {
		t.Fatalf("compareEntity of a faithful entity = %q", got)
	}
	meta := entityMetadata(id)
	meta["owner"] = "x"
	delete(meta, "environment")
	delete(meta, "managed-by")
	got := compareEntity(id, &entityState{disabled: true, metadata: meta})
	want := []string{
		"entity disabled is true, declared false",
		`entity metadata managed-by is "", declared "terraform-provider-nhi"`,
		`entity metadata owner is "x", declared "team-build"`,
		`entity metadata environment is "", declared "dev"`,
	}
	if !slices.Equal(got, want) {
		t.Fatalf("compareEntity = %q, want %q", got, want)
	}
}

func TestReflectTerms(t *testing.T) {
	issued := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	// Vault's clock is a day ahead of the engine's: only spans are compared.
	vaultIssued := issued.Add(24*time.Hour + 3*time.Second)
	c := engine.Credential{ID: "acc", IssuedAt: issued, ExpiresAt: issued.Add(15 * time.Minute), HardExpiresAt: issued.Add(time.Hour)}
	tests := []struct {
		name          string
		terms         tokenTerms
		expires, hard time.Time
	}{
		{"as recorded", tokenTerms{vaultIssued, vaultIssued.Add(15 * time.Minute), time.Hour}, c.ExpiresAt, c.HardExpiresAt},
		{"within tolerance", tokenTerms{vaultIssued, vaultIssued.Add(15*time.Minute + 20*time.Second), time.Hour}, c.ExpiresAt, c.HardExpiresAt},
		{"renewed out of band", tokenTerms{vaultIssued, vaultIssued.Add(50 * time.Minute), time.Hour}, issued.Add(50 * time.Minute), c.HardExpiresAt},
		{"explicit max raised", tokenTerms{vaultIssued, vaultIssued.Add(15 * time.Minute), 8 * time.Hour}, c.ExpiresAt, issued.Add(8 * time.Hour)},
		{"shorter in Vault", tokenTerms{vaultIssued, vaultIssued.Add(time.Minute), time.Minute}, c.ExpiresAt, c.HardExpiresAt},
		{"no expiry", tokenTerms{issued: vaultIssued}, c.ExpiresAt, c.HardExpiresAt},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := reflectTerms(c, tt.terms)
			if !got.ExpiresAt.Equal(tt.expires) || !got.HardExpiresAt.Equal(tt.hard) {
				t.Fatalf("reflectTerms: expires %s, hard %s; want %s, %s", got.ExpiresAt, got.HardExpiresAt, tt.expires, tt.hard)
			}
		})
	}
}

func TestDriftRestoredByUpdate(t *testing.T) {
	e := openTest(t, clock.NewFake(enginetest.Epoch))
	ctx := context.Background()
	setupIdentity(t, e, ciPolicy, "ci-drift")
	setupIdentity(t, e, ciPolicy, "ci-calm")
	wantDrift(t, e, "ci-drift")

	// Out of band: raise the role's caps, edit and disable the entity, drop its alias.
	_, err := e.write(ctx, e.rolePath("ci-drift"), map[string]any{"token_explicit_max_ttl": 28800, "token_period": 3600})
	must(t, err)
	id, err := e.readIdentity(ctx, "ci-drift")
	must(t, err)
	meta := entityMetadata(id)
	meta["owner"] = "x"
	_, err = e.write(ctx, e.entityPath("ci-drift"), map[string]any{"metadata": meta, "disabled": true})
	must(t, err)
	ent, err := e.entity(ctx, "ci-drift")
	must(t, err)
	alias, ok := e.mountAlias(ent.aliases)
	if !ok {
		t.Fatal("the identity's entity has no alias on the AppRole mount")
	}
	must(t, e.del(ctx, "identity/entity-alias/id/"+alias.id))

	wantDrift(t, e, "ci-drift",
		"role token_explicit_max_ttl is 28800s, declared 3600s",
		"role token_period is 3600s, declared 0",
		"entity disabled is true, declared false",
		`entity metadata owner is "x", declared "team-test"`,
		driftAliasMissing)
	ids, err := e.ListIdentities(ctx)
	must(t, err)
	for _, id := range ids {
		want := map[string][]string{"ci-drift": {driftAliasMissing}}[id.Name]
		if !slices.Equal(id.EngineDrift, want) {
			t.Errorf("ListIdentities: EngineDrift of %q = %q, want %q", id.Name, id.EngineDrift, want)
		}
	}

	restore(t, e, "ci-drift")
	wantDrift(t, e, "ci-drift")
	wantDrift(t, e, "ci-calm")
	// The restored alias binds new tokens to the identity's entity again.
	_, token, err := e.IssueCredential(ctx, engine.CredentialRequest{Identity: "ci-drift"})
	must(t, err)
	s, err := e.write(ctx, "auth/token/lookup", map[string]any{"token": token})
	must(t, err)
	ent, err = e.entity(ctx, "ci-drift")
	must(t, err)
	if s.Data["entity_id"] != ent.id {
		t.Fatalf("token of the restored identity belongs to entity %v, want %s", s.Data["entity_id"], ent.id)
	}
}

func TestDriftRoleAndEntityRecreated(t *testing.T) {
	e := openTest(t, clock.Real{})
	ctx := context.Background()
	setupIdentity(t, e, ciPolicy, "ci-gone")
	must(t, e.del(ctx, e.rolePath("ci-gone")))
	wantDrift(t, e, "ci-gone", driftRoleMissing)
	must(t, e.del(ctx, e.entityPath("ci-gone")))
	wantDrift(t, e, "ci-gone", driftRoleMissing, driftEntity)
	ids, err := e.ListIdentities(ctx)
	must(t, err)
	if len(ids) != 1 || !slices.Equal(ids[0].EngineDrift, []string{driftRoleMissing, driftEntity}) {
		t.Fatalf("ListIdentities = %+v", ids)
	}

	restore(t, e, "ci-gone")
	wantDrift(t, e, "ci-gone")
	// A role made again has a new role_id: the entity's alias on the mount follows it.
	must(t, e.del(ctx, e.rolePath("ci-gone")))
	restore(t, e, "ci-gone")
	wantDrift(t, e, "ci-gone")
	_, token, err := e.IssueCredential(ctx, engine.CredentialRequest{Identity: "ci-gone"})
	must(t, err)
	if got, err := e.Authenticate(ctx, token); err != nil || got != "ci-gone" {
		t.Fatalf("Authenticate after restore = %q, %v", got, err)
	}
	wantNoUnmanaged(t, e, "restoring")
}

func TestDriftSecretIDsOfPersistentIdentity(t *testing.T) {
	e := openTest(t, clock.Real{})
	ctx := context.Background()
	setupPersistent(t, e, "svc-drift")
	secret := stagePromote(t, e, "svc-drift", engine.PromoteOptions{})
	wantDrift(t, e, "svc-drift")

	mint := func() string {
		s, err := e.write(ctx, e.rolePath("svc-drift")+"/secret-id", nil)
		must(t, err)
		return dataString(t, s.Data, "secret_id")
	}
	// A secret-id minted by hand is a working credential the engine does not know.
	mint()
	wantDrift(t, e, "svc-drift", "role has 1 secret-id the engine did not issue")
	// Every secret-id destroyed by hand: the current version's consumers are locked out.
	must(t, e.destroySecretIDs(ctx, "svc-drift"))
	wantDrift(t, e, "svc-drift", "secret version 1 has no secret-id in Vault, declared one (current)")
	handMade := []string{mint(), mint()}
	wantDrift(t, e, "svc-drift", "secret version 1 has no secret-id in Vault, declared one (current)",
		"role has 2 secret-ids the engine did not issue")

	restore(t, e, "svc-drift")
	wantDrift(t, e, "svc-drift")
	roleID, err := e.roleID(ctx, "svc-drift")
	must(t, err)
	if err := vaultLogin(t, e, roleID, secret); err != nil {
		t.Fatalf("the current secret after restore: Vault refuses it: %v", err)
	}
	if got, err := e.Authenticate(ctx, secret); err != nil || got != "svc-drift" {
		t.Fatalf("the current secret after restore: Authenticate = %q, %v", got, err)
	}
	for _, sid := range handMade {
		if err := vaultLogin(t, e, roleID, sid); err == nil {
			t.Fatal("a hand-made secret-id still logs in after restore")
		}
	}
}

func TestRetireAgainCutsOffDrift(t *testing.T) {
	e := openTest(t, clock.Real{})
	ctx := context.Background()
	setupIdentity(t, e, ciPolicy, "ci-leaver")
	_, err := e.RetireIdentity(ctx, "ci-leaver")
	must(t, err)
	wantDrift(t, e, "ci-leaver")

	id, err := e.readIdentity(ctx, "ci-leaver")
	must(t, err)
	_, err = e.write(ctx, e.entityPath("ci-leaver"), map[string]any{"metadata": entityMetadata(id), "disabled": false})
	must(t, err)
	s, err := e.write(ctx, e.rolePath("ci-leaver")+"/secret-id", nil)
	must(t, err)
	wantDrift(t, e, "ci-leaver", "entity disabled is false, declared true", "role has 1 secret-id, declared none (identity retired)")

	again, err := e.RetireIdentity(ctx, "ci-leaver")
	must(t, err)
	if !again.RetiredAt.Equal(id.RetiredAt) {
		t.Fatalf("retiring again changed the record: retired at %s, was %s", again.RetiredAt, id.RetiredAt)
	}
	wantDrift(t, e, "ci-leaver")
	roleID, err := e.roleID(ctx, "ci-leaver")
	must(t, err)
	if err := vaultLogin(t, e, roleID, dataString(t, s.Data, "secret_id")); err == nil {
		t.Fatal("a secret-id minted after retirement logs in after retiring again")
	}
}

func TestListUnmanaged(t *testing.T) {
	e := openTest(t, clock.Real{})
	ctx := context.Background()
	setupIdentity(t, e, ciPolicy, "ci-managed")
	setupIdentity(t, e, ciPolicy, "ci-orphan")
	_, err := e.RetireIdentity(ctx, "ci-managed")
	must(t, err)
	// An identity whose record is lost leaves its role and entity: one name.
	must(t, e.kvDelete(ctx, identityKey("ci-orphan")))
	removeEntityOnCleanup(t, e, e.entityName("ci-orphan"))
	// A role made by hand, and an entity made by hand that holds its alias.
	_, err = e.write(ctx, "auth/"+e.approle+"/role/legacy-bot", map[string]any{"token_ttl": 3600})
	must(t, err)
	roleID, err := e.roleID(ctx, "legacy-bot")
	must(t, err)
	s, err := e.write(ctx, "identity/entity", map[string]any{"name": e.mount + "-hand-made"})
	must(t, err)
	removeEntityOnCleanup(t, e, e.mount+"-hand-made")
	_, err = e.write(ctx, "identity/entity-alias", map[string]any{"name": roleID, "canonical_id": s.Data["id"], "mount_accessor": e.accessor})
	must(t, err)
	// An entity with no alias on the mount is none of the engine's business.
	_, err = e.write(ctx, "identity/entity", map[string]any{"name": e.mount + "-bystander"})
	must(t, err)
	removeEntityOnCleanup(t, e, e.mount+"-bystander")

	got, err := e.ListUnmanaged(ctx)
	must(t, err)
	if want := []string{"ci-orphan", "legacy-bot", e.mount + "-hand-made"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("ListUnmanaged = %q, want %q", got, want)
	}
	fleet, err := engine.Observe(ctx, e, time.Now())
	must(t, err)
	if !reflect.DeepEqual(fleet.Unmanaged, got) {
		t.Fatalf("Observe: Unmanaged = %q, want %q", fleet.Unmanaged, got)
	}
}

func TestListCredentialsReflectsVault(t *testing.T) {
	clk := clock.NewFake(enginetest.Epoch)
	e := openTest(t, clk)
	ctx := context.Background()
	setupIdentity(t, e, ciPolicy, "ci-renewed")
	renewed, _, err := e.IssueCredential(ctx, engine.CredentialRequest{Identity: "ci-renewed"})
	must(t, err)
	plain, _, err := e.IssueCredential(ctx, engine.CredentialRequest{Identity: "ci-renewed"})
	must(t, err)
	// The holder's renewal, out of band, to the role's explicit max TTL of an hour.
	_, err = e.write(ctx, "auth/token/renew-accessor", map[string]any{"accessor": renewed.ID, "increment": 3600})
	must(t, err)
	// A token issued while the role's explicit max TTL was raised by hand.
	_, err = e.write(ctx, e.rolePath("ci-renewed"), map[string]any{"token_explicit_max_ttl": 28800})
	must(t, err)
	stretched, _, err := e.IssueCredential(ctx, engine.CredentialRequest{Identity: "ci-renewed"})
	must(t, err)
	// Time passes for the engine only: the records' terms are over, Vault's are not.
	clk.Advance(2 * time.Hour)

	creds, err := e.ListCredentials(ctx, "ci-renewed")
	must(t, err)
	byID := map[string]engine.Credential{}
	for _, c := range creds {
		byID[c.ID] = c
	}
	near := func(got, want time.Time) bool { d := got.Sub(want); return d > -5*time.Second && d < 5*time.Second }
	if c := byID[renewed.ID]; !near(c.ExpiresAt, renewed.IssuedAt.Add(time.Hour)) || !c.HardExpiresAt.Equal(renewed.HardExpiresAt) {
		t.Errorf("renewed out of band: expires %s, hard %s; want about %s, %s", c.ExpiresAt, c.HardExpiresAt, renewed.IssuedAt.Add(time.Hour), renewed.HardExpiresAt)
	}
	if c := byID[plain.ID]; !c.ExpiresAt.Equal(plain.ExpiresAt) || !c.HardExpiresAt.Equal(plain.HardExpiresAt) {
		t.Errorf("untouched credential: expires %s, hard %s; want the record's %s, %s", c.ExpiresAt, c.HardExpiresAt, plain.ExpiresAt, plain.HardExpiresAt)
	}
	if c := byID[stretched.ID]; !c.HardExpiresAt.Equal(stretched.IssuedAt.Add(8 * time.Hour)) {
		t.Errorf("issued under a raised role: hard expiry %s, want %s", c.HardExpiresAt, stretched.IssuedAt.Add(8*time.Hour))
	}
	all, err := e.ListCredentials(ctx, "")
	must(t, err)
	if !slices.ContainsFunc(all, func(c engine.Credential) bool {
		return c.ID == renewed.ID && c.ExpiresAt.Equal(byID[renewed.ID].ExpiresAt)
	}) {
		t.Error("ListCredentials of every identity does not reflect the out-of-band renewal")
	}
}

// openThroughProxy opens a second engine on direct's mounts, with direct's clock, that reaches
// Vault (VAULT_ADDR) through a request-counting proxy: a new provider process, nothing cached.
func openThroughProxy(t testing.TB, direct *Engine) (*Engine, *acctest.Proxy) {
	t.Helper()
	cfg := Config{}
	cfg.ApplyEnv()
	proxy := acctest.NewProxy(t, cfg.Address)
	cfg.Address, cfg.Mount, cfg.AppRoleMount = proxy.URL, direct.mount, direct.approle
	// The proxy's outages last until Heal: one attempt per request, no retry window to wait out.
	cfg.RetryWindow = time.Millisecond
	e, err := Open(context.Background(), cfg, direct.clock, nil)
	must(t, err)
	return e, proxy
}

// TestCreateResumesAfterOutage cuts Vault off after each request of CreateIdentity in turn:
// whatever was written, creating the identity again finishes it, with nothing missing and
// nothing left over; creating it once more adopts it, unless declared otherwise.
func TestCreateResumesAfterOutage(t *testing.T) {
	direct := openTest(t, clock.Real{})
	ctx := context.Background()
	must(t, direct.PutClass(ctx, policy.Class{Name: "svc", Kind: policy.KindPersistent}))
	e, proxy := openThroughProxy(t, direct)

	for n := 0; ; n++ {
		name := "svc-cut-" + string(rune('a'+n))
		proxy.FailAfter(n)
		_, err := e.CreateIdentity(ctx, policy.Identity{Name: name, Class: "svc"})
		proxy.Heal()
		if err == nil {
			if n < 5 {
				t.Fatalf("CreateIdentity succeeded with Vault cut off after %d requests", n)
			}
			break
		}
		if !errors.Is(err, engine.ErrUnavailable) || !strings.Contains(err.Error(), "answered 503 to") {
			t.Fatalf("cut off after %d requests: error = %v, want ErrUnavailable naming the request", n, err)
		}
		if _, err := e.CreateIdentity(ctx, policy.Identity{Name: name, Class: "svc"}); err != nil {
			t.Fatalf("creating again after a cut after %d requests: %v", n, err)
		}
		wantDrift(t, direct, name)
		// A finished identity created a third time is adopted as it is; declared otherwise, refused.
		if _, err := e.CreateIdentity(ctx, policy.Identity{Name: name, Class: "svc"}); err != nil {
			t.Fatalf("a finished identity created a third time, as declared: %v, want it adopted", err)
		}
		wantDrift(t, direct, name)
		if _, err := e.CreateIdentity(ctx, policy.Identity{Name: name, Class: "svc", Owner: "other"}); !errors.Is(err, engine.ErrConflict) {
			t.Fatalf("a finished identity created a third time, declared otherwise: error = %v, want ErrConflict", err)
		}
	}
	wantNoUnmanaged(t, direct, "outages")
}

// TestPrivilegeDriftInVault: an identity's scopes are its role's token_policies; policies put
// on its entity by hand are privilege drift that UpdateIdentity clears; a scope naming no ACL
// policy is refused before anything is written.
func TestPrivilegeDriftInVault(t *testing.T) {
	e := openTest(t, clock.Real{})
	ctx := context.Background()
	must(t, e.PutClass(ctx, policy.Class{Name: "svc", Kind: policy.KindPersistent}))
	id := policy.Identity{Name: "svc-priv", Class: "svc", Scopes: []string{"kv-read"}, BoundCIDRs: []string{"127.0.0.0/8"}}
	_, err := e.CreateIdentity(ctx, id)
	must(t, err)
	got, err := e.GetIdentity(ctx, "svc-priv")
	must(t, err)
	if got.PrivilegesAdded != nil || got.PrivilegesRemoved != nil || got.EngineDrift != nil {
		t.Fatalf("fresh identity: added %q, removed %q, drift %q; want none", got.PrivilegesAdded, got.PrivilegesRemoved, got.EngineDrift)
	}
	if _, err := e.write(ctx, e.entityPath("svc-priv"), map[string]any{"policies": []string{"admin"}}); err != nil {
		t.Fatal(err)
	}
	got, err = e.GetIdentity(ctx, "svc-priv")
	must(t, err)
	if want := []string{`entity policies grant "admin" to every token of the identity, not declared`}; !slices.Equal(got.PrivilegesAdded, want) {
		t.Fatalf("after entity policies by hand: added %q, want %q", got.PrivilegesAdded, want)
	}
	_, err = e.UpdateIdentity(ctx, id)
	must(t, err)
	got, err = e.GetIdentity(ctx, "svc-priv")
	must(t, err)
	if got.PrivilegesAdded != nil {
		t.Fatalf("after UpdateIdentity: added %q, want none", got.PrivilegesAdded)
	}

	_, err = e.CreateIdentity(ctx, policy.Identity{Name: "svc-nowhere", Class: "svc", Scopes: []string{"nhi-no-such-policy"}})
	if !errors.Is(err, engine.ErrInvalid) || !strings.Contains(err.Error(), "nhi-no-such-policy") {
		t.Fatalf("CreateIdentity with a missing policy: %v, want ErrInvalid naming it", err)
	}
	if _, err := e.GetIdentity(ctx, "svc-nowhere"); !errors.Is(err, engine.ErrNotFound) {
		t.Fatalf("the refused identity was written: %v", err)
	}
}

// TestListIdentitiesReadBack: the fleet read of drift reports gives every identity the engine
// drift that GetIdentity gives it, within a fixed number of requests per identity: four for an
// ephemeral identity (record, role, entity, role_id), six for a persistent one (also its
// secret-ids and its secret's version record), plus one listing.
func TestListIdentitiesReadBack(t *testing.T) {
	direct := openTest(t, clock.Real{})
	ctx := context.Background()
	p := policy.TTLPolicy{Name: "p", Class: "ci", TTL: time.Hour}
	setupIdentity(t, direct, p, "ci-a")
	_, err := direct.CreateIdentity(ctx, policy.Identity{Name: "ci-b", Class: "ci", Owner: "team-test", TTLPolicy: "p"})
	must(t, err)
	must(t, direct.PutClass(ctx, policy.Class{Name: "svc", Kind: policy.KindPersistent}))
	_, err = direct.CreateIdentity(ctx, policy.Identity{Name: "svc-a", Class: "svc", Owner: "team-test"})
	must(t, err)
	v, _, err := direct.StageSecret(ctx, "svc-a", 32)
	must(t, err)
	_, err = direct.PromoteSecret(ctx, "svc-a", v.Version, engine.PromoteOptions{})
	must(t, err)
	// Out of band: ci-b's tokens made periodic; svc-a's role given a secret-id of its own.
	_, err = direct.client.Logical().Write(direct.rolePath("ci-b"), map[string]any{"token_period": "24h", "token_explicit_max_ttl": 0})
	must(t, err)
	_, err = direct.client.Logical().Write(direct.rolePath("svc-a")+"/secret-id", nil)
	must(t, err)

	e, proxy := openThroughProxy(t, direct)
	policies, err := e.ListTTLPolicies(ctx)
	must(t, err)
	proxy.Reset()
	ids, err := e.ListIdentitiesReadBack(ctx, policies)
	must(t, err)
	if got, budget := len(proxy.Requests()), 1+4+4+6; got > budget {
		t.Errorf("ListIdentitiesReadBack of 2 ephemeral and 1 persistent identities sent %d requests, budget %d", got, budget)
	} else {
		t.Logf("ListIdentitiesReadBack of 2 ephemeral and 1 persistent identities: %d requests (budget %d)", got, budget)
	}
	if len(ids) != 3 {
		t.Fatalf("ListIdentitiesReadBack returned %d identities, want 3", len(ids))
	}
	for _, r := range ids {
		id := r.Identity
		one, err := direct.GetIdentity(ctx, id.Name)
		must(t, err)
		if !slices.Equal(id.PrivilegesAdded, one.PrivilegesAdded) || !slices.Equal(id.PrivilegesRemoved, one.PrivilegesRemoved) {
			t.Errorf("%s: fleet read-back privileges %q/%q, GetIdentity %q/%q", id.Name, id.PrivilegesAdded, id.PrivilegesRemoved, one.PrivilegesAdded, one.PrivilegesRemoved)
		}
		if !slices.Equal(id.EngineDrift, one.EngineDrift) {
			t.Errorf("%s: fleet read-back drift %q, GetIdentity drift %q", id.Name, id.EngineDrift, one.EngineDrift)
		}
		if wantDrift := id.Name != "ci-a"; (len(id.EngineDrift) > 0) != wantDrift {
			t.Errorf("%s: engine drift %q, want drift: %v", id.Name, id.EngineDrift, wantDrift)
		}
	}
}

// TestPrivilegeReadBackRequests: reading an identity back compares its privileges from the role
// and entity reads it makes anyway: an identity with scopes and bound CIDRs costs GetIdentity
// the same requests as one without: five for an ephemeral identity (record, role, its TTL
// policy, entity, role_id), as before scopes were enforced.
func TestPrivilegeReadBackRequests(t *testing.T) {
	direct := openTest(t, clock.Real{})
	ctx := context.Background()
	p := policy.TTLPolicy{Name: "p", Class: "ci", TTL: time.Hour}
	must(t, direct.PutClass(ctx, policy.Class{Name: "ci", Kind: policy.KindEphemeral, MaxLifetime: time.Hour}))
	must(t, direct.PutTTLPolicy(ctx, p))
	_, err := direct.CreateIdentity(ctx, policy.Identity{Name: "ci-plain", Class: "ci", TTLPolicy: "p"})
	must(t, err)
	_, err = direct.CreateIdentity(ctx, policy.Identity{Name: "ci-scoped", Class: "ci", TTLPolicy: "p",
		Scopes: []string{"ci-read", "kv-read"}, BoundCIDRs: []string{"127.0.0.0/8"}})
	must(t, err)
	// Out of band, so that there is privilege drift to find.
	_, err = direct.client.Logical().Write(direct.rolePath("ci-scoped"), map[string]any{"token_policies": "default,admin"})
	must(t, err)

	e, proxy := openThroughProxy(t, direct)
	count := func(name string) (policy.Identity, int) {
		proxy.Reset()
		id, err := e.GetIdentity(ctx, name)
		must(t, err)
		return id, len(proxy.Requests())
	}
	count("ci-plain") // the first read of the TTL policy, once per engine
	_, plain := count("ci-plain")
	scoped, n := count("ci-scoped")
	if len(scoped.PrivilegesAdded) == 0 {
		t.Fatalf("the escalation was not found: %+v", scoped)
	}
	if n != plain || n > 5 {
		t.Fatalf("GetIdentity sent %d requests for the scoped identity, %d for the plain one; want equal and at most 5", n, plain)
	}
}
