package local

import (
	"context"
	"errors"
	"os"
	"path/filepath"
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
	max := int64(1)
	if err := e.PutClass(ctx, policy.Class{Name: "ci", Kind: policy.KindEphemeral, MaxLifetime: time.Hour, MaxRenewals: &max}); err != nil {
		t.Fatal(err)
	}
	if err := e.PutTTLPolicy(ctx, policy.TTLPolicy{Name: "p", Class: "ci", TTL: time.Minute}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.CreateIdentity(ctx, policy.Identity{Name: "ci-a", Class: "ci", TTLPolicy: "p"}); err != nil {
		t.Fatal(err)
	}
}
