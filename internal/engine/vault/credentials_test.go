package vault

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nhigov/terraform-provider-nhi/internal/acctest"
	"github.com/nhigov/terraform-provider-nhi/internal/engine"
	"github.com/nhigov/terraform-provider-nhi/internal/policy"
)

var credentialsTestPolicy = policy.TTLPolicy{Name: "creds-p", Class: "ci", TTL: 10 * time.Minute, MaxLifetime: time.Hour}

// credentialEvents returns, per credential of identity, the types of its audit events in order.
func credentialEvents(t *testing.T, e *Engine, identity string) ([]engine.AuditEvent, map[string][]string) {
	t.Helper()
	events, err := e.AuditEvents(context.Background(), engine.AuditFilter{Identity: identity})
	must(t, err)
	byCred := map[string][]string{}
	for _, ev := range events {
		if ev.Credential != "" {
			byCred[ev.Credential] = append(byCred[ev.Credential], ev.Type)
		}
	}
	return events, byCred
}

// credentialsTestEngine opens a test engine with an identity under credentialsTestPolicy.
func credentialsTestEngine(t *testing.T, identity string) *Engine {
	t.Helper()
	e, _ := openTestNow(t)
	setupIdentity(t, e, credentialsTestPolicy, identity)
	return e
}

// A close starts from the record the open wrote; when another process wrote the record since,
// check-and-set refuses the write, and the close reads the record again and keeps the other
// writer's change.
func TestCloseAfterAnotherWriter(t *testing.T) {
	direct := credentialsTestEngine(t, "ci-shared")
	ctx := context.Background()
	a, proxy := openThroughProxy(t, direct)
	b, _ := openThroughProxy(t, direct)

	mine, _, err := a.IssueCredential(ctx, engine.CredentialRequest{Identity: "ci-shared", Requester: "a"})
	must(t, err)
	theirs, _, err := b.IssueCredential(ctx, engine.CredentialRequest{Identity: "ci-shared", Requester: "b"})
	must(t, err)
	proxy.Reset()
	must(t, engine.RevokeCredentialOf(ctx, a, "ci-shared", mine.ID))
	// The revocation, the write refused, kvPut's check that it had not landed, the read and the
	// write: the conflict path, not the budget's two requests.
	if n := len(proxy.Requests()); n != 5 {
		t.Errorf("close after another writer sent %d requests (%v), want 5", n, proxy.Requests())
	}

	live, err := direct.LiveCredentials(ctx, "ci-shared")
	must(t, err)
	if len(live) != 1 || live[0].ID != theirs.ID {
		t.Fatalf("live credentials after the close = %+v, want only %s (the other writer's)", live, theirs.ID)
	}
	all, err := direct.ListCredentials(ctx, "ci-shared")
	must(t, err)
	if len(all) != 2 {
		t.Fatalf("ListCredentials = %+v, want both credentials", all)
	}
	_, byCred := credentialEvents(t, direct, "ci-shared")
	if got := fmt.Sprint(byCred[mine.ID]); got != "[issued revoked]" {
		t.Errorf("events of the closed credential = %s, want [issued revoked]", got)
	}
	if got := fmt.Sprint(byCred[theirs.ID]); got != "[issued]" {
		t.Errorf("events of the other writer's credential = %s, want [issued]", got)
	}
	// Closing it again, from either process, records nothing more.
	must(t, engine.RevokeCredentialOf(ctx, b, "ci-shared", mine.ID))
	must(t, a.RevokeCredential(ctx, mine.ID))
	if _, byCred = credentialEvents(t, direct, "ci-shared"); fmt.Sprint(byCred[mine.ID]) != "[issued revoked]" {
		t.Errorf("events of the credential closed three times = %v, want [issued revoked]", byCred[mine.ID])
	}
}

// Ended credentials stay in the identity record until archiveBatch of them are there, then go
// to the archive in one write; the record stays small, and the audit log and ListCredentials
// see every credential, before and after the identity is deleted.
func TestEndedCredentialsArchivedInBatches(t *testing.T) {
	e, clk := openTestNow(t)
	ctx := context.Background()
	setupIdentity(t, e, credentialsTestPolicy, "ci-busy")
	n := 2*archiveBatch + 3
	ids := map[string]bool{}
	for i := range n {
		c, _, err := e.IssueCredential(ctx, engine.CredentialRequest{Identity: "ci-busy", Requester: "pipeline", Purpose: fmt.Sprint("run ", i)})
		must(t, err)
		clk.Advance(time.Second)
		must(t, e.RevokeCredential(ctx, c.ID))
		ids[c.ID] = true
	}
	rec, _, err := e.readRecord(ctx, "ci-busy")
	must(t, err)
	if len(rec.Live) != 0 || len(rec.Ended) > archiveBatch {
		t.Fatalf("identity record holds %d live and %d ended credentials, want none live and at most %d ended", len(rec.Live), len(rec.Ended), archiveBatch)
	}
	batches, err := e.kvList(ctx, credentialsFolder+"ci-busy/")
	must(t, err)
	if len(batches) != 2 {
		t.Fatalf("archive of ci-busy = %v, want 2 batches", batches)
	}

	check := func(when string, want int) {
		t.Helper()
		all, err := e.ListCredentials(ctx, "")
		must(t, err)
		seen := 0
		for _, c := range all {
			if ids[c.ID] {
				seen++
				if c.RevokedAt.IsZero() {
					t.Errorf("%s: credential %s is not recorded revoked", when, c.ID)
				}
			}
		}
		if seen != n || len(all) != n {
			t.Fatalf("%s: ListCredentials = %d credentials, %d of them ci-busy's, want the %d ci-busy's once each", when, len(all), seen, n)
		}
		events, byCred := credentialEvents(t, e, "ci-busy")
		for id := range ids {
			if got := fmt.Sprint(byCred[id]); got != "[issued revoked]" {
				t.Fatalf("%s: events of credential %s = %s, want [issued revoked]", when, id, got)
			}
		}
		if len(events) != want || events[0].Type != engine.EventIdentityCreated {
			t.Fatalf("%s: %d events, want %d, the identity's creation first", when, len(events), want)
		}
		for i := 1; i < len(events); i++ {
			if events[i].Time.Before(events[i-1].Time) {
				t.Fatalf("%s: event %d (%+v) is older than the one before it (%+v)", when, i, events[i], events[i-1])
			}
		}
	}
	check("before the delete", 2*n+1)
	must(t, e.DeleteIdentity(ctx, "ci-busy"))
	check("after the delete", 2*n+2)
	if events, _ := credentialEvents(t, e, "ci-busy"); events[len(events)-1].Type != engine.EventIdentityDeleted {
		t.Fatalf("last event after the delete = %+v, want identity_deleted", events[len(events)-1])
	}
}

// Records of earlier releases: a live credential without a trail, whose issue is an entry of
// the audit log, and a credential archived on its own with its events in the log. Both read as
// before; revoking the live one adds its revoked event once, derived from the record.
func TestCredentialRecordsOfEarlierReleases(t *testing.T) {
	e, clk := openTestNow(t)
	ctx := context.Background()
	setupIdentity(t, e, credentialsTestPolicy, "ci-old")
	old, _, err := e.IssueCredential(ctx, engine.CredentialRequest{Identity: "ci-old", Requester: "legacy"})
	must(t, err)
	archivedOld, _, err := e.IssueCredential(ctx, engine.CredentialRequest{Identity: "ci-old", Requester: "legacy"})
	must(t, err)

	// Rewrite both as an earlier release wrote them.
	rec, version, err := e.readRecord(ctx, "ci-old")
	must(t, err)
	for i := range rec.Live {
		rec.Live[i].Trail = credentialTrail{}
	}
	gone := rec.Live[1] // archivedOld
	gone.RevokedAt = clk.Now()
	rec.Live = rec.Live[:1]
	_, err = e.kvPut(ctx, credentialKey("ci-old", gone.ID), gone.Credential, anyVersion)
	must(t, err)
	_, err = e.kvPut(ctx, identityKey("ci-old"), rec, version)
	must(t, err)
	for _, ev := range []engine.AuditEvent{
		{Type: engine.EventIssued, Identity: "ci-old", Credential: old.ID, Requester: "legacy"},
		{Type: engine.EventIssued, Identity: "ci-old", Credential: gone.ID, Requester: "legacy"},
		{Type: engine.EventRevoked, Identity: "ci-old", Credential: gone.ID, Requester: "legacy"},
	} {
		must(t, e.appendAudit(ctx, ev))
	}

	clk.Advance(time.Minute)
	must(t, e.RevokeCredential(ctx, old.ID))
	must(t, e.RevokeCredential(ctx, archivedOld.ID)) // archived: ended already, nothing to do
	_, byCred := credentialEvents(t, e, "ci-old")
	for _, id := range []string{old.ID, gone.ID} {
		if got := fmt.Sprint(byCred[id]); got != "[issued revoked]" {
			t.Errorf("events of credential %s = %s, want [issued revoked] once each", id, got)
		}
	}
	all, err := e.ListCredentials(ctx, "ci-old")
	must(t, err)
	if len(all) != 2 || all[0].RevokedAt.IsZero() || all[1].RevokedAt.IsZero() {
		t.Fatalf("ListCredentials = %+v, want both credentials, revoked", all)
	}
}

// A credential issued while its identity is being retired, after the retirement revoked the
// identity's credentials and before it wrote the identity retired, is revoked by the retirement
// too: it leaves no credential of the identity live, in its record or in Vault. (The issue is
// made by another process, at the moment the retirement disables the identity's entity.)
func TestRetireRacingIssue(t *testing.T) {
	direct := credentialsTestEngine(t, "ci-retiring")
	ctx := context.Background()
	e, proxy := openThroughProxy(t, direct)

	var (
		raced  engine.Credential
		token  string
		issued bool
	)
	entity := "/v1/" + direct.entityPath("ci-retiring")
	proxy.Before(func(r acctest.Request) {
		if issued || !r.Write() || r.Path != entity {
			return
		}
		issued = true
		var err error
		raced, token, err = direct.IssueCredential(ctx, engine.CredentialRequest{Identity: "ci-retiring", Requester: "racer"})
		must(t, err)
	})
	_, err := e.RetireIdentity(ctx, "ci-retiring")
	proxy.Before(nil)
	must(t, err)
	if !issued {
		t.Fatal("the retirement wrote no entity: the race was not made")
	}

	live, err := direct.LiveCredentials(ctx, "ci-retiring")
	must(t, err)
	if len(live) != 0 {
		t.Errorf("live credentials of the retired identity = %+v, want none", live)
	}
	if _, err := direct.lookup(ctx, "auth/token/lookup-accessor", map[string]any{"accessor": raced.ID}); !errors.Is(err, engine.ErrInvalid) {
		t.Errorf("Vault still holds the token issued during the retirement (look-up error %v)", err)
	}
	if _, err := direct.Authenticate(ctx, token); !errors.Is(err, engine.ErrDenied) {
		t.Errorf("Authenticate with the token issued during the retirement = %v, want ErrDenied", err)
	}
	if _, byCred := credentialEvents(t, direct, "ci-retiring"); fmt.Sprint(byCred[raced.ID]) != "[issued revoked]" {
		t.Errorf("events of the credential issued during the retirement = %v, want [issued revoked]", byCred[raced.ID])
	}
}

// An issue by another process that read the identity's record before a deletion and writes
// its credential after the deletion revoked the record's credentials and archived them is
// refused (the deletion writes the record retired first), and its token revoked; before, the
// record was deleted over the credential, whose token outlived the identity unrecorded.
func TestDeleteRacingIssue(t *testing.T) {
	direct := credentialsTestEngine(t, "ci-deleting")
	ctx := context.Background()
	deleter, deleterProxy := openThroughProxy(t, direct)
	racer, racerProxy := openThroughProxy(t, direct)

	// The racer stops before writing its credential into the record until the deletion has
	// archived the record's credentials (it then reads the entity, to delete it).
	reached, release := make(chan struct{}), make(chan struct{})
	record := "/data/identities/ci-deleting"
	var once sync.Once
	racerProxy.Before(func(r acctest.Request) {
		if r.Write() && strings.HasSuffix(r.Path, record) {
			once.Do(func() { close(reached); <-release })
		}
	})
	type issue struct {
		cred  engine.Credential
		token string
		err   error
	}
	done := make(chan issue, 1)
	go func() {
		c, token, err := racer.IssueCredential(ctx, engine.CredentialRequest{Identity: "ci-deleting", Requester: "racer"})
		done <- issue{c, token, err}
	}()
	<-reached
	entity := "/v1/" + direct.entityPath("ci-deleting")
	var (
		raced    issue
		released sync.Once
	)
	releaseRacer := func() { released.Do(func() { close(release); raced = <-done }) }
	t.Cleanup(releaseRacer) // a failed deletion must not leave the racer (and the proxies) waiting
	deleterProxy.Before(func(r acctest.Request) {
		if r.Path == entity {
			releaseRacer()
		}
	})
	must(t, deleter.DeleteIdentity(ctx, "ci-deleting"))
	releaseRacer()

	if raced.err == nil {
		if _, err := direct.lookup(ctx, "auth/token/lookup-accessor", map[string]any{"accessor": raced.cred.ID}); !errors.Is(err, engine.ErrInvalid) {
			t.Errorf("Vault still holds the token issued during the deletion (look-up error %v)", err)
		}
		if _, byCred := credentialEvents(t, direct, "ci-deleting"); fmt.Sprint(byCred[raced.cred.ID]) != "[issued revoked]" {
			t.Errorf("events of the credential issued during the deletion = %v, want [issued revoked]", byCred[raced.cred.ID])
		}
		t.Fatalf("the issue that raced the deletion succeeded (%s); want it refused", raced.cred.ID)
	}
	if !errors.Is(raced.err, engine.ErrRetired) {
		t.Fatalf("the issue that raced the deletion failed with %v, want ErrRetired", raced.err)
	}
	if all, err := direct.ListCredentials(ctx, "ci-deleting"); err != nil || len(all) != 0 {
		t.Errorf("credentials of the deleted identity = %+v, %v; want none", all, err)
	}
}

// An update that read the identity active, and writes its record after another process retired
// it, is refused (ErrRetired) and leaves the identity retired, its entity disabled; before, its
// check-and-set retry wrote the identity back active.
func TestUpdateRacingRetire(t *testing.T) {
	direct := credentialsTestEngine(t, "ci-updating")
	ctx := context.Background()
	e, proxy := openThroughProxy(t, direct)
	declared, err := direct.GetIdentity(ctx, "ci-updating")
	must(t, err)

	role := "/v1/" + direct.rolePath("ci-updating")
	var once sync.Once
	proxy.Before(func(r acctest.Request) {
		if r.Write() && r.Path == role {
			once.Do(func() { _, err := direct.RetireIdentity(ctx, "ci-updating"); must(t, err) })
		}
	})
	declared.Owner = "team-other"
	_, err = e.UpdateIdentity(ctx, declared)
	proxy.Before(nil)
	if !errors.Is(err, engine.ErrRetired) {
		t.Errorf("UpdateIdentity racing a retirement = %v, want ErrRetired", err)
	}
	got, err := direct.GetIdentity(ctx, "ci-updating")
	must(t, err)
	if !got.Retired() || got.Owner != "team-test" {
		t.Fatalf("identity after the race: status %s, owner %q; want retired, owner team-test", got.Status, got.Owner)
	}
	if len(got.EngineDrift) != 0 {
		t.Errorf("engine drift of the retired identity = %v, want none (its entity disabled)", got.EngineDrift)
	}
}

// TestTargetConcurrentIssues: another process issues a credential to the same identity between
// this engine's write of its dynamic role and its read of a login (made deterministic by the
// proxy). With another TTL the other issue writes a role of its own; under the same terms both
// write the same role and share it. Either way each login carries the identity's comment (no
// credential's) and its own credential's expiry, each credential records its own login, and
// closing one leaves the role, and the other's login, in place.
func TestTargetConcurrentIssues(t *testing.T) {
	direct, f := targetIdentity(t, "ci-db")
	ctx := context.Background()
	e, proxy := openThroughProxy(t, direct)
	for _, tc := range []struct {
		name         string
		mine, theirs time.Duration
		rolesWritten int
	}{
		{name: "another TTL", mine: 3 * time.Minute, theirs: 8 * time.Minute, rolesWritten: 2},
		{name: "the same terms", mine: 4 * time.Minute, theirs: 4 * time.Minute, rolesWritten: 1},
	} {
		rec, _, err := direct.readRecord(ctx, "ci-db")
		must(t, err)
		before := len(rec.DynamicRoles)
		var (
			other    engine.Credential
			otherErr error
			once     sync.Once
		)
		proxy.Before(func(r acctest.Request) {
			if r.Method == http.MethodGet && strings.Contains(r.Path, "/creds/") {
				once.Do(func() {
					other, _, otherErr = direct.IssueCredential(ctx, engine.CredentialRequest{Identity: "ci-db", TTL: tc.theirs, Purpose: "other"})
				})
			}
		})
		mine, _, err := e.IssueCredential(ctx, engine.CredentialRequest{Identity: "ci-db", TTL: tc.mine, Purpose: "mine"})
		proxy.Before(nil)
		must(t, err)
		must(t, otherErr)
		for _, c := range []engine.Credential{mine, other} {
			t.Cleanup(func() { _ = f.Admin.DropLogin(context.Background(), c.Username) })
			l, err := f.Admin.Inspect(ctx, c.Username)
			must(t, err)
			if want := engine.LoginComment(e.LoginOwner(), "ci-db", ""); l.Comment != want || !acctest.ValidUntil(l, c.ExpiresAt) {
				t.Errorf("%s: login %s of credential %s (%s): comment %q, VALID UNTIL %s; want %q, %s", tc.name, c.Username, c.ID, c.Purpose, l.Comment, l.ValidUntil, want, c.ExpiresAt)
			}
		}
		if got := mine.ExpiresAt.Sub(mine.IssuedAt); got != tc.mine {
			t.Errorf("%s: my credential lasts %s, want %s", tc.name, got, tc.mine)
		}
		if got := other.ExpiresAt.Sub(other.IssuedAt); got != tc.theirs {
			t.Errorf("%s: the other credential lasts %s, want %s", tc.name, got, tc.theirs)
		}
		rec, _, err = direct.readRecord(ctx, "ci-db")
		must(t, err)
		for _, c := range []engine.Credential{mine, other} {
			if i, ok := liveCredential(rec, c.ID); !ok || rec.Live[i].Username != c.Username || mine.Username == other.Username {
				t.Errorf("%s: the record of credential %s: %+v; want it live with its own login %s", tc.name, c.ID, rec.Live, c.Username)
			}
		}
		if got := len(rec.DynamicRoles) - before; got != tc.rolesWritten {
			t.Errorf("%s: the issues listed %d new dynamic roles (%v), want %d", tc.name, got, rec.DynamicRoles, tc.rolesWritten)
		}
		must(t, e.RevokeCredential(ctx, mine.ID))
		if l, err := f.Admin.Inspect(ctx, other.Username); err != nil || !l.Exists {
			t.Errorf("%s: the other credential's login after mine closed: %+v, %v; want it there", tc.name, l, err)
		}
		for _, role := range rec.DynamicRoles {
			if _, err := e.read(ctx, e.dynamicRolePath(role)); err != nil {
				t.Errorf("%s: dynamic role %s after a close: %v, want it kept", tc.name, role, err)
			}
		}
		must(t, e.RevokeCredential(ctx, other.ID))
	}
}
