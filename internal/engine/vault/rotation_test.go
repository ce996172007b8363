package vault

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/nhigov/terraform-provider-nhi/internal/clock"
	"github.com/nhigov/terraform-provider-nhi/internal/engine"
	"github.com/nhigov/terraform-provider-nhi/internal/policy"
)

// setupPersistent stores a persistent class and an identity of it, and returns the role_id of
// the identity's AppRole role.
func setupPersistent(t *testing.T, e *Engine, name string) string {
	t.Helper()
	ctx := context.Background()
	must(t, e.PutClass(ctx, policy.Class{Name: "svc", Kind: policy.KindPersistent}))
	_, err := e.CreateIdentity(ctx, policy.Identity{Name: name, Class: "svc", Owner: "team-test"})
	must(t, err)
	roleID, err := e.roleID(ctx, name)
	must(t, err)
	return roleID
}

// vaultLogin logs in to AppRole as a consumer would, with role_id and secret, bypassing the
// engine; it revokes the token it gets and returns Vault's refusal, if any.
func vaultLogin(t *testing.T, e *Engine, roleID, secret string) error {
	t.Helper()
	anon, err := e.as("")
	must(t, err)
	anon.SetMaxRetries(0)
	s, err := anon.Logical().WriteWithContext(context.Background(), "auth/"+e.approle+"/login", map[string]any{"role_id": roleID, "secret_id": secret})
	if err != nil {
		return err
	}
	if s == nil || s.Auth == nil {
		t.Fatal("AppRole login returned no token")
	}
	must(t, e.revokeToken(context.Background(), s.Auth.Accessor))
	return nil
}

func stagePromote(t *testing.T, e *Engine, name string, p engine.PromoteOptions) string {
	t.Helper()
	v, s, err := e.StageSecret(context.Background(), name, 32)
	must(t, err)
	_, err = e.PromoteSecret(context.Background(), name, v.Version, p)
	must(t, err)
	return s
}

// dataString reads a string field of a Vault response, failing the test when it is not one.
func dataString(t *testing.T, data map[string]any, key string) string {
	t.Helper()
	v, ok := data[key].(string)
	if !ok {
		t.Fatalf("Vault response field %q is %T, want a string", key, data[key])
	}
	return v
}

// TestRotatedSecretEnforcedByVault checks each state of a rotated secret in Vault itself: a
// consumer's AppRole login with role_id and the secret works exactly while the version
// authenticates, and no version works after the identity is retired.
func TestRotatedSecretEnforcedByVault(t *testing.T) {
	e := openTest(t, clock.Real{})
	ctx := context.Background()
	roleID := setupPersistent(t, e, "svc-app")
	works := func(what, secret string) {
		t.Helper()
		if err := vaultLogin(t, e, roleID, secret); err != nil {
			t.Fatalf("%s: Vault refuses the login: %v", what, err)
		}
	}
	fails := func(what, secret string) {
		t.Helper()
		if err := vaultLogin(t, e, roleID, secret); err == nil {
			t.Fatalf("%s: Vault still accepts the login", what)
		}
	}

	v1, s1, err := e.StageSecret(ctx, "svc-app", 32)
	must(t, err)
	if !strings.HasPrefix(s1, "nhis.svc-app.") {
		t.Fatalf("secret %q... is not in the nhis.<identity>.<random> format", s1[:12])
	}
	works("staged version", s1)
	must(t, e.DiscardSecret(ctx, "svc-app", v1.Version))
	fails("discarded version", s1)

	s2 := stagePromote(t, e, "svc-app", engine.PromoteOptions{})
	s3 := stagePromote(t, e, "svc-app", engine.PromoteOptions{Overlap: time.Hour})
	works("previous version inside its overlap", s2)
	works("current version", s3)
	// Vault ends the overlap itself: the previous version's secret-id has the overlap as TTL.
	look, err := e.write(ctx, e.rolePath("svc-app")+"/secret-id/lookup", map[string]any{"secret_id": s2})
	must(t, err)
	n, ok := look.Data["secret_id_ttl"].(json.Number)
	if !ok {
		t.Fatalf("secret_id_ttl is %T, want a number", look.Data["secret_id_ttl"])
	}
	if ttl, _ := n.Int64(); ttl < 3590 || ttl > 3600 {
		t.Fatalf("previous version's secret-id TTL = %d s, want the 1h overlap", ttl)
	}

	s4 := stagePromote(t, e, "svc-app", engine.PromoteOptions{})
	fails("retained version (older previous)", s2)
	fails("retained version (no overlap)", s3)
	works("current version", s4)

	// A rollback re-issues the retained version's secret-id with the same value.
	_, err = e.PromoteSecret(ctx, "svc-app", 2, engine.PromoteOptions{Reason: "rollback"})
	must(t, err)
	works("rolled-back version", s2)

	_, err = e.RetireIdentity(ctx, "svc-app")
	must(t, err)
	for _, s := range []string{s2, s3, s4} {
		fails("version of a retired identity", s)
		if _, err := e.Authenticate(ctx, s); !errors.Is(err, engine.ErrDenied) {
			t.Fatalf("Authenticate after retire: error = %v, want ErrDenied", err)
		}
	}
	left, err := e.list(ctx, e.rolePath("svc-app")+"/secret-id")
	must(t, err)
	if len(left) != 0 {
		t.Fatalf("retired identity's role still has %d secret-ids", len(left))
	}
	if _, err := e.secretValue(ctx, "svc-app", 2); !errors.Is(err, engine.ErrNotFound) {
		t.Fatalf("secret value of a retired identity still in KV: %v", err)
	}
	versions, err := e.ListSecretVersions(ctx, "svc-app")
	must(t, err)
	if len(versions) != 3 {
		t.Fatalf("versions of the retired identity = %+v, want 3 kept for audit", versions)
	}
	for _, v := range versions {
		if v.State != engine.SecretRetained {
			t.Fatalf("version %d of a retired identity is %s, want retained", v.Version, v.State)
		}
	}
	if _, _, err := e.CurrentSecret(ctx, "svc-app"); !errors.Is(err, engine.ErrRetired) {
		t.Fatalf("CurrentSecret of a retired identity: error = %v, want ErrRetired", err)
	}
}

// TestSecretHardExpiryEnforcedByVault: the hard limit of a promoted version is its
// secret-id's TTL, so Vault refuses the secret afterwards without the engine. AppRole does not
// check a secret-id's expiry at login but removes expired secret-ids in its tidy, which runs
// once a minute; the test starts a tidy rather than wait for the next one.
func TestSecretHardExpiryEnforcedByVault(t *testing.T) {
	e := openTest(t, clock.Real{})
	ctx := context.Background()
	roleID := setupPersistent(t, e, "svc-brief")
	s := stagePromote(t, e, "svc-brief", engine.PromoteOptions{ExpiresAt: time.Now().Add(2 * time.Second)})
	must(t, vaultLogin(t, e, roleID, s))
	time.Sleep(2500 * time.Millisecond)
	_, err := e.write(ctx, "auth/"+e.approle+"/tidy/secret-id", nil)
	must(t, err)
	for deadline := time.Now().Add(75 * time.Second); vaultLogin(t, e, roleID, s) == nil; time.Sleep(250 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("Vault still accepts the secret more than a tidy cycle after its hard limit")
		}
	}
}

// TestInterruptedTransitionConverges stops a change of the secret after its record was written
// and before its Vault calls (a crash between the two), and checks that the next change, even
// one that changes nothing, makes Vault hold what the record says: the reconcile step is
// re-runnable and works from the record alone.
func TestInterruptedTransitionConverges(t *testing.T) {
	e := openTest(t, clock.Real{})
	ctx := context.Background()
	roleID := setupPersistent(t, e, "svc-crash")
	s1 := stagePromote(t, e, "svc-crash", engine.PromoteOptions{})
	v2, s2, err := e.StageSecret(ctx, "svc-crash", 32)
	must(t, err)
	v3, s3, err := e.StageSecret(ctx, "svc-crash", 32)
	must(t, err)

	// Record only: version 2 is discarded and version 1 is replaced by version 3 with a
	// one-hour overlap, but none of it reaches Vault.
	_, _, err = e.transition(ctx, "svc-crash", func(vs []engine.SecretVersion) (policy.Transition, error) {
		return policy.Discard(vs, v2.Version)
	})
	must(t, err)
	_, rec, err := e.transition(ctx, "svc-crash", func(vs []engine.SecretVersion) (policy.Transition, error) {
		return policy.Promote(vs, v3.Version, engine.PromoteOptions{Overlap: time.Hour}, e.clock.Now())
	})
	must(t, err)
	if len(rec.Destroy) != 1 || rec.Destroy[0].Version != v2.Version {
		t.Fatalf("record after the interrupted discard: destroy queue = %+v, want version %d", rec.Destroy, v2.Version)
	}
	if err := vaultLogin(t, e, roleID, s2); err != nil {
		t.Fatalf("before the reconcile the discarded version's secret-id should still be in Vault: %v", err)
	}
	ttl := func(secret string) int64 {
		t.Helper()
		look, err := e.write(ctx, e.rolePath("svc-crash")+"/secret-id/lookup", map[string]any{"secret_id": secret})
		must(t, err)
		n, _ := look.Data["secret_id_ttl"].(json.Number)
		v, _ := n.Int64()
		return v
	}
	if got := ttl(s1); got != 0 {
		t.Fatalf("before the reconcile version 1's secret-id TTL = %d, want none yet", got)
	}

	// Promoting the current version again changes nothing, but reconciles.
	_, err = e.PromoteSecret(ctx, "svc-crash", v3.Version, engine.PromoteOptions{})
	must(t, err)
	if err := vaultLogin(t, e, roleID, s2); err == nil {
		t.Fatal("after the reconcile Vault still accepts the discarded version")
	}
	if _, err := e.secretValue(ctx, "svc-crash", v2.Version); !errors.Is(err, engine.ErrNotFound) {
		t.Fatalf("after the reconcile the discarded version's value is still in KV: %v", err)
	}
	if got := ttl(s1); got < 3590 || got > 3600 {
		t.Fatalf("after the reconcile version 1's secret-id TTL = %d s, want the 1h overlap", got)
	}
	must(t, vaultLogin(t, e, roleID, s3))
	idRec, _, err := e.readRecord(ctx, "svc-crash")
	must(t, err)
	if rec = *idRec.Secrets; len(rec.Destroy) != 0 {
		t.Fatalf("destroy queue after the reconcile = %+v, want empty", rec.Destroy)
	}
}

func TestDeleteIdentityRemovesSecret(t *testing.T) {
	e := openTest(t, clock.Real{})
	ctx := context.Background()
	setupPersistent(t, e, "svc-gone")
	stagePromote(t, e, "svc-gone", engine.PromoteOptions{})
	must(t, e.DeleteIdentity(ctx, "svc-gone"))
	for _, key := range []string{secretKey("svc-gone"), secretVersionsKey("svc-gone")} {
		if _, err := e.read(ctx, e.metadataPath(key)); !errors.Is(err, engine.ErrNotFound) {
			t.Fatalf("%s left behind: %v", key, err)
		}
	}
	all, err := e.ListSecretVersions(ctx, "")
	must(t, err)
	if len(all) != 0 {
		t.Fatalf("versions left after delete: %+v", all)
	}
}

// An identity whose secret versions sit in the record secret-versions/<identity> that earlier
// releases wrote is read from there, by a refresh, rotation and authentication alike, without
// a write; the next change of its secret moves the versions into the identity record and
// removes the old one.
func TestLegacySecretRecordMigrates(t *testing.T) {
	e := openTest(t, clock.Real{})
	ctx := context.Background()
	roleID := setupPersistent(t, e, "svc-old")
	s1 := stagePromote(t, e, "svc-old", engine.PromoteOptions{Overlap: time.Hour})

	// Put the identity back in the old layout, as an earlier release left it.
	rec, version, err := e.readRecord(ctx, "svc-old")
	must(t, err)
	if rec.Secrets == nil || len(rec.Secrets.Versions) != 1 {
		t.Fatalf("identity record after a rotation holds versions %+v, want the one version", rec.Secrets)
	}
	_, err = e.kvPut(ctx, secretVersionsKey("svc-old"), *rec.Secrets, newKey)
	must(t, err)
	rec.Secrets = nil
	version, err = e.kvPut(ctx, identityKey("svc-old"), rec, version)
	must(t, err)

	want, err := e.ListSecretVersions(ctx, "svc-old")
	must(t, err)
	all, err := e.ListSecretVersions(ctx, "")
	must(t, err)
	r, err := e.ReadIdentity(ctx, "svc-old")
	must(t, err)
	cur, value, err := e.CurrentSecret(ctx, "svc-old")
	must(t, err)
	if len(want) != 1 || len(all) != 1 || len(r.Versions) != 1 || cur.Version != want[0].Version || value != s1 || len(r.Identity.EngineDrift) != 0 {
		t.Fatalf("old layout read back: versions %+v, all %+v, refresh %+v (drift %v), current %d: want the one version, current, no drift",
			want, all, r.Versions, r.Identity.EngineDrift, cur.Version)
	}
	if got, err := e.Authenticate(ctx, s1); err != nil || got != "svc-old" {
		t.Fatalf("Authenticate(version 1) in the old layout = %q, %v", got, err)
	}
	if _, after, err := e.readRecord(ctx, "svc-old"); err != nil || after != version {
		t.Fatalf("reads wrote the identity record (version %d, was %d): %v", after, version, err)
	}

	// The next rotation moves the versions into the identity record.
	s2 := stagePromote(t, e, "svc-old", engine.PromoteOptions{Overlap: time.Hour})
	rec, _, err = e.readRecord(ctx, "svc-old")
	must(t, err)
	if rec.Secrets == nil || len(rec.Secrets.Versions) != 2 {
		t.Fatalf("identity record after the rotation holds versions %+v, want both", rec.Secrets)
	}
	if _, err := e.read(ctx, e.metadataPath(secretVersionsKey("svc-old"))); !errors.Is(err, engine.ErrNotFound) {
		t.Fatalf("the old version record is left behind: %v", err)
	}
	for _, s := range []string{s1, s2} {
		must(t, vaultLogin(t, e, roleID, s))
		if got, err := e.Authenticate(ctx, s); err != nil || got != "svc-old" {
			t.Fatalf("Authenticate after the move = %q, %v", got, err)
		}
	}
}

func TestSecretFormat(t *testing.T) {
	for _, name := range []string{"svc-billing", "svc.billing.v2", "a"} {
		s, err := newSecret(name, 32)
		must(t, err)
		if got, ok := secretIdentity(s); !ok || got != name {
			t.Errorf("secretIdentity(newSecret(%q)) = %q, %v", name, got, ok)
		}
		if !plausibleToken(s) {
			t.Errorf("secret of %q would be refused before reaching Vault", name)
		}
		if fp := fingerprint(s); len(fp) != 16 || fp != fingerprint(s) || strings.Contains(s, fp) {
			t.Errorf("fingerprint %q of a secret is not 16 stable hex digits", fp)
		}
	}
	for _, bad := range []string{"", "nhis.", "nhis.svc", "nhis..abc", "nhis.svc.", "nhis.svc.a+b", "nhis.-svc.abc", "hvs.svc.abc"} {
		if got, ok := secretIdentity(bad); ok {
			t.Errorf("secretIdentity(%q) = %q, want not a secret", bad, got)
		}
	}
	e := &Engine{}
	if _, err := e.Authenticate(context.Background(), "nhis.-bad.abc"); !errors.Is(err, engine.ErrDenied) {
		t.Errorf("Authenticate of a malformed rotated secret: error = %v, want ErrDenied", err)
	}
}

// A staged version whose KV version number the record holds already (the KV key's versions
// began again, say its metadata was deleted by hand) is engine.VersionTaken, and the refused
// stage leaves the recorded versions as they were: the current one stays current and still
// authenticates.
func TestStageVersionTaken(t *testing.T) {
	e := openTest(t, clock.Real{})
	ctx := context.Background()
	setupPersistent(t, e, "svc-taken")
	current := stagePromote(t, e, "svc-taken", engine.PromoteOptions{})
	must(t, e.kvDelete(ctx, secretKey("svc-taken")))
	_, _, err := e.StageSecret(ctx, "svc-taken", 32)
	want := engine.VersionTaken("svc-taken", 1)
	if !errors.Is(err, engine.ErrConflict) || !strings.HasPrefix(err.Error(), "staging version 1 of identity \"svc-taken\"'s secret: "+want.Error()) {
		t.Fatalf("StageSecret over a recorded version number: error = %v, want %v", err, want)
	}
	versions, err := e.ListSecretVersions(ctx, "svc-taken")
	must(t, err)
	if len(versions) != 1 || versions[0].Version != 1 || versions[0].State != engine.SecretCurrent {
		t.Fatalf("versions after the refused stage = %+v, want version 1, current", versions)
	}
	if _, err := e.Authenticate(ctx, current); err != nil {
		t.Fatalf("the current secret after the refused stage: %v", err)
	}
}
