package local

import (
	"context"
	"net/netip"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/nhigov/terraform-provider-nhi/internal/clock"
	"github.com/nhigov/terraform-provider-nhi/internal/engine"
	"github.com/nhigov/terraform-provider-nhi/internal/policy"
)

// lastTx is the id of the database's last write transaction.
func lastTx(t *testing.T, e *Engine) int {
	t.Helper()
	var id int
	if err := e.view(func(tx *bolt.Tx) error { id = tx.ID(); return nil }); err != nil {
		t.Fatal(err)
	}
	return id
}

func usedEvents(t *testing.T, e *Engine, identity string) []engine.AuditEvent {
	t.Helper()
	events, err := e.AuditEvents(context.Background(), engine.AuditFilter{Identity: identity})
	if err != nil {
		t.Fatal(err)
	}
	var out []engine.AuditEvent
	for _, ev := range events {
		if ev.Type == engine.EventUsed {
			out = append(out, ev)
		}
	}
	return out
}

func lastUsed(t *testing.T, e *Engine, identity string) time.Time {
	t.Helper()
	id, err := e.GetIdentity(context.Background(), identity)
	if err != nil {
		t.Fatal(err)
	}
	return id.LastUsedAt
}

// TestLastUseCoalesced: the local engine records an identity's use at most once a minute: a use
// within the minute of the last recorded one writes nothing at all (not even an empty write
// transaction), the next one after it moves LastUsedAt and appends one "used" event, whose
// requester is the caller's address for a rotated secret used through Authorize.
func TestLastUseCoalesced(t *testing.T) {
	clk := clock.NewFake(time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC))
	e := openRotation(t, clk)
	ctx := context.Background()
	if _, err := e.CreateIdentity(ctx, policy.Identity{Name: "svc-a", Class: "svc", Scopes: []string{"read"}}); err != nil {
		t.Fatal(err)
	}
	v, secret := stage(t, e, "svc-a")
	promote(t, e, "svc-a", v.Version, engine.PromoteOptions{})
	if got := lastUsed(t, e, "svc-a"); !got.IsZero() {
		t.Fatalf("LastUsedAt before any use = %v, want zero", got)
	}

	first := clk.Now()
	if _, err := e.Authenticate(ctx, secret); err != nil {
		t.Fatal(err)
	}
	if got := lastUsed(t, e, "svc-a"); !got.Equal(first) {
		t.Fatalf("LastUsedAt = %v, want %v", got, first)
	}
	tx := lastTx(t, e)
	clk.Advance(59 * time.Second)
	for range 3 {
		if _, err := e.Authenticate(ctx, secret); err != nil {
			t.Fatal(err)
		}
	}
	if got := lastUsed(t, e, "svc-a"); !got.Equal(first) {
		t.Fatalf("LastUsedAt after uses within the minute = %v, want %v (coalesced)", got, first)
	}
	if got := lastTx(t, e); got != tx {
		t.Fatalf("uses within the minute wrote %d transactions, want none", got-tx)
	}
	if n := len(usedEvents(t, e, "svc-a")); n != 1 {
		t.Fatalf("used events = %d, want 1", n)
	}

	clk.Advance(time.Second)
	caller := netip.MustParseAddr("10.0.0.7")
	if _, err := e.Authorize(ctx, engine.AuthorizeRequest{Secret: secret, Scope: "read", Caller: caller}); err != nil {
		t.Fatal(err)
	}
	if got := lastUsed(t, e, "svc-a"); !got.Equal(first.Add(time.Minute)) {
		t.Fatalf("LastUsedAt a minute later = %v, want %v", got, first.Add(time.Minute))
	}
	used := usedEvents(t, e, "svc-a")
	if len(used) != 2 || used[1].Requester != caller.String() || !used[1].Time.Equal(first.Add(time.Minute)) {
		t.Fatalf("used events = %+v, want a second one by %s", used, caller)
	}
}

// TestCredentialLastUse: issuing a credential is a use of its identity (as on Vault, where it is
// a login), and authenticating with the credential moves the credential's LastUsedAt too, with
// the credential's requester as the one who used it.
func TestCredentialLastUse(t *testing.T) {
	clk := clock.NewFake(time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC))
	e := openTemp(t, clk)
	mustSetup(t, e)
	ctx := context.Background()
	issued := clk.Now()
	cred, secret, err := e.IssueCredential(ctx, engine.CredentialRequest{Identity: "ci-a", Requester: "pipeline-9"})
	if err != nil {
		t.Fatal(err)
	}
	if got := lastUsed(t, e, "ci-a"); !got.Equal(issued) {
		t.Fatalf("identity LastUsedAt after an issue = %v, want %v", got, issued)
	}
	clk.Advance(30 * time.Second)
	if _, err := e.Authenticate(ctx, secret); err != nil {
		t.Fatal(err)
	}
	creds, err := e.ListCredentials(ctx, "ci-a")
	if err != nil || len(creds) != 1 {
		t.Fatalf("ListCredentials = %v, %v", creds, err)
	}
	if !creds[0].LastUsedAt.Equal(clk.Now()) || creds[0].ID != cred.ID {
		t.Fatalf("credential LastUsedAt = %v, want %v", creds[0].LastUsedAt, clk.Now())
	}
	if got := lastUsed(t, e, "ci-a"); !got.Equal(issued) {
		t.Fatalf("identity LastUsedAt 30s after its issue = %v, want %v (coalesced)", got, issued)
	}
	used := usedEvents(t, e, "ci-a")
	if len(used) != 1 || used[0].Requester != "pipeline-9" || used[0].Credential != cred.ID {
		t.Fatalf("used events = %+v, want one by pipeline-9 for %s", used, cred.ID)
	}
}
