// Package enginetest is the conformance suite every engine passes unchanged.
package enginetest

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nhigov/terraform-provider-nhi/internal/clock"
	"github.com/nhigov/terraform-provider-nhi/internal/engine"
	"github.com/nhigov/terraform-provider-nhi/internal/policy"
)

// Epoch is where the suite's fake clock starts.
var Epoch = time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)

// Factory returns a fresh, empty engine whose notion of time follows clk.
type Factory func(t *testing.T, clk *clock.Fake) engine.Engine

func int64p(v int64) *int64 { return &v }

// Fixtures: an ephemeral class with a policy, and a persistent class.
var (
	ephemeralClass = policy.Class{Name: "ci", Kind: policy.KindEphemeral, MaxTTL: time.Hour, MaxLifetime: 4 * time.Hour,
		MaxRenewals: int64p(3), RequireOwner: true, NamingPattern: "ci-[a-z0-9-]+", Environments: []string{"dev", "prod"}}
	persistentClass = policy.Class{Name: "svc", Kind: policy.KindPersistent, MaxRotationInterval: 30 * policy.Day}
	ciPolicy        = policy.TTLPolicy{Name: "ci-short", Class: "ci", TTL: 15 * time.Minute, MaxLifetime: time.Hour,
		Renewable: true, MaxRenewals: int64p(2)}
)

// Run runs the conformance suite against engines made by factory.
func Run(t *testing.T, factory Factory) {
	t.Run("Governance", func(t *testing.T) { testGovernance(t, factory) })
	t.Run("IdentityLifecycle", func(t *testing.T) { testIdentityLifecycle(t, factory) })
	t.Run("DeleteIdentity", func(t *testing.T) { testDeleteIdentity(t, factory) })
	t.Run("CreateAdopts", func(t *testing.T) { testCreateAdopts(t, factory) })
	t.Run("RecordAction", func(t *testing.T) { testRecordAction(t, factory) })
	t.Run("CredentialPolicy", func(t *testing.T) { testCredentialPolicy(t, factory) })
	t.Run("CredentialExpiry", func(t *testing.T) { testCredentialExpiry(t, factory) })
	t.Run("CredentialRenewal", func(t *testing.T) { testCredentialRenewal(t, factory) })
	t.Run("LiveCredentials", func(t *testing.T) { testLiveCredentials(t, factory) })
	t.Run("RetireRevokes", func(t *testing.T) { testRetireRevokes(t, factory) })
	t.Run("Audit", func(t *testing.T) { testAudit(t, factory) })
	t.Run("RotationSchedules", func(t *testing.T) { testRotationSchedules(t, factory) })
	t.Run("SecretRotation", func(t *testing.T) { testSecretRotation(t, factory) })
	t.Run("SecretRollbackAndKeep", func(t *testing.T) { testSecretRollbackAndKeep(t, factory) })
	t.Run("SecretHardExpiry", func(t *testing.T) { testSecretHardExpiry(t, factory) })
	t.Run("SecretRefusals", func(t *testing.T) { testSecretRefusals(t, factory) })
	t.Run("Scopes", func(t *testing.T) { testScopes(t, factory) })
	t.Run("LastUse", func(t *testing.T) { testLastUse(t, factory) })
	t.Run("Owners", func(t *testing.T) { testOwners(t, factory) })
	t.Run("ReviewStored", func(t *testing.T) { testReviewStored(t, factory) })
	t.Run("TargetKept", func(t *testing.T) { testTargetKept(t, factory) })
	t.Run("SameErrors", func(t *testing.T) { testSameErrors(t, factory) })
	t.Run("SameRefusals", func(t *testing.T) { testSameRefusals(t, factory) })
	t.Run("SameAuditDetails", func(t *testing.T) { testSameAuditDetails(t, factory) })
}

func setup(t *testing.T, factory Factory) (engine.Engine, *clock.Fake, context.Context) {
	t.Helper()
	clk := clock.NewFake(Epoch)
	e := factory(t, clk)
	ctx := context.Background()
	must(t, e.PutClass(ctx, ephemeralClass))
	must(t, e.PutClass(ctx, persistentClass))
	must(t, e.PutTTLPolicy(ctx, ciPolicy))
	return e, clk, ctx
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("unexpected error: %v", err)
	}
}

func wantErr(t *testing.T, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("error = %v, want %v", err, target)
	}
}

// wantDeletes deletes record name with del, then checks that get and a second delete both
// return engine.ErrNotFound.
func wantDeletes[T any](t *testing.T, ctx context.Context, name string, get func(context.Context, string) (T, error), del func(context.Context, string) error) {
	t.Helper()
	must(t, del(ctx, name))
	_, err := get(ctx, name)
	wantErr(t, err, engine.ErrNotFound)
	wantErr(t, del(ctx, name), engine.ErrNotFound)
}

func ciIdentity(name string) policy.Identity {
	return policy.Identity{Name: name, Class: "ci", Owner: "team-build", Environment: "dev", TTLPolicy: "ci-short", Scopes: []string{"read:artifacts"}}
}

func testGovernance(t *testing.T, factory Factory) {
	e, _, ctx := setup(t, factory)
	got, err := e.GetClass(ctx, "ci")
	must(t, err)
	if !reflect.DeepEqual(got, ephemeralClass) {
		t.Fatalf("GetClass = %+v, want %+v", got, ephemeralClass)
	}
	changed := ephemeralClass
	changed.MaxTTL = 30 * time.Minute
	changed.Environments = []string{"prod"}
	must(t, e.PutClass(ctx, changed))
	got, err = e.GetClass(ctx, "ci")
	must(t, err)
	if !reflect.DeepEqual(got, changed) {
		t.Fatalf("GetClass after update = %+v, want %+v", got, changed)
	}
	classes, err := e.ListClasses(ctx)
	must(t, err)
	if len(classes) != 2 {
		t.Fatalf("ListClasses returned %d classes, want 2", len(classes))
	}
	p, err := e.GetTTLPolicy(ctx, "ci-short")
	must(t, err)
	if !reflect.DeepEqual(p, ciPolicy) {
		t.Fatalf("GetTTLPolicy = %+v, want %+v", p, ciPolicy)
	}
	withException := ciPolicy
	withException.Exception = &policy.Exception{Reason: "migration", ApprovedBy: "sec-lead", ExpiresAt: Epoch.Add(48 * time.Hour)}
	must(t, e.PutTTLPolicy(ctx, withException))
	p, err = e.GetTTLPolicy(ctx, "ci-short")
	must(t, err)
	if p.Exception == nil || !p.Exception.ExpiresAt.Equal(withException.Exception.ExpiresAt) || p.Exception.Reason != "migration" {
		t.Fatalf("exception not stored: %+v", p.Exception)
	}
	policies, err := e.ListTTLPolicies(ctx)
	must(t, err)
	if len(policies) != 1 {
		t.Fatalf("ListTTLPolicies returned %d, want 1", len(policies))
	}
	wantDeletes(t, ctx, "ci-short", e.GetTTLPolicy, e.DeleteTTLPolicy)
	wantDeletes(t, ctx, "svc", e.GetClass, e.DeleteClass)
}

func testIdentityLifecycle(t *testing.T, factory Factory) {
	e, clk, ctx := setup(t, factory)
	created, err := e.CreateIdentity(ctx, ciIdentity("ci-build"))
	must(t, err)
	if created.Status != policy.StatusActive || !created.CreatedAt.Equal(Epoch) {
		t.Fatalf("created = %+v, want active at %s", created, Epoch)
	}
	got, err := e.GetIdentity(ctx, "ci-build")
	must(t, err)
	want := ciIdentity("ci-build")
	if got.Owner != want.Owner || got.Class != want.Class || got.Environment != want.Environment ||
		got.TTLPolicy != want.TTLPolicy || !reflect.DeepEqual(got.Scopes, want.Scopes) || got.Status != policy.StatusActive {
		t.Fatalf("GetIdentity = %+v, want %+v", got, want)
	}

	upd := ciIdentity("ci-build")
	upd.Owner, upd.Scopes = "team-release", []string{"read:artifacts", "write:releases"}
	_, err = e.UpdateIdentity(ctx, upd)
	must(t, err)
	got, err = e.GetIdentity(ctx, "ci-build")
	must(t, err)
	if got.Owner != "team-release" || len(got.Scopes) != 2 || !got.CreatedAt.Equal(Epoch) {
		t.Fatalf("after update = %+v", got)
	}
	_, err = e.UpdateIdentity(ctx, ciIdentity("ci-missing"))
	wantErr(t, err, engine.ErrNotFound)

	ids, err := e.ListIdentities(ctx)
	must(t, err)
	if len(ids) != 1 || ids[0].Name != "ci-build" {
		t.Fatalf("ListIdentities = %+v", ids)
	}

	clk.Advance(time.Hour)
	retired, err := e.RetireIdentity(ctx, "ci-build")
	must(t, err)
	if !retired.Retired() || !retired.RetiredAt.Equal(Epoch.Add(time.Hour)) {
		t.Fatalf("retired = %+v", retired)
	}
	got, err = e.GetIdentity(ctx, "ci-build")
	must(t, err)
	if !got.Retired() {
		t.Fatalf("GetIdentity after retire: status %q", got.Status)
	}
	_, err = e.UpdateIdentity(ctx, upd)
	wantErr(t, err, engine.ErrRetired)
	_, err = e.CreateIdentity(ctx, ciIdentity("ci-build"))
	wantExists(t, err, "retired")
	_, err = e.RetireIdentity(ctx, "ci-missing")
	wantErr(t, err, engine.ErrNotFound)
}

// testCreateAdopts: creating an identity again (an apply killed after the engine wrote it) adopts
// it when it is active and declared the same, audited as adopted; a different declaration or a
// retired identity is an ExistsError naming what exists, and changes nothing. CheckCreateIdentity
// says the same without writing.
func testCreateAdopts(t *testing.T, factory Factory) {
	e, clk, ctx := setup(t, factory)
	decl := ciIdentity("ci-adopt")
	decl.Description = "built by the pipeline"
	decl.Scopes = []string{"write:cache", "read:artifacts"}
	adopt, err := e.CheckCreateIdentity(ctx, decl)
	if err != nil || adopt {
		t.Fatalf("CheckCreateIdentity of a free name = %v, %v; want false, nil", adopt, err)
	}
	created, err := e.CreateIdentity(ctx, decl)
	must(t, err)
	clk.Advance(time.Minute)

	// The same declaration, scopes in another order: adopted, not created again.
	again := decl
	again.Scopes = []string{"read:artifacts", "write:cache"}
	adopt, err = e.CheckCreateIdentity(ctx, again)
	if err != nil || !adopt {
		t.Fatalf("CheckCreateIdentity of the same declaration = %v, %v; want true, nil", adopt, err)
	}
	adopted, err := e.CreateIdentity(ctx, again)
	must(t, err)
	if adopted.Status != policy.StatusActive || !adopted.CreatedAt.Equal(created.CreatedAt) {
		t.Fatalf("adopted = %+v, want the identity created at %s", adopted, created.CreatedAt)
	}
	ids, err := e.ListIdentities(ctx)
	must(t, err)
	if len(ids) != 1 {
		t.Fatalf("ListIdentities after adopting = %d identities, want 1", len(ids))
	}
	wantEvents(t, e, ctx, "ci-adopt", engine.EventIdentityCreated, engine.EventAdopted)

	// A different declaration is not adopted: ExistsError naming the difference, nothing written.
	other := decl
	other.Owner = "team-other"
	_, err = e.CheckCreateIdentity(ctx, other)
	wantExists(t, err, `owner: "team-build" in the engine, "team-other" declared`)
	_, err = e.CreateIdentity(ctx, other)
	wantExists(t, err, `owner: "team-build" in the engine, "team-other" declared`)
	got, err := e.GetIdentity(ctx, "ci-adopt")
	must(t, err)
	if got.Owner != "team-build" {
		t.Fatalf("a refused create changed the identity: %+v", got)
	}

	// A retired identity is never adopted, even when declared the same.
	_, err = e.RetireIdentity(ctx, "ci-adopt")
	must(t, err)
	_, err = e.CheckCreateIdentity(ctx, decl)
	wantExists(t, err, "retired")
	_, err = e.CreateIdentity(ctx, decl)
	wantExists(t, err, "retired")
	got, err = e.GetIdentity(ctx, "ci-adopt")
	must(t, err)
	if !got.Retired() {
		t.Fatalf("a refused create revived a retired identity: %+v", got)
	}
	wantEvents(t, e, ctx, "ci-adopt", engine.EventIdentityCreated, engine.EventAdopted, engine.EventIdentityRetired)

	// Adoption of governance records is recorded under the record's identity when it has one.
	must(t, e.RecordAdoption(ctx, engine.KindRotationSchedule, "ci-adopt"))
	wantEvents(t, e, ctx, "ci-adopt", engine.EventIdentityCreated, engine.EventAdopted, engine.EventIdentityRetired, engine.EventAdopted)
}

// testRecordAction: an invoked action is an audit event under its identity, with its requester.
func testRecordAction(t *testing.T, factory Factory) {
	e, _, ctx := setup(t, factory)
	must(t, e.PutClass(ctx, policy.Class{Name: "ci", Kind: policy.KindEphemeral, MaxLifetime: time.Hour}))
	_, err := e.CreateIdentity(ctx, ciIdentity("ci-act"))
	must(t, err)
	must(t, e.RecordAction(ctx, "nhi_revoke_credentials", "ci-act", "oncall@example.com", "incident 42"))
	wantEvents(t, e, ctx, "ci-act", engine.EventIdentityCreated, engine.EventAction)
	events, err := e.AuditEvents(ctx, engine.AuditFilter{Identity: "ci-act"})
	must(t, err)
	if got := events[len(events)-1]; got.Requester != "oncall@example.com" || got.Purpose != "nhi_revoke_credentials" ||
		!strings.Contains(got.Detail, "incident 42") {
		t.Fatalf("action event = %+v, want the requester, the action and its detail", got)
	}
}

// wantExists asserts that err is an importable ExistsError (so ErrConflict) whose message holds want.
func wantExists(t *testing.T, err error, want string) {
	t.Helper()
	var exists *engine.ExistsError
	if !errors.As(err, &exists) || !errors.Is(err, engine.ErrConflict) || !exists.Importable || !strings.Contains(err.Error(), want) {
		t.Fatalf("error = %v, want an importable ExistsError containing %q", err, want)
	}
}

// wantEvents asserts the types of identity's audit events, oldest first.
func wantEvents(t *testing.T, e engine.Engine, ctx context.Context, identity string, want ...string) {
	t.Helper()
	events, err := e.AuditEvents(ctx, engine.AuditFilter{Identity: identity})
	must(t, err)
	var types []string
	for _, ev := range events {
		types = append(types, ev.Type)
	}
	if !reflect.DeepEqual(types, want) {
		t.Fatalf("audit events of %q = %v, want %v", identity, types, want)
	}
}

func testDeleteIdentity(t *testing.T, factory Factory) {
	e, _, ctx := setup(t, factory)
	ciCreated(t, e, ctx, "ci-gone")
	_, secret, err := e.IssueCredential(ctx, engine.CredentialRequest{Identity: "ci-gone"})
	must(t, err)
	must(t, e.DeleteIdentity(ctx, "ci-gone"))
	_, err = e.GetIdentity(ctx, "ci-gone")
	wantErr(t, err, engine.ErrNotFound)
	_, err = e.Authenticate(ctx, secret)
	wantErr(t, err, engine.ErrDenied)
	wantErr(t, e.DeleteIdentity(ctx, "ci-gone"), engine.ErrNotFound)
}

func testCredentialPolicy(t *testing.T, factory Factory) {
	e, _, ctx := setup(t, factory)
	ciCreated(t, e, ctx, "ci-deploy")
	svcIdentity(t, e, ctx, "svc-billing")

	cred, secret, err := e.IssueCredential(ctx, engine.CredentialRequest{Identity: "ci-deploy", Requester: "job-42", Purpose: "deploy"})
	must(t, err)
	if secret == "" || cred.ID == "" {
		t.Fatalf("IssueCredential returned no secret or ID: %+v", cred)
	}
	if !cred.ExpiresAt.Equal(Epoch.Add(15*time.Minute)) || !cred.HardExpiresAt.Equal(Epoch.Add(time.Hour)) || cred.RenewalsLeft != 2 {
		t.Fatalf("credential terms = %+v, want ttl 15m, hard expiry 1h, 2 renewals", cred)
	}
	who, err := e.Authenticate(ctx, secret)
	must(t, err)
	if who != "ci-deploy" {
		t.Fatalf("Authenticate = %q, want ci-deploy", who)
	}
	_, err = e.Authenticate(ctx, secret+"x")
	wantErr(t, err, engine.ErrDenied)

	short, _, err := e.IssueCredential(ctx, engine.CredentialRequest{Identity: "ci-deploy", TTL: 5 * time.Minute})
	must(t, err)
	if !short.ExpiresAt.Equal(Epoch.Add(5 * time.Minute)) {
		t.Fatalf("requested 5m, expires at %s", short.ExpiresAt)
	}
	_, _, err = e.IssueCredential(ctx, engine.CredentialRequest{Identity: "ci-deploy", TTL: 2 * time.Hour})
	wantErr(t, err, engine.ErrInvalid)
	_, _, err = e.IssueCredential(ctx, engine.CredentialRequest{Identity: "svc-billing"})
	wantErr(t, err, engine.ErrInvalid)
	_, _, err = e.IssueCredential(ctx, engine.CredentialRequest{Identity: "nobody"})
	wantErr(t, err, engine.ErrNotFound)

	must(t, e.RevokeCredential(ctx, cred.ID))
	_, err = e.Authenticate(ctx, secret)
	wantErr(t, err, engine.ErrDenied)
	must(t, e.RevokeCredential(ctx, cred.ID))
	creds, err := e.ListCredentials(ctx, "ci-deploy")
	must(t, err)
	if len(creds) != 2 {
		t.Fatalf("ListCredentials = %d credentials, want 2", len(creds))
	}
	for _, c := range creds {
		if c.ID == cred.ID && c.RevokedAt.IsZero() {
			t.Fatalf("revoked credential listed as unrevoked: %+v", c)
		}
	}
}

// testLiveCredentials: LiveCredentials lists what has not ended (policy.Credential.Ended), the
// credentials that refresh and drift read; ListCredentials, what the audit log reads, lists
// the ended ones too. A credential long past its hard expiry leaves the live list, and the
// drift findings of a live one (credentials of a retired identity) come from that list.
func testLiveCredentials(t *testing.T, factory Factory) {
	e, clk, ctx := setup(t, factory)
	_, err := e.CreateIdentity(ctx, ciIdentity("ci-live"))
	must(t, err)
	issue := func() engine.Credential {
		c, _, err := e.IssueCredential(ctx, engine.CredentialRequest{Identity: "ci-live", Requester: "job"})
		must(t, err)
		return c
	}
	revoked, expired := issue(), issue()
	must(t, e.RevokeCredential(ctx, revoked.ID))
	clk.Advance(time.Hour + policy.EndedGrace + time.Minute) // expired is past its hard expiry and the grace
	live := issue()
	ids := func(creds []engine.Credential, err error) []string {
		t.Helper()
		must(t, err)
		var out []string
		for _, c := range creds {
			out = append(out, c.ID)
		}
		slices.Sort(out)
		return out
	}
	if got := ids(e.LiveCredentials(ctx, "ci-live")); !slices.Equal(got, []string{live.ID}) {
		t.Fatalf("LiveCredentials = %v, want only the live credential %s", got, live.ID)
	}
	if got, all := ids(e.LiveCredentials(ctx, "")), ids(e.LiveCredentials(ctx, "ci-live")); !slices.Equal(got, all) {
		t.Fatalf("LiveCredentials of every identity = %v, want %v", got, all)
	}
	want := []string{revoked.ID, expired.ID, live.ID}
	slices.Sort(want)
	if got := ids(e.ListCredentials(ctx, "ci-live")); !slices.Equal(got, want) {
		t.Fatalf("ListCredentials = %v, want every credential %v, ended ones included", got, want)
	}
}

func testCredentialExpiry(t *testing.T, factory Factory) {
	e, clk, ctx := setup(t, factory)
	ciCreated(t, e, ctx, "ci-test")
	_, secret, err := e.IssueCredential(ctx, engine.CredentialRequest{Identity: "ci-test"})
	must(t, err)
	clk.Advance(14 * time.Minute)
	_, err = e.Authenticate(ctx, secret)
	must(t, err)
	clk.Advance(2 * time.Minute)
	_, err = e.Authenticate(ctx, secret)
	wantErr(t, err, engine.ErrDenied)
}

func testCredentialRenewal(t *testing.T, factory Factory) {
	e, clk, ctx := setup(t, factory)
	ciCreated(t, e, ctx, "ci-long")
	cred, secret, err := e.IssueCredential(ctx, engine.CredentialRequest{Identity: "ci-long", Requester: "nightly", Purpose: "soak"})
	must(t, err)
	_, other, err := e.IssueCredential(ctx, engine.CredentialRequest{Identity: "ci-long"})
	must(t, err)
	_, err = e.RenewCredential(ctx, cred.ID, other)
	wantErr(t, err, engine.ErrDenied)
	var renewals []engine.Credential
	for i := int64(1); i <= 2; i++ {
		clk.Advance(10 * time.Minute)
		renewed, err := e.RenewCredential(ctx, cred.ID, secret)
		must(t, err)
		if renewed.RenewCount != i || renewed.RenewalsLeft != 2-i || !renewed.ExpiresAt.Equal(clk.Now().Add(15*time.Minute)) {
			t.Fatalf("renewal %d = %+v", i, renewed)
		}
		renewals = append(renewals, renewed)
	}
	clk.Advance(10 * time.Minute)
	_, err = e.RenewCredential(ctx, cred.ID, secret)
	wantErr(t, err, engine.ErrDenied)
	// Each renewal is an event of the credential, with its requester and new expiry; refused
	// renewals are none.
	events, err := e.AuditEvents(ctx, engine.AuditFilter{Identity: "ci-long", Types: []string{engine.EventIssued, engine.EventRenewed}})
	must(t, err)
	var types []string
	for _, ev := range events {
		types = append(types, ev.Type)
	}
	if want := []string{engine.EventIssued, engine.EventIssued, engine.EventRenewed, engine.EventRenewed}; !slices.Equal(types, want) {
		t.Fatalf("issue and renewal events of ci-long = %v, want %v", types, want)
	}
	for i, ev := range events[2:] {
		r := renewals[i]
		if ev.Credential != cred.ID || ev.Requester != "nightly" || ev.Purpose != "soak" ||
			!ev.Time.Equal(r.ExpiresAt.Add(-15*time.Minute)) || ev.Detail != "expires "+r.ExpiresAt.Format(time.RFC3339) {
			t.Fatalf("renewal event %d = %+v, want credential %s renewed by nightly, expiring %s", i+1, ev, cred.ID, r.ExpiresAt)
		}
	}
	_, err = e.Authenticate(ctx, secret)
	must(t, err)
	clk.Advance(6 * time.Minute) // 15m after the last renewal
	_, err = e.Authenticate(ctx, secret)
	wantErr(t, err, engine.ErrDenied)
}

func testRetireRevokes(t *testing.T, factory Factory) {
	e, _, ctx := setup(t, factory)
	ciCreated(t, e, ctx, "ci-old")
	var secrets []string
	for range 3 {
		_, s, err := e.IssueCredential(ctx, engine.CredentialRequest{Identity: "ci-old"})
		must(t, err)
		secrets = append(secrets, s)
	}
	_, err := e.RetireIdentity(ctx, "ci-old")
	must(t, err)
	for _, s := range secrets {
		_, err := e.Authenticate(ctx, s)
		wantErr(t, err, engine.ErrDenied)
	}
	creds, err := e.ListCredentials(ctx, "ci-old")
	must(t, err)
	for _, c := range creds {
		if c.RevokedAt.IsZero() {
			t.Fatalf("credential %s of a retired identity is not revoked", c.ID)
		}
	}
	_, _, err = e.IssueCredential(ctx, engine.CredentialRequest{Identity: "ci-old"})
	wantErr(t, err, engine.ErrRetired)
}

func testAudit(t *testing.T, factory Factory) {
	e, clk, ctx := setup(t, factory)
	ciCreated(t, e, ctx, "ci-audit")
	ciCreated(t, e, ctx, "ci-other")
	clk.Advance(time.Minute)
	cred, _, err := e.IssueCredential(ctx, engine.CredentialRequest{Identity: "ci-audit", Requester: "pipeline-7", Purpose: "integration tests"})
	must(t, err)
	must(t, e.RevokeCredential(ctx, cred.ID))
	events, err := e.AuditEvents(ctx, engine.AuditFilter{Identity: "ci-audit"})
	must(t, err)
	events = withoutUse(events)
	var types []string
	for _, ev := range events {
		if ev.Identity != "ci-audit" {
			t.Fatalf("filter by identity returned an event of %q", ev.Identity)
		}
		types = append(types, ev.Type)
		if ev.Type == engine.EventIssued && (ev.Requester != "pipeline-7" || ev.Purpose != "integration tests" || ev.Credential != cred.ID) {
			t.Fatalf("issued event lacks requester, purpose or credential: %+v", ev)
		}
	}
	want := []string{engine.EventIdentityCreated, engine.EventIssued, engine.EventRevoked}
	if !reflect.DeepEqual(types, want) {
		t.Fatalf("audit events = %v, want %v", types, want)
	}
	since, err := e.AuditEvents(ctx, engine.AuditFilter{Identity: "ci-audit", Since: Epoch.Add(30 * time.Second)})
	must(t, err)
	if since = withoutUse(since); len(since) != 2 {
		t.Fatalf("events since +30s = %d, want 2", len(since))
	}

	// AuditLog merges an "expired" event, at its expiry, for a credential that expired
	// unrevoked, and none for the revoked one.
	expiring, _, err := e.IssueCredential(ctx, engine.CredentialRequest{Identity: "ci-audit", Requester: "pipeline-8"})
	must(t, err)
	clk.Advance(time.Hour)
	log, err := engine.AuditLog(ctx, e, engine.AuditFilter{Identity: "ci-audit"}, clk.Now())
	must(t, err)
	log = withoutUse(log)
	types = nil
	for _, ev := range log {
		types = append(types, ev.Type)
		if ev.Type == engine.EventExpired && (ev.Credential != expiring.ID || !ev.Time.Equal(expiring.ExpiresAt) || ev.Requester != "pipeline-8") {
			t.Fatalf("expired event = %+v, want credential %s at %s", ev, expiring.ID, expiring.ExpiresAt)
		}
	}
	want = []string{engine.EventIdentityCreated, engine.EventIssued, engine.EventRevoked, engine.EventIssued, engine.EventExpired}
	if !reflect.DeepEqual(types, want) {
		t.Fatalf("audit log = %v, want %v", types, want)
	}
}

// withoutUse drops the "used" events, which testLastUse checks: their times come from the
// engine's clock on the local engine and from Vault's on Vault.
func withoutUse(events []engine.AuditEvent) []engine.AuditEvent {
	return slices.DeleteFunc(events, func(ev engine.AuditEvent) bool { return ev.Type == engine.EventUsed })
}

// ciCreated creates ciIdentity(name).
func ciCreated(t *testing.T, e engine.Engine, ctx context.Context, name string) {
	t.Helper()
	_, err := e.CreateIdentity(ctx, ciIdentity(name))
	must(t, err)
}

func svcIdentity(t *testing.T, e engine.Engine, ctx context.Context, name string) {
	t.Helper()
	_, err := e.CreateIdentity(ctx, policy.Identity{Name: name, Class: "svc", Owner: "team-billing"})
	must(t, err)
}

func authAs(t *testing.T, e engine.Engine, ctx context.Context, secret, want string) {
	t.Helper()
	got, err := e.Authenticate(ctx, secret)
	if err != nil || got != want {
		t.Fatalf("Authenticate = %q, %v; want %q", got, err, want)
	}
}

func refused(t *testing.T, e engine.Engine, ctx context.Context, secret string) {
	t.Helper()
	if _, err := e.Authenticate(ctx, secret); !errors.Is(err, engine.ErrDenied) {
		t.Fatalf("Authenticate error = %v, want ErrDenied", err)
	}
}

func testRotationSchedules(t *testing.T, factory Factory) {
	e, _, ctx := setup(t, factory)
	svcIdentity(t, e, ctx, "svc-billing")
	s := policy.RotationSchedule{Identity: "svc-billing", Interval: 30 * policy.Day, Window: time.Hour, Overlap: 2 * time.Hour,
		Consumers: []policy.Consumer{{Name: "billing-api", Kind: "service", Note: "reads it at start"}}, Verify: true, KeepVersions: 3, SecretLength: 32}
	must(t, e.PutRotationSchedule(ctx, s))
	got, err := e.GetRotationSchedule(ctx, "svc-billing")
	must(t, err)
	if !reflect.DeepEqual(got, s) {
		t.Fatalf("GetRotationSchedule = %+v, want %+v", got, s)
	}
	s.Interval, s.Cron = 0, "0 3 * * 1"
	must(t, e.PutRotationSchedule(ctx, s))
	all, err := e.ListRotationSchedules(ctx)
	must(t, err)
	if len(all) != 1 || all[0].Cron != "0 3 * * 1" || all[0].Interval != 0 {
		t.Fatalf("ListRotationSchedules = %+v", all)
	}
	wantDeletes(t, ctx, "svc-billing", e.GetRotationSchedule, e.DeleteRotationSchedule)
}

func testSecretRotation(t *testing.T, factory Factory) {
	e, clk, ctx := setup(t, factory)
	svcIdentity(t, e, ctx, "svc-billing")
	_, _, err := e.CurrentSecret(ctx, "svc-billing")
	wantErr(t, err, engine.ErrNotFound)

	v1, s1, err := e.StageSecret(ctx, "svc-billing", 32)
	must(t, err)
	if v1.Version != 1 || v1.State != engine.SecretStaged || s1 == "" || v1.Fingerprint == "" {
		t.Fatalf("first staged version = %+v", v1)
	}
	authAs(t, e, ctx, s1, "svc-billing") // verification before promotion
	p1, err := e.PromoteSecret(ctx, "svc-billing", 1, engine.PromoteOptions{Overlap: time.Hour, Reason: "create"})
	must(t, err)
	if p1.State != engine.SecretCurrent || !p1.PromotedAt.Equal(clk.Now()) {
		t.Fatalf("promoted = %+v", p1)
	}
	cur, val, err := e.CurrentSecret(ctx, "svc-billing")
	must(t, err)
	if cur.Version != 1 || val != s1 {
		t.Fatalf("CurrentSecret = v%d, value matches: %v", cur.Version, val == s1)
	}

	clk.Advance(30 * policy.Day)
	v2, s2, err := e.StageSecret(ctx, "svc-billing", 32)
	must(t, err)
	if v2.Version != 2 || s2 == s1 || v2.Fingerprint == v1.Fingerprint {
		t.Fatalf("second staged version = %+v (same secret: %v)", v2, s2 == s1)
	}
	_, err = e.PromoteSecret(ctx, "svc-billing", 2, engine.PromoteOptions{Overlap: time.Hour, Reason: "scheduled rotation"})
	must(t, err)
	versions, err := e.ListSecretVersions(ctx, "svc-billing")
	must(t, err)
	if len(versions) != 2 || versions[0].State != engine.SecretPrevious || versions[1].State != engine.SecretCurrent ||
		!versions[0].ExpiresAt.Equal(clk.Now().Add(time.Hour)) {
		t.Fatalf("versions after rotation = %+v", versions)
	}
	// During the overlap both secrets work; after it only the new one.
	authAs(t, e, ctx, s1, "svc-billing")
	authAs(t, e, ctx, s2, "svc-billing")
	clk.Advance(time.Hour + time.Second)
	refused(t, e, ctx, s1)
	authAs(t, e, ctx, s2, "svc-billing")

	// A failed verification rolls back: the staged secret is destroyed, the current one stays.
	v3, s3, err := e.StageSecret(ctx, "svc-billing", 32)
	must(t, err)
	must(t, e.DiscardSecret(ctx, "svc-billing", v3.Version))
	refused(t, e, ctx, s3)
	cur, val, err = e.CurrentSecret(ctx, "svc-billing")
	must(t, err)
	if cur.Version != 2 || val != s2 {
		t.Fatalf("after a discarded rotation CurrentSecret = v%d", cur.Version)
	}
	wantErr(t, e.DiscardSecret(ctx, "svc-billing", 2), engine.ErrConflict) // only staged versions are discarded

	svcIdentity(t, e, ctx, "svc-other")
	_, _, err = e.StageSecret(ctx, "svc-other", 32)
	must(t, err)
	all, err := e.ListSecretVersions(ctx, "")
	must(t, err)
	if len(all) != 3 || all[0].Identity != "svc-billing" || all[2].Identity != "svc-other" {
		t.Fatalf("ListSecretVersions of every identity = %+v, want billing's 2 versions then svc-other's 1", all)
	}

	events, err := e.AuditEvents(ctx, engine.AuditFilter{Identity: "svc-billing"})
	must(t, err)
	counts := map[string]int{}
	for _, ev := range events {
		counts[ev.Type]++
	}
	if counts[engine.EventSecretStaged] != 3 || counts[engine.EventSecretPromoted] != 2 || counts[engine.EventSecretDiscarded] != 1 {
		t.Fatalf("rotation audit events = %v", counts)
	}
}

func testSecretRollbackAndKeep(t *testing.T, factory Factory) {
	e, clk, ctx := setup(t, factory)
	svcIdentity(t, e, ctx, "svc-ledger")
	secrets := map[int64]string{}
	for i := int64(1); i <= 3; i++ {
		v, s, err := e.StageSecret(ctx, "svc-ledger", 24)
		must(t, err)
		secrets[v.Version] = s
		_, err = e.PromoteSecret(ctx, "svc-ledger", v.Version, engine.PromoteOptions{Overlap: time.Minute, Keep: 3})
		must(t, err)
		clk.Advance(time.Hour)
	}
	// Version 1 is retained for rollback but no longer authenticates.
	refused(t, e, ctx, secrets[1])
	_, err := e.PromoteSecret(ctx, "svc-ledger", 1, engine.PromoteOptions{Overlap: time.Minute, Keep: 3, Reason: "rollback to version 1"})
	must(t, err)
	cur, val, err := e.CurrentSecret(ctx, "svc-ledger")
	must(t, err)
	if cur.Version != 1 || val != secrets[1] {
		t.Fatalf("after rollback CurrentSecret = v%d", cur.Version)
	}
	authAs(t, e, ctx, secrets[1], "svc-ledger")
	authAs(t, e, ctx, secrets[3], "svc-ledger") // previous, inside its overlap
	// Keep = 2 destroys the oldest beyond the newest two (current counted).
	v4, _, err := e.StageSecret(ctx, "svc-ledger", 24)
	must(t, err)
	_, err = e.PromoteSecret(ctx, "svc-ledger", v4.Version, engine.PromoteOptions{Overlap: time.Minute, Keep: 2})
	must(t, err)
	versions, err := e.ListSecretVersions(ctx, "svc-ledger")
	must(t, err)
	if len(versions) != 2 || versions[0].Version != 1 || versions[0].State != engine.SecretPrevious || versions[1].Version != 4 {
		t.Fatalf("after keep=2: versions = %+v, want version 1 previous and version 4 current", versions)
	}
	_, err = e.PromoteSecret(ctx, "svc-ledger", 2, engine.PromoteOptions{})
	wantErr(t, err, engine.ErrNotFound)
}

func testSecretHardExpiry(t *testing.T, factory Factory) {
	e, clk, ctx := setup(t, factory)
	svcIdentity(t, e, ctx, "svc-hard")
	v, s, err := e.StageSecret(ctx, "svc-hard", 32)
	must(t, err)
	_, err = e.PromoteSecret(ctx, "svc-hard", v.Version, engine.PromoteOptions{ExpiresAt: clk.Now().Add(policy.Day)})
	must(t, err)
	clk.Advance(policy.Day - time.Second)
	authAs(t, e, ctx, s, "svc-hard")
	clk.Advance(2 * time.Second)
	refused(t, e, ctx, s)
}

func testSecretRefusals(t *testing.T, factory Factory) {
	e, _, ctx := setup(t, factory)
	ciCreated(t, e, ctx, "ci-eph")
	_, _, err := e.StageSecret(ctx, "ci-eph", 32)
	wantErr(t, err, engine.ErrInvalid)
	_, _, err = e.StageSecret(ctx, "nobody", 32)
	wantErr(t, err, engine.ErrNotFound)
	svcIdentity(t, e, ctx, "svc-old")
	v, s, err := e.StageSecret(ctx, "svc-old", 32)
	must(t, err)
	_, err = e.PromoteSecret(ctx, "svc-old", v.Version, engine.PromoteOptions{})
	must(t, err)
	_, err = e.RetireIdentity(ctx, "svc-old")
	must(t, err)
	refused(t, e, ctx, s)
	_, _, err = e.StageSecret(ctx, "svc-old", 32)
	wantErr(t, err, engine.ErrRetired)
	// Opening nhi_secret of a retired identity: the same typed error on every engine.
	_, _, err = e.CurrentSecret(ctx, "svc-old")
	wantErr(t, err, engine.ErrRetired)
}

// testScopes: a credential grants exactly its identity's scopes, from its bound networks only;
// a scope removed by an update is refused for credentials issued after it (one issued before
// keeps what it was issued with, as a Vault token keeps its policies); a rotated secret grants
// what its identity holds now.
func testScopes(t *testing.T, factory Factory) {
	e, _, ctx := setup(t, factory)
	loopback, elsewhere := netip.MustParseAddr("127.0.0.1"), netip.MustParseAddr("10.1.2.3")
	id := ciIdentity("ci-build")
	// Loopback: Vault checks the bound networks on the engine's own logins too.
	id.Scopes, id.BoundCIDRs = []string{"ci-read", "read:artifacts"}, []string{"127.0.0.0/8"}
	_, err := e.CreateIdentity(ctx, id)
	must(t, err)
	authorize := func(secret, scope string, caller netip.Addr, want error) {
		t.Helper()
		got, err := e.Authorize(ctx, engine.AuthorizeRequest{Secret: secret, Scope: scope, Caller: caller})
		if want == nil && (err != nil || got != "ci-build" && got != "svc-billing") {
			t.Fatalf("Authorize(%s from %s) = %q, %v; want granted", scope, caller, got, err)
		}
		if want != nil && !errors.Is(err, want) {
			t.Fatalf("Authorize(%s from %s) error = %v, want %v", scope, caller, err, want)
		}
	}
	_, before, err := e.IssueCredential(ctx, engine.CredentialRequest{Identity: "ci-build", Requester: "test"})
	must(t, err)
	authorize(before, "ci-read", loopback, nil)
	authorize(before, "read:artifacts", loopback, nil)
	authorize(before, "write:releases", loopback, engine.ErrDenied)
	authorize(before, "ci-read", elsewhere, engine.ErrDenied)
	authorize(before, "ci-read", netip.Addr{}, engine.ErrDenied)
	authorize("not-a-secret", "ci-read", loopback, engine.ErrDenied)

	id.Scopes = []string{"read:artifacts"}
	_, err = e.UpdateIdentity(ctx, id)
	must(t, err)
	_, after, err := e.IssueCredential(ctx, engine.CredentialRequest{Identity: "ci-build", Requester: "test"})
	must(t, err)
	authorize(after, "ci-read", loopback, engine.ErrDenied)
	authorize(after, "read:artifacts", loopback, nil)
	authorize(before, "ci-read", loopback, nil)

	svc := policy.Identity{Name: "svc-billing", Class: "svc", Owner: "team-billing", Scopes: []string{"read:artifacts"}}
	_, err = e.CreateIdentity(ctx, svc)
	must(t, err)
	v, secret, err := e.StageSecret(ctx, "svc-billing", 32)
	must(t, err)
	_, err = e.PromoteSecret(ctx, "svc-billing", v.Version, engine.PromoteOptions{})
	must(t, err)
	authorize(secret, "read:artifacts", netip.Addr{}, nil)
	authorize(secret, "ci-read", netip.Addr{}, engine.ErrDenied)
	svc.Scopes = []string{"ci-read"}
	_, err = e.UpdateIdentity(ctx, svc)
	must(t, err)
	authorize(secret, "ci-read", netip.Addr{}, nil)
	authorize(secret, "read:artifacts", netip.Addr{}, engine.ErrDenied)
}

// testLastUse: an identity's last use is zero until a secret of it authenticates; a use shows
// in GetIdentity, ListIdentities and the drift observation, moves with a later use, and is a
// "used" event of the audit log; an identity idle past its class's max_idle (never used: since
// its creation) is inactive, with its idle time beyond max_idle as trust debt, to the second.
// The time of a use is the engine's clock on the local engine and the time of the login in
// Vault's audit log on Vault, so the clock is set from the observed last use, never from the
// wall clock. Engines that cannot tell last use (Vault without an audit log) skip.
func testLastUse(t *testing.T, factory Factory) {
	e, clk, ctx := setup(t, factory)
	idle := persistentClass
	idle.Name, idle.MaxIdle = "svc-idle", 30*policy.Day
	must(t, e.PutClass(ctx, idle))
	_, err := e.CreateIdentity(ctx, policy.Identity{Name: "svc-used", Class: "svc-idle", Owner: "team-billing"})
	must(t, err)
	got, err := e.GetIdentity(ctx, "svc-used")
	must(t, err)
	if got.UseUnknown {
		t.Skip("the engine cannot tell when an identity was last used")
	}
	if !got.LastUsedAt.IsZero() {
		t.Fatalf("LastUsedAt of a new identity = %v, want zero", got.LastUsedAt)
	}
	// Never used: idle since its creation.
	clk.Set(got.CreatedAt.Add(30*policy.Day + 2*time.Hour))
	wantInactive(t, e, ctx, clk.Now(), "svc-used", 2*time.Hour)

	_, secret, err := e.StageSecret(ctx, "svc-used", 32)
	must(t, err)
	_, err = e.PromoteSecret(ctx, "svc-used", 1, engine.PromoteOptions{Reason: "create"})
	must(t, err)
	authAs(t, e, ctx, secret, "svc-used")
	first, err := e.GetIdentity(ctx, "svc-used")
	must(t, err)
	if first.LastUsedAt.IsZero() {
		t.Fatal("LastUsedAt after an authentication is zero")
	}
	ids, err := e.ListIdentities(ctx)
	must(t, err)
	for _, id := range ids {
		if id.Name == "svc-used" && !id.LastUsedAt.Equal(first.LastUsedAt) {
			t.Fatalf("ListIdentities: LastUsedAt = %v, GetIdentity says %v", id.LastUsedAt, first.LastUsedAt)
		}
	}
	log, err := engine.AuditLog(ctx, e, engine.AuditFilter{Identity: "svc-used"}, clk.Now())
	must(t, err)
	var used []engine.AuditEvent
	for _, ev := range log {
		if ev.Type == engine.EventUsed {
			used = append(used, ev)
		}
	}
	if len(used) == 0 || !used[0].Time.Equal(first.LastUsedAt) || used[0].Identity != "svc-used" {
		t.Fatalf("used events = %+v, want the first at %v", used, first.LastUsedAt)
	}

	clk.Advance(2 * time.Minute)
	authAs(t, e, ctx, secret, "svc-used")
	second, err := e.GetIdentity(ctx, "svc-used")
	must(t, err)
	if !second.LastUsedAt.After(first.LastUsedAt) {
		t.Fatalf("LastUsedAt after a second use = %v, want after %v", second.LastUsedAt, first.LastUsedAt)
	}
	// An update returns the identity with its last use, as a read does (the findings of the
	// update judge it).
	updated, err := e.UpdateIdentity(ctx, policy.Identity{Name: "svc-used", Class: "svc-idle", Owner: "team-payments"})
	must(t, err)
	if !updated.LastUsedAt.Equal(second.LastUsedAt) {
		t.Fatalf("UpdateIdentity: LastUsedAt = %v, want %v", updated.LastUsedAt, second.LastUsedAt)
	}
	clk.Set(second.LastUsedAt)
	wantInactive(t, e, ctx, clk.Now(), "svc-used", 0)
	clk.Set(second.LastUsedAt.Add(30*policy.Day + 90*time.Minute))
	wantInactive(t, e, ctx, clk.Now(), "svc-used", 90*time.Minute)
}

// wantInactive checks the drift report of e at now: identity is inactive with trust debt debt,
// or, when debt is zero, neither inactive nor in debt.
func wantInactive(t *testing.T, e engine.Engine, ctx context.Context, now time.Time, identity string, debt time.Duration) {
	t.Helper()
	fleet, err := engine.Observe(ctx, e, now)
	must(t, err)
	rep := policy.Drift(fleet)
	var inactive []policy.Finding
	for _, f := range rep.About(identity) {
		if f.Rule == policy.RuleInactive {
			inactive = append(inactive, f)
		}
	}
	if debt == 0 {
		if len(inactive) != 0 || rep.TrustDebt[identity] != 0 {
			t.Fatalf("at %v: inactive findings %+v, trust debt %v; want none", now, inactive, rep.TrustDebt[identity])
		}
		return
	}
	if len(inactive) != 1 || rep.TrustDebt[identity] != debt {
		t.Fatalf("at %v: inactive findings %+v, trust debt %v; want one, and %v", now, inactive, rep.TrustDebt[identity], debt)
	}
	// Refreshing the identity alone finds it too.
	one, err := engine.ReadObserved(ctx, e, identity, now)
	must(t, err)
	if found := policy.Drift(one).About(identity); !slices.ContainsFunc(found, func(f policy.Finding) bool { return f.Rule == policy.RuleInactive }) {
		t.Fatalf("ReadObserved: findings %+v, want inactive", found)
	}
}

// testOwners: owner records are governance records like classes: put, read back exactly,
// replaced, listed, deleted, refused when malformed (ErrInvalid, nothing written), and looked up
// by any identity's owner text, a name no record can have included (ErrNotFound). A drift
// observation carries them.
func testOwners(t *testing.T, factory Factory) {
	e, clk, ctx := setup(t, factory)
	team := policy.Owner{Name: "team-build", Kind: policy.OwnerTeam, Contact: "#build", Status: policy.OwnerActive}
	bob := policy.Owner{Name: "bob", Kind: policy.OwnerPerson, Contact: "bob@example.com", Status: policy.OwnerActive}
	must(t, e.PutOwner(ctx, team))
	must(t, e.PutOwner(ctx, bob))
	got, err := e.GetOwner(ctx, "team-build")
	must(t, err)
	if !reflect.DeepEqual(got, team) {
		t.Fatalf("GetOwner = %+v, want %+v", got, team)
	}
	bob.Status = policy.OwnerDeparted
	must(t, e.PutOwner(ctx, bob))
	if got, err = e.GetOwner(ctx, "bob"); err != nil || !reflect.DeepEqual(got, bob) {
		t.Fatalf("GetOwner after marking departed = %+v, %v; want %+v", got, err, bob)
	}
	owners, err := e.ListOwners(ctx)
	must(t, err)
	if len(owners) != 2 || owners[0].Name != "bob" || owners[1].Name != "team-build" {
		t.Fatalf("ListOwners = %+v, want bob and team-build, by name", owners)
	}
	for _, bad := range []policy.Owner{
		{Name: "x", Kind: "robot", Status: policy.OwnerActive},
		{Name: "x", Kind: policy.OwnerTeam, Status: "gone"},
		{Name: "no spaces", Kind: policy.OwnerTeam, Status: policy.OwnerActive},
		{Kind: policy.OwnerTeam, Status: policy.OwnerActive},
	} {
		wantErr(t, e.PutOwner(ctx, bad), engine.ErrInvalid)
	}
	if owners, err = e.ListOwners(ctx); err != nil || len(owners) != 2 {
		t.Fatalf("refused puts changed the owners: %+v, %v", owners, err)
	}
	for _, text := range []string{"nobody", "Platform Team <platform@example.com>", ""} {
		_, err = e.GetOwner(ctx, text)
		wantErr(t, err, engine.ErrNotFound)
	}
	// The drift rules see the records: bob's active identity gets owner-departed, the team's does not.
	bobs := ciIdentity("ci-bobs")
	bobs.Owner = "bob"
	_, err = e.CreateIdentity(ctx, bobs)
	must(t, err)
	ciCreated(t, e, ctx, "ci-teams")
	fleet, err := engine.Observe(ctx, e, clk.Now())
	must(t, err)
	if len(fleet.Owners) != 2 {
		t.Fatalf("Observe read %d owners, want 2", len(fleet.Owners))
	}
	var departed []string
	for _, f := range policy.Drift(fleet).Findings {
		if f.Rule == policy.RuleOwnerDeparted {
			departed = append(departed, f.Subject)
		}
	}
	if !slices.Equal(departed, []string{"identity/ci-bobs"}) {
		t.Fatalf("owner-departed findings on %v, want exactly identity/ci-bobs", departed)
	}
	one, err := engine.ReadObserved(ctx, e, "ci-bobs", clk.Now())
	must(t, err)
	if len(one.Owners) != 1 || !one.Owners[0].Departed() {
		t.Fatalf("ReadObserved of ci-bobs read owners %+v, want bob, departed", one.Owners)
	}
	wantDeletes(t, ctx, "bob", e.GetOwner, e.DeleteOwner)
	if owners, err = e.ListOwners(ctx); err != nil || len(owners) != 1 {
		t.Fatalf("ListOwners after delete = %+v, %v; want team-build alone", owners, err)
	}
}

// testTargetKept: an update cannot give an identity a target, take it away or change it
// (engine.CheckTargetKept), on either engine: ErrInvalid, nothing written.
func testTargetKept(t *testing.T, factory Factory) {
	e, _, ctx := setup(t, factory)
	id := ciIdentity("ci-kept")
	_, err := e.CreateIdentity(ctx, id)
	must(t, err)
	moved := id
	moved.Target = "db-elsewhere"
	_, err = e.UpdateIdentity(ctx, moved)
	wantErr(t, err, engine.ErrInvalid)
	if got, err := e.GetIdentity(ctx, id.Name); err != nil || got.Target != "" {
		t.Fatalf("after a refused target change: %+v, %v; want the identity without a target", got, err)
	}
}

// testReviewStored: an identity's review attestation (reviewed_at, reviewed_by) is kept in the
// engine's identity record, so a drift job without Terraform state sees it; an update moves it.
func testReviewStored(t *testing.T, factory Factory) {
	e, clk, ctx := setup(t, factory)
	id := ciIdentity("ci-reviewed")
	id.ReviewedAt, id.ReviewedBy = Epoch.Add(-time.Hour), "alice"
	_, err := e.CreateIdentity(ctx, id)
	must(t, err)
	got, err := e.GetIdentity(ctx, id.Name)
	must(t, err)
	if !got.ReviewedAt.Equal(id.ReviewedAt) || got.ReviewedBy != "alice" {
		t.Fatalf("GetIdentity review = %s by %q, want %s by alice", got.ReviewedAt, got.ReviewedBy, id.ReviewedAt)
	}
	clk.Advance(time.Hour)
	id.ReviewedAt, id.ReviewedBy = clk.Now(), "carol"
	_, err = e.UpdateIdentity(ctx, id)
	must(t, err)
	ids, err := e.ListIdentities(ctx)
	must(t, err)
	if len(ids) != 1 || !ids[0].ReviewedAt.Equal(clk.Now()) || ids[0].ReviewedBy != "carol" {
		t.Fatalf("ListIdentities after the review moved = %+v, want reviewed at %s by carol", ids, clk.Now())
	}
}

// typedErrors are the engine's typed errors, which wantSame compares.
var typedErrors = []error{engine.ErrNotFound, engine.ErrConflict, engine.ErrRetired, engine.ErrDenied, engine.ErrInvalid, engine.ErrUnavailable}

// wantSame asserts that err has want's message and wraps the same typed errors: every engine
// gives the one error that engine's constructors make for the condition.
func wantSame(t *testing.T, what string, err, want error) {
	t.Helper()
	if err == nil || err.Error() != want.Error() {
		t.Fatalf("%s: error = %v, want %v", what, err, want)
	}
	for _, typed := range typedErrors {
		if errors.Is(err, typed) != errors.Is(want, typed) {
			t.Fatalf("%s: error %v: errors.Is(err, %v) = %t, want %t", what, err, typed, errors.Is(err, typed), errors.Is(want, typed))
		}
	}
}

// wantMissing asserts that get and del of the record of kind named name both give
// engine.NotFound(kind, name).
func wantMissing[T any](t *testing.T, ctx context.Context, kind, name string, get func(context.Context, string) (T, error), del func(context.Context, string) error) {
	t.Helper()
	_, err := get(ctx, name)
	wantSame(t, "get "+kind+" "+name, err, engine.NotFound(kind, name))
	wantSame(t, "delete "+kind+" "+name, del(ctx, name), engine.NotFound(kind, name))
}

// testSameErrors: the same condition gives the same error, kind and message, on every engine:
// records the engine does not hold, malformed records, and secrets that cannot be staged.
func testSameErrors(t *testing.T, factory Factory) {
	e, _, ctx := setup(t, factory)
	unknown := engine.NotFound(engine.KindIdentity, "nobody")
	_, err := e.UpdateIdentity(ctx, policy.Identity{Name: "nobody", Class: "svc", Owner: "team-billing"})
	wantSame(t, "UpdateIdentity", err, unknown)
	_, err = e.RetireIdentity(ctx, "nobody")
	wantSame(t, "RetireIdentity", err, unknown)
	_, _, err = e.IssueCredential(ctx, engine.CredentialRequest{Identity: "nobody"})
	wantSame(t, "IssueCredential", err, unknown)
	_, _, err = e.StageSecret(ctx, "nobody", 32)
	wantSame(t, "StageSecret", err, unknown)
	_, err = e.PromoteSecret(ctx, "nobody", 1, engine.PromoteOptions{})
	wantSame(t, "PromoteSecret", err, unknown)
	wantSame(t, "DiscardSecret", e.DiscardSecret(ctx, "nobody", 1), unknown)
	_, _, err = e.CurrentSecret(ctx, "nobody")
	wantSame(t, "CurrentSecret", err, unknown)
	_, err = e.ListSecretVersions(ctx, "nobody")
	wantSame(t, "ListSecretVersions", err, unknown)
	wantSame(t, "RevokeCredential", e.RevokeCredential(ctx, "nope"), engine.NotFound(engine.KindCredential, "nope"))
	// A name no record can have is looked up like any other name the engine does not hold.
	const malformed = "no spaces"
	for _, name := range []string{"nope", malformed} {
		wantMissing(t, ctx, engine.KindIdentity, name, e.GetIdentity, e.DeleteIdentity)
		wantMissing(t, ctx, engine.KindClass, name, e.GetClass, e.DeleteClass)
		wantMissing(t, ctx, engine.KindTTLPolicy, name, e.GetTTLPolicy, e.DeleteTTLPolicy)
		wantMissing(t, ctx, engine.KindOwner, name, e.GetOwner, e.DeleteOwner)
		wantMissing(t, ctx, engine.KindRotationSchedule, name, e.GetRotationSchedule, e.DeleteRotationSchedule)
	}
	_, _, err = e.CurrentSecret(ctx, malformed)
	wantSame(t, "CurrentSecret of a malformed name", err, engine.NotFound(engine.KindIdentity, malformed))
	events, err := e.AuditEvents(ctx, engine.AuditFilter{Identity: malformed})
	if err != nil || len(events) != 0 {
		t.Fatalf("AuditEvents of a malformed identity = %v, %v; want none", events, err)
	}
	creds, err := e.ListCredentials(ctx, malformed)
	if err != nil || len(creds) != 0 {
		t.Fatalf("ListCredentials of a malformed identity = %v, %v; want none", creds, err)
	}
	_, err = e.CheckCreateIdentity(ctx, ciIdentity(malformed))
	wantSame(t, "CheckCreateIdentity with a malformed name", err, engine.CheckName(engine.KindIdentity, malformed))

	// Malformed records: nothing is written.
	noPolicy := ciIdentity("ci-no-policy")
	noPolicy.TTLPolicy = "missing"
	_, err = e.CreateIdentity(ctx, noPolicy)
	wantSame(t, "CreateIdentity naming a TTL policy the engine does not hold", err, engine.DeclaredTTLPolicy(noPolicy, engine.ErrNotFound))
	_, err = e.CreateIdentity(ctx, ciIdentity(malformed))
	wantSame(t, "CreateIdentity with a malformed name", err, engine.CheckName(engine.KindIdentity, malformed))
	ciCreated(t, e, ctx, "ci-no-policy")
	_, err = e.UpdateIdentity(ctx, noPolicy)
	wantSame(t, "UpdateIdentity naming a TTL policy the engine does not hold", err, engine.DeclaredTTLPolicy(noPolicy, engine.ErrNotFound))
	if got, err := e.GetIdentity(ctx, "ci-no-policy"); err != nil || got.TTLPolicy != ciPolicy.Name {
		t.Fatalf("after a refused update: %+v, %v; want the identity unchanged", got, err)
	}
	wantSame(t, "PutClass", e.PutClass(ctx, policy.Class{Name: "", Kind: policy.KindEphemeral}), engine.CheckName(engine.KindClass, ""))
	wantSame(t, "PutTTLPolicy", e.PutTTLPolicy(ctx, policy.TTLPolicy{Name: malformed, Class: "ci", TTL: time.Minute}), engine.CheckName(engine.KindTTLPolicy, malformed))
	svcIdentity(t, e, ctx, "svc-same")
	for _, s := range []policy.RotationSchedule{
		{Identity: "svc-same", Interval: policy.Day, Cron: "0 3 * * 1"},
		{Identity: "svc-same", Cron: "every day"},
		{Identity: "svc-same"},
	} {
		wantSame(t, "PutRotationSchedule", e.PutRotationSchedule(ctx, s), fmt.Errorf("%v: %w", s.Validate(), engine.ErrInvalid))
	}
	schedules, err := e.ListRotationSchedules(ctx)
	must(t, err)
	classes, err := e.ListClasses(ctx)
	must(t, err)
	policies, err := e.ListTTLPolicies(ctx)
	must(t, err)
	if len(schedules) != 0 || len(classes) != 2 || len(policies) != 1 {
		t.Fatalf("refused puts wrote records: %d schedules, %d classes, %d TTL policies", len(schedules), len(classes), len(policies))
	}

	// Secrets that cannot be staged.
	ciCreated(t, e, ctx, "ci-same")
	_, _, err = e.StageSecret(ctx, "ci-same", 32)
	wantSame(t, "StageSecret of an ephemeral identity", err, engine.CheckStage("ci-same", ephemeralClass, nil, 32))
	for _, n := range []int64{0, engine.MinSecretLength - 1, engine.MaxSecretLength + 1} {
		_, _, err = e.StageSecret(ctx, "svc-same", n)
		wantSame(t, fmt.Sprintf("StageSecret of %d bytes", n), err, engine.CheckStage("svc-same", persistentClass, nil, n))
	}
	for _, n := range []int64{engine.MinSecretLength, engine.MaxSecretLength} {
		_, _, err = e.StageSecret(ctx, "svc-same", n)
		must(t, err)
	}
}

// testSameRefusals: a secret that is not live is refused with the same error on every engine,
// whatever the reason (Vault does not say which): unknown, revoked, expired, rotated out or
// discarded; a live secret of another credential does not renew this one.
func testSameRefusals(t *testing.T, factory Factory) {
	e, clk, ctx := setup(t, factory)
	ciCreated(t, e, ctx, "ci-refused")
	_, err := e.Authenticate(ctx, "not-a-secret")
	wantSame(t, "Authenticate of an unknown secret", err, engine.ErrSecretRefused)
	revoked, revokedSecret, err := e.IssueCredential(ctx, engine.CredentialRequest{Identity: "ci-refused"})
	must(t, err)
	other, otherSecret, err := e.IssueCredential(ctx, engine.CredentialRequest{Identity: "ci-refused"})
	must(t, err)
	_, err = e.RenewCredential(ctx, revoked.ID, "not-a-secret")
	wantSame(t, "RenewCredential with an unknown secret", err, engine.ErrSecretRefused)
	_, err = e.RenewCredential(ctx, revoked.ID, otherSecret)
	wantSame(t, "RenewCredential with another credential's secret", err, engine.NotItsSecret(revoked.ID))
	must(t, e.RevokeCredential(ctx, revoked.ID))
	_, err = e.Authenticate(ctx, revokedSecret)
	wantSame(t, "Authenticate of a revoked credential", err, engine.ErrSecretRefused)
	_, err = e.RenewCredential(ctx, revoked.ID, revokedSecret)
	wantSame(t, "RenewCredential of a revoked credential", err, engine.ErrSecretRefused)
	clk.Advance(ciPolicy.TTL + time.Minute)
	_, err = e.Authenticate(ctx, otherSecret)
	wantSame(t, "Authenticate of an expired credential", err, engine.ErrSecretRefused)
	_, err = e.RenewCredential(ctx, other.ID, otherSecret)
	wantSame(t, "RenewCredential of an expired credential", err, engine.ErrSecretRefused)

	svcIdentity(t, e, ctx, "svc-refused")
	first, firstSecret, err := e.StageSecret(ctx, "svc-refused", 32)
	must(t, err)
	_, err = e.PromoteSecret(ctx, "svc-refused", first.Version, engine.PromoteOptions{})
	must(t, err)
	second, _, err := e.StageSecret(ctx, "svc-refused", 32)
	must(t, err)
	_, err = e.PromoteSecret(ctx, "svc-refused", second.Version, engine.PromoteOptions{})
	must(t, err)
	_, err = e.Authenticate(ctx, firstSecret)
	wantSame(t, "Authenticate with a version rotated out without overlap", err, engine.ErrSecretRefused)
	third, thirdSecret, err := e.StageSecret(ctx, "svc-refused", 32)
	must(t, err)
	must(t, e.DiscardSecret(ctx, "svc-refused", third.Version))
	_, err = e.Authenticate(ctx, thirdSecret)
	wantSame(t, "Authenticate with a discarded version", err, engine.ErrSecretRefused)
}

// testSameAuditDetails: staging and rolling back a secret version, and retiring or deleting an
// identity with secret versions, are audited with the same details on every engine.
func testSameAuditDetails(t *testing.T, factory Factory) {
	e, _, ctx := setup(t, factory)
	svcIdentity(t, e, ctx, "svc-audited")
	v, _, err := e.StageSecret(ctx, "svc-audited", 32)
	must(t, err)
	must(t, e.DiscardSecret(ctx, "svc-audited", v.Version))
	events, err := e.AuditEvents(ctx, engine.AuditFilter{Identity: "svc-audited", Types: []string{engine.EventSecretStaged, engine.EventSecretDiscarded}})
	must(t, err)
	want := []string{engine.StagedDetail(v.Version, v.Fingerprint, 32), engine.RollbackDetail(v.Version)}
	var got []string
	for _, ev := range events {
		got = append(got, ev.Detail)
	}
	if !slices.Equal(got, want) {
		t.Fatalf("audit details = %q, want %q", got, want)
	}
	stagePromoted(t, e, ctx, "svc-audited")
	_, err = e.RetireIdentity(ctx, "svc-audited")
	must(t, err)
	svcIdentity(t, e, ctx, "svc-deleted")
	stagePromoted(t, e, ctx, "svc-deleted")
	stagePromoted(t, e, ctx, "svc-deleted")
	must(t, e.DeleteIdentity(ctx, "svc-deleted"))
	for identity, want := range map[string]engine.AuditEvent{
		"svc-audited": {Type: engine.EventIdentityRetired, Detail: engine.VersionsDetail("retired", 1)},
		"svc-deleted": {Type: engine.EventIdentityDeleted, Detail: engine.VersionsDetail("destroyed", 2)},
	} {
		events, err := e.AuditEvents(ctx, engine.AuditFilter{Identity: identity, Types: []string{want.Type}})
		must(t, err)
		if len(events) != 1 || events[0].Detail != want.Detail {
			t.Fatalf("%s events of %s = %+v, want one with detail %q", want.Type, identity, events, want.Detail)
		}
	}
}

// stagePromoted stages a new version of identity's secret and promotes it.
func stagePromoted(t *testing.T, e engine.Engine, ctx context.Context, identity string) {
	t.Helper()
	v, _, err := e.StageSecret(ctx, identity, 32)
	must(t, err)
	_, err = e.PromoteSecret(ctx, identity, v.Version, engine.PromoteOptions{})
	must(t, err)
}
