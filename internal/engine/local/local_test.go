package local

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/nhigov/terraform-provider-nhi/internal/clock"
	"github.com/nhigov/terraform-provider-nhi/internal/engine"
	"github.com/nhigov/terraform-provider-nhi/internal/engine/enginetest"
	"github.com/nhigov/terraform-provider-nhi/internal/policy"
)

func openTemp(t testing.TB, clk clock.Clock) *Engine {
	t.Helper()
	e, err := Open(filepath.Join(t.TempDir(), "engine.db"), Options{Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = e.Close() })
	return e
}

func TestConformance(t *testing.T) {
	enginetest.Run(t, func(t *testing.T, clk *clock.Fake) engine.Engine { return openTemp(t, clk) })
}

func TestLockHeldByAnotherHandle(t *testing.T) {
	path := filepath.Join(t.TempDir(), "engine.db")
	first, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer first.Close()
	mustSetup(t, first) // the first write creates and locks the file
	_, err = Open(path, Options{LockWait: 100 * time.Millisecond})
	if !errors.Is(err, engine.ErrUnavailable) || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "locked") {
		t.Fatalf("second Open error = %v, want a lock error naming %s", err, path)
	}
}

func TestKeyFileCreatedPrivate(t *testing.T) {
	t.Setenv(KeyEnv, "")
	path := filepath.Join(t.TempDir(), "engine.db")
	e, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	mustSetup(t, e) // the first write creates the key
	_ = e.Close()
	st, err := os.Stat(path + ".key")
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode = %v, want 0600", st.Mode().Perm())
	}
}

func TestKeyFromEnvironment(t *testing.T) {
	t.Setenv(KeyEnv, "not base64!")
	if _, err := Open(filepath.Join(t.TempDir(), "engine.db"), Options{}); !errors.Is(err, engine.ErrInvalid) {
		t.Fatalf("Open with a bad %s: error = %v, want ErrInvalid", KeyEnv, err)
	}
}

func TestSealRoundTripAndTamper(t *testing.T) {
	e := openTemp(t, clock.Real{})
	if _, err := e.writable(); err != nil { // creates the key
		t.Fatal(err)
	}
	sealed, err := e.seal([]byte("s3cret"), []byte("identity/a"))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(sealed), "s3cret") {
		t.Fatal("sealed value contains the plaintext")
	}
	plain, err := e.unseal(sealed, []byte("identity/a"))
	if err != nil || string(plain) != "s3cret" {
		t.Fatalf("unseal = %q, %v", plain, err)
	}
	if _, err := e.unseal(sealed, []byte("identity/b")); err == nil {
		t.Fatal("unseal with another record's binding succeeded")
	}
}

func TestSecretsStoredOnlyAsHashes(t *testing.T) {
	e := openTemp(t, clock.Real{})
	ctx := context.Background()
	mustSetup(t, e)
	_, secret, err := e.IssueCredential(ctx, engine.CredentialRequest{Identity: "ci-a"})
	if err != nil {
		t.Fatal(err)
	}
	_ = e.Close()
	raw, err := os.ReadFile(e.Path())
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(raw), secret) || strings.Contains(string(raw), strings.TrimPrefix(secret, SecretPrefix)) {
		t.Fatal("the database file contains a credential secret in clear")
	}
}

func TestTamperedAuditLogIsReported(t *testing.T) {
	e := openTemp(t, clock.Real{})
	ctx := context.Background()
	mustSetup(t, e)
	if _, err := e.AuditEvents(ctx, engine.AuditFilter{}); err != nil {
		t.Fatalf("intact log: %v", err)
	}
	err := e.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketAudit)
		k, v := b.Cursor().First()
		return b.Put(k, []byte(strings.Replace(string(v), "governance_changed", "identity_created", 1)))
	})
	if err != nil {
		t.Fatal(err)
	}
	_, err = e.AuditEvents(ctx, engine.AuditFilter{})
	if err == nil || !strings.Contains(err.Error(), "tampered") {
		t.Fatalf("tampered log: error = %v, want a tamper report", err)
	}
}

func mustSetup(t testing.TB, e *Engine) {
	t.Helper()
	ctx := context.Background()
	one := int64(1)
	if err := e.PutClass(ctx, policy.Class{Name: "ci", Kind: policy.KindEphemeral, MaxLifetime: time.Hour, MaxRenewals: &one}); err != nil {
		t.Fatal(err)
	}
	if err := e.PutTTLPolicy(ctx, policy.TTLPolicy{Name: "p", Class: "ci", TTL: time.Minute}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.CreateIdentity(ctx, policy.Identity{Name: "ci-a", Class: "ci", TTLPolicy: "p"}); err != nil {
		t.Fatal(err)
	}
}

// openRotation opens an engine with a persistent class "svc" and identities of it.
func openRotation(t *testing.T, clk clock.Clock, names ...string) *Engine {
	t.Helper()
	e := openTemp(t, clk)
	ctx := context.Background()
	if err := e.PutClass(ctx, policy.Class{Name: "svc", Kind: policy.KindPersistent}); err != nil {
		t.Fatal(err)
	}
	for _, n := range names {
		if _, err := e.CreateIdentity(ctx, policy.Identity{Name: n, Class: "svc"}); err != nil {
			t.Fatal(err)
		}
	}
	return e
}

func stage(t *testing.T, e *Engine, identity string) (engine.SecretVersion, string) {
	t.Helper()
	v, s, err := e.StageSecret(context.Background(), identity, 32)
	if err != nil {
		t.Fatal(err)
	}
	return v, s
}

func promote(t *testing.T, e *Engine, identity string, version int64, p engine.PromoteOptions) {
	t.Helper()
	if _, err := e.PromoteSecret(context.Background(), identity, version, p); err != nil {
		t.Fatal(err)
	}
}

func wantDenied(t *testing.T, e *Engine, secret, what string) {
	t.Helper()
	if _, err := e.Authenticate(context.Background(), secret); !errors.Is(err, engine.ErrDenied) {
		t.Fatalf("%s: Authenticate error = %v, want ErrDenied", what, err)
	}
}

func TestRotatedSecretsStoredOnlySealed(t *testing.T) {
	e := openRotation(t, clock.Real{}, "svc-a")
	v1, s1 := stage(t, e, "svc-a")
	promote(t, e, "svc-a", v1.Version, engine.PromoteOptions{})
	_, s2 := stage(t, e, "svc-a") // left staged
	_ = e.Close()
	raw, err := os.ReadFile(e.Path())
	if err != nil {
		t.Fatal(err)
	}
	for name, s := range map[string]string{"current": s1, "staged": s2} {
		body := strings.TrimPrefix(s, RotatedSecretPrefix)
		entropy, err := base64.RawURLEncoding.DecodeString(body)
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(raw, []byte(body)) || bytes.Contains(raw, entropy) {
			t.Fatalf("the database file contains the %s secret version in clear", name)
		}
	}
}

func TestSealedSecretBoundToItsVersion(t *testing.T) {
	e := openRotation(t, clock.Real{}, "svc-a", "svc-b")
	ctx := context.Background()
	a, _ := stage(t, e, "svc-a")
	promote(t, e, "svc-a", a.Version, engine.PromoteOptions{})
	b, _ := stage(t, e, "svc-b")
	promote(t, e, "svc-b", b.Version, engine.PromoteOptions{})
	err := e.db.Update(func(tx *bolt.Tx) error { // move svc-b's sealed value into svc-a's record
		_, ra, err := getVersion(tx, "svc-a", a.Version)
		if err != nil {
			return err
		}
		bb, rb, err := getVersion(tx, "svc-b", b.Version)
		if err != nil {
			return err
		}
		rb.Sealed = ra.Sealed
		return putVersion(bb, rb)
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := e.CurrentSecret(ctx, "svc-b"); !errors.Is(err, engine.ErrInvalid) || !strings.Contains(err.Error(), `"svc-b"`) {
		t.Fatalf("CurrentSecret with another version's sealed value: error = %v, want ErrInvalid naming svc-b", err)
	}
}

func TestFingerprintIsKeyed(t *testing.T) {
	e1, e2 := openTemp(t, clock.Real{}), openTemp(t, clock.Real{})
	for _, e := range []*Engine{e1, e2} {
		if _, err := e.writable(); err != nil { // creates the key
			t.Fatal(err)
		}
	}
	fp := e1.fingerprint("nhis.same")
	if len(fp) != 16 || fp != e1.fingerprint("nhis.same") || fp == e1.fingerprint("nhis.other") {
		t.Fatalf("fingerprint %q is not a stable 16-character digest of the value", fp)
	}
	if fp == e2.fingerprint("nhis.same") {
		t.Fatal("two engines with different keys give the same fingerprint: it is not keyed")
	}
}

func TestPromoteSemantics(t *testing.T) {
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	e := openRotation(t, clk, "svc-a")
	ctx := context.Background()

	// The overlap of a replaced version never outlives its own hard expiry.
	v1, s1 := stage(t, e, "svc-a")
	promote(t, e, "svc-a", v1.Version, engine.PromoteOptions{ExpiresAt: clk.Now().Add(time.Hour)})
	clk.Advance(50 * time.Minute)
	v2, s2 := stage(t, e, "svc-a")
	promote(t, e, "svc-a", v2.Version, engine.PromoteOptions{Overlap: time.Hour})
	clk.Advance(11 * time.Minute)
	wantDenied(t, e, s1, "previous version past its hard expiry")

	// A leftover staged version is discarded by the next promotion; zero overlap stops the
	// replaced version at once.
	_, leftover := stage(t, e, "svc-a")
	v4, _ := stage(t, e, "svc-a")
	promote(t, e, "svc-a", v4.Version, engine.PromoteOptions{})
	wantDenied(t, e, leftover, "superseded staged version")
	wantDenied(t, e, s2, "version replaced without overlap")
	versions, err := e.ListSecretVersions(ctx, "svc-a")
	if err != nil {
		t.Fatal(err)
	}
	var states []string
	for _, v := range versions {
		states = append(states, strconv.FormatInt(v.Version, 10)+":"+v.State)
	}
	if got := strings.Join(states, " "); got != "1:retained 2:retained 4:current" {
		t.Fatalf("versions = %s", got)
	}

	// Promoting the current version again does not restart its rotation clock.
	clk.Advance(time.Hour)
	again, err := e.PromoteSecret(ctx, "svc-a", v4.Version, engine.PromoteOptions{Overlap: time.Hour})
	if err != nil || !again.PromotedAt.Equal(clk.Now().Add(-time.Hour)) {
		t.Fatalf("re-promoting the current version = %+v, %v; want it unchanged", again, err)
	}
	if _, err := e.PromoteSecret(ctx, "svc-a", 1, engine.PromoteOptions{ExpiresAt: clk.Now()}); !errors.Is(err, engine.ErrInvalid) {
		t.Fatalf("promoting with an expiry that has passed: error = %v, want ErrInvalid", err)
	}
}

// indexRefs lists the secret_index references of rotated secret versions.
func indexRefs(t *testing.T, e *Engine) []string {
	t.Helper()
	var refs []string
	err := e.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketSecretIndex).ForEach(func(_, ref []byte) error {
			if r, ok := parseRef(ref); ok && r.Version > 0 {
				refs = append(refs, string(ref))
			}
			return nil
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	return refs
}

func TestRetireAndDeleteDestroySecretMaterial(t *testing.T) {
	e := openRotation(t, clock.Real{}, "svc-old", "svc-gone")
	ctx := context.Background()
	for _, name := range []string{"svc-old", "svc-gone"} {
		v, _ := stage(t, e, name)
		promote(t, e, name, v.Version, engine.PromoteOptions{})
	}
	_, staged := stage(t, e, "svc-old")
	_, gone := stage(t, e, "svc-gone")

	if _, err := e.RetireIdentity(ctx, "svc-old"); err != nil {
		t.Fatal(err)
	}
	wantDenied(t, e, staged, "staged version of a retired identity")
	versions, err := e.ListSecretVersions(ctx, "svc-old")
	if err != nil || len(versions) != 2 {
		t.Fatalf("versions of a retired identity = %+v, %v; want both kept for audit", versions, err)
	}
	err = e.db.View(func(tx *bolt.Tx) error {
		b, _ := versionBucket(tx, "svc-old", false)
		all, err := readVersions("svc-old", b)
		for _, r := range all {
			if r.State != engine.SecretRetained || r.Sealed != nil || r.Index != "" {
				t.Errorf("version %d of a retired identity: state %s, sealed value kept: %v, index kept: %v",
					r.Version, r.State, r.Sealed != nil, r.Index != "")
			}
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := e.CurrentSecret(ctx, "svc-old"); !errors.Is(err, engine.ErrRetired) {
		t.Fatalf("CurrentSecret of a retired identity: error = %v, want ErrRetired", err)
	}

	if err := e.DeleteIdentity(ctx, "svc-gone"); err != nil {
		t.Fatal(err)
	}
	wantDenied(t, e, gone, "staged version of a deleted identity")
	if versions, err := e.ListSecretVersions(ctx, "svc-gone"); !errors.Is(err, engine.ErrNotFound) || len(versions) != 0 {
		t.Fatalf("versions of a deleted identity = %+v, %v; want none, ErrNotFound (no such identity)", versions, err)
	}
	all, err := e.ListSecretVersions(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range all {
		if v.Identity == "svc-gone" {
			t.Fatalf("version %d of the deleted identity is still listed", v.Version)
		}
	}
	if refs := indexRefs(t, e); len(refs) != 0 {
		t.Fatalf("secret index still refers to versions of retired or deleted identities: %v", refs)
	}
	// A re-created identity of the same name never reuses a version number.
	if _, err := e.CreateIdentity(ctx, policy.Identity{Name: "svc-gone", Class: "svc"}); err != nil {
		t.Fatal(err)
	}
	if v, _ := stage(t, e, "svc-gone"); v.Version != 3 {
		t.Fatalf("first version after re-creating the identity = %d, want 3", v.Version)
	}
}

// readAll calls every read of the engine, as a plan and a refresh do.
func readAll(t *testing.T, e *Engine) {
	t.Helper()
	ctx := context.Background()
	for _, err := range []error{
		func() error { _, err := e.ListClasses(ctx); return err }(),
		func() error { _, err := e.ListTTLPolicies(ctx); return err }(),
		func() error { _, err := e.ListIdentities(ctx); return err }(),
		func() error { _, err := e.ListRotationSchedules(ctx); return err }(),
		func() error { _, err := e.ListCredentials(ctx, ""); return err }(),
		func() error { _, err := e.ListSecretVersions(ctx, ""); return err }(),
		func() error { _, err := e.AuditEvents(ctx, engine.AuditFilter{}); return err }(),
	} {
		if err != nil {
			t.Fatalf("read: %v", err)
		}
	}
	for _, err := range []error{
		func() error { _, err := e.GetClass(ctx, "nope"); return err }(),
		func() error { _, err := e.GetTTLPolicy(ctx, "nope"); return err }(),
		func() error { _, err := e.GetIdentity(ctx, "nope"); return err }(),
		func() error { _, err := e.GetRotationSchedule(ctx, "nope"); return err }(),
		func() error { _, _, err := e.CurrentSecret(ctx, "nope"); return err }(),
	} {
		if !errors.Is(err, engine.ErrNotFound) {
			t.Fatalf("read of a missing record: error = %v, want ErrNotFound", err)
		}
	}
	if _, err := engine.Observe(ctx, e, time.Now()); err != nil {
		t.Fatal(err)
	}
}

// TestReadsWriteNothing: opening the engine and reading it (what a plan does) neither creates a
// missing file, its directory or its key, nor changes an existing file's bytes.
func TestReadsWriteNothing(t *testing.T) {
	t.Setenv(KeyEnv, "")
	dir := filepath.Join(t.TempDir(), "state")
	path := filepath.Join(dir, "engine.db")
	e, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	readAll(t, e)
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("opening and reading a missing engine created %s (stat error %v)", dir, err)
	}

	e, err = Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	mustSetup(t, e)
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	before, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	e, err = Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	readAll(t, e)
	if ids, _ := e.ListIdentities(context.Background()); len(ids) != 1 {
		t.Fatalf("reopened engine lists %d identities, want 1", len(ids))
	}
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	after, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(before, after) {
		t.Fatal("opening and reading the engine changed the database file's bytes")
	}
}

// TestLiveIndex: the live-credential bucket holds exactly the credentials that have not ended
// (a revoked one leaves at once, an expired one at the next issue to its identity), and a
// database written before the bucket existed reads its live credentials all the same and gets
// the bucket, filled, on its next write.
func TestLiveIndex(t *testing.T) {
	clk := clock.NewFake(time.Now())
	path := filepath.Join(t.TempDir(), "engine.db")
	e, err := Open(path, Options{Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	mustSetup(t, e)
	ctx := context.Background()
	issue := func(e *Engine) engine.Credential {
		t.Helper()
		c, _, err := e.IssueCredential(ctx, engine.CredentialRequest{Identity: "ci-a"})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	indexed := func(e *Engine) []string {
		t.Helper()
		var ids []string
		err := e.view(func(tx *bolt.Tx) error {
			b := tx.Bucket(bucketLive)
			if b == nil {
				return errors.New("no live_credentials bucket")
			}
			if b = b.Bucket([]byte("ci-a")); b == nil {
				return nil
			}
			// Keys are liveKey: when the credential ends (8 bytes), then its ID.
			return b.ForEach(func(k, _ []byte) error { ids = append(ids, string(k[8:])); return nil })
		})
		if err != nil {
			t.Fatal(err)
		}
		slices.Sort(ids)
		return ids
	}
	revoked, expired := issue(e), issue(e)
	if err := e.RevokeCredential(ctx, revoked.ID); err != nil {
		t.Fatal(err)
	}
	if got := indexed(e); !slices.Equal(got, []string{expired.ID}) {
		t.Fatalf("live bucket = %v after a revocation, want [%s]", got, expired.ID)
	}
	clk.Advance(2*time.Hour + policy.EndedGrace)
	// Ended by expiry, not pruned yet (no write since): still in the bucket, never listed.
	if got := indexed(e); !slices.Equal(got, []string{expired.ID}) {
		t.Fatalf("live bucket = %v before the next issue, want [%s] (a read prunes nothing)", got, expired.ID)
	}
	if creds, err := e.LiveCredentials(ctx, "ci-a"); err != nil || len(creds) != 0 {
		t.Fatalf("LiveCredentials after the credential ended = %v, %v; want none", creds, err)
	}
	live := issue(e)
	if got := indexed(e); !slices.Equal(got, []string{live.ID}) {
		t.Fatalf("live bucket = %v after an issue past the others' end, want [%s]", got, live.ID)
	}

	// An older database: no live bucket, and the by-ID index of an earlier release.
	if err := e.update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucket(bucketLiveByID)
		if err != nil {
			return err
		}
		return b.Put([]byte("stale"), []byte("{}"))
	}); err != nil {
		t.Fatal(err)
	}
	old := withoutBucket(t, e, bucketLive)
	creds, err := old.LiveCredentials(ctx, "ci-a")
	if err != nil || len(creds) != 1 || creds[0].ID != live.ID {
		t.Fatalf("LiveCredentials of an older database = %v, %v; want [%s]", creds, err, live.ID)
	}
	newer := issue(old)
	want := []string{live.ID, newer.ID}
	slices.Sort(want)
	if got := indexed(old); !slices.Equal(got, want) {
		t.Fatalf("live bucket after the first write to an older database = %v, want %v", got, want)
	}
	if err := old.view(func(tx *bolt.Tx) error {
		if tx.Bucket(bucketLiveByID) != nil {
			return errors.New("the earlier release's live_credentials bucket is still there")
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}

// TestTargetConformance runs the target suites on the local engine (scripts/postgres-dev run,
// make testpg).
func TestTargetConformance(t *testing.T) {
	factory := func(t *testing.T, clk *clock.Fake) engine.Engine { return openTemp(t, clk) }
	enginetest.RunTargets(t, factory)
	enginetest.RunTargetCredentials(t, factory)
	enginetest.RunTargetRotation(t, factory)
}

// TestOwnersBucketAddedLazily: a database written before owner records existed (no owners
// bucket) reads as having no owners, its other records intact, and gets the bucket on its next
// write.
func TestOwnersBucketAddedLazily(t *testing.T) {
	ctx := context.Background()
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	path := filepath.Join(t.TempDir(), "engine.db")
	e, err := Open(path, Options{Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.PutClass(ctx, policy.Class{Name: "svc", Kind: policy.KindPersistent}); err != nil {
		t.Fatal(err)
	}
	old := withoutBucket(t, e, bucketOwners)
	if owners, err := old.ListOwners(ctx); err != nil || len(owners) != 0 {
		t.Fatalf("ListOwners of an older database = %v, %v; want none", owners, err)
	}
	if _, err := old.GetOwner(ctx, "bob"); !errors.Is(err, engine.ErrNotFound) {
		t.Fatalf("GetOwner of an older database: %v, want ErrNotFound", err)
	}
	if _, err := old.GetClass(ctx, "svc"); err != nil {
		t.Fatalf("an older database lost its class: %v", err)
	}
	bob := policy.Owner{Name: "bob", Kind: policy.OwnerPerson, Status: policy.OwnerActive}
	if err := old.PutOwner(ctx, bob); err != nil {
		t.Fatal(err)
	}
	if got, err := old.GetOwner(ctx, "bob"); err != nil || got != bob {
		t.Fatalf("GetOwner after the first owner write = %+v, %v", got, err)
	}
}

// withoutBucket makes e's file a database written before bucket existed: it deletes the bucket,
// closes e and opens the file again, with e's clock, as a new process would.
func withoutBucket(t *testing.T, e *Engine, bucket []byte) *Engine {
	t.Helper()
	if err := e.update(func(tx *bolt.Tx) error { return tx.DeleteBucket(bucket) }); err != nil {
		t.Fatal(err)
	}
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	old, err := Open(e.path, Options{Clock: e.clock})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = old.Close() })
	return old
}
