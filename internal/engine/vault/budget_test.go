package vault

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/nhigov/terraform-provider-nhi/internal/acctest"
	"github.com/nhigov/terraform-provider-nhi/internal/engine"
	"github.com/nhigov/terraform-provider-nhi/internal/policy"
)

// The request budgets of DESIGN.md, checked by counting the requests that reach Vault through
// a proxy (counts, never times): a refresh of nhi_identity (engine.ReadObserved, what its Read
// calls) costs at most 3 requests per ephemeral identity and 4 per persistent one, the reads
// of governance records that a new provider process makes once included; it costs the same,
// within one request, whatever the identity's history of ended credentials; and a credential's
// open and close (nhi_credential, which closes with engine.RevokeCredentialOf, naming the
// identity) cost at most 6 between them, one archive write per archiveBatch closes aside.

const (
	budgetFleet     = 50
	budgetEphemeral = 3.0
	// A persistent refresh reads its record (which holds its secret's versions and its live
	// credentials), its role, its entity and the LIST of its role's secret-ids; its schedule is
	// read once per process with the governance records.
	budgetPersistent = 4.0
	// An open reads the identity's record, creates a secret-id, logs in and writes the record
	// back with the credential; a close revokes the token and writes the record back, from the
	// record the open wrote (see credentials.go). No audit entry: the audit log derives the
	// credential's events from its record.
	budgetOpenClose = 6
	// budgetTargetPersistent is budgetPersistent for a persistent identity whose rotated secret is
	// the password of a login on a target, and one read more: the current secret's value, from KV,
	// to check the login's password by logging in with it (ObserveLogins reads the identity's
	// record from the refresh's snapshot, engine.ReadOnce). None of the usual four is useless on
	// a target: such an identity has an AppRole role too, and the LIST of its secret-ids finds
	// one minted by hand (TestTargetSecretIDDrift).
	budgetTargetPersistent = budgetPersistent + 1
	// budgetTargetStage is the cost of staging a version of a one-login rotated secret, as the
	// process's first write: the identity's record, the check of the mounts (sys/mounts and
	// sys/auth, once per process), the value's metadata and version, its login-secrets index
	// entry, the record read and written with the version, the one-off dynamic role that sets the
	// login's verifier (written, its creds read, their lease revoked, deleted) and the audit
	// entry (sequence and event). No static role: earlier builds made those for alternating
	// logins only.
	budgetTargetStage     = 14
	budgetEndedHistory    = 1000
	budgetHistorySlack    = 1
	budgetSecretLength    = 32
	budgetRotationEvery   = 24 * time.Hour
	budgetEphemeralPolicy = "budget-p"
)

// budgetPolicy is the TTL policy of the ephemeral identities the budget tests measure.
var budgetPolicy = policy.TTLPolicy{Name: budgetEphemeralPolicy, Class: "ci", TTL: 10 * time.Minute, MaxLifetime: time.Hour}

// refreshFleet refreshes every identity in names, as nhi_identity's Read does, and returns the
// requests per identity, apart from the reads of governance records (classes, TTL policies,
// rotation schedules), which it returns in total: a provider process makes those once.
func refreshFleet(t testing.TB, e *Engine, proxy *acctest.Proxy, names []string, now time.Time) (float64, int) {
	t.Helper()
	ctx := context.Background()
	proxy.Reset()
	for _, name := range names {
		if _, err := engine.ReadObserved(ctx, e, name, now); err != nil {
			t.Fatalf("refreshing %s: %v", name, err)
		}
	}
	var per, governance int
	for _, r := range proxy.Requests() {
		switch {
		case governanceRequest(r.Path):
			governance++
		default:
			per++
		}
	}
	return float64(per) / float64(len(names)), governance
}

// governanceRequest reports whether path reads a governance record or lists a folder of them.
func governanceRequest(path string) bool {
	for _, folder := range []string{classesFolder, ttlPoliciesFolder, ownersFolder, schedulesFolder} {
		if strings.HasSuffix(path, "/"+strings.TrimSuffix(folder, "/")) || strings.Contains(path, "/"+folder) {
			return true
		}
	}
	return false
}

func TestRefreshRequestBudget(t *testing.T) {
	direct, clk := openTestNow(t)
	ctx := context.Background()
	must(t, direct.PutClass(ctx, policy.Class{Name: "ci", Kind: policy.KindEphemeral, MaxLifetime: time.Hour}))
	must(t, direct.PutClass(ctx, policy.Class{Name: "svc", Kind: policy.KindPersistent}))
	must(t, direct.PutTTLPolicy(ctx, budgetPolicy))
	var ephemeral, persistent []string
	for i := range budgetFleet {
		ci, svc := fmt.Sprintf("ci-%02d", i), fmt.Sprintf("svc-%02d", i)
		_, err := direct.CreateIdentity(ctx, policy.Identity{Name: ci, Class: "ci", TTLPolicy: budgetEphemeralPolicy})
		must(t, err)
		_, err = direct.CreateIdentity(ctx, policy.Identity{Name: svc, Class: "svc"})
		must(t, err)
		must(t, direct.PutRotationSchedule(ctx, policy.RotationSchedule{Identity: svc, Interval: budgetRotationEvery, KeepVersions: 2, SecretLength: budgetSecretLength}))
		v, _, err := direct.StageSecret(ctx, svc, budgetSecretLength)
		must(t, err)
		_, err = direct.PromoteSecret(ctx, svc, v.Version, engine.PromoteOptions{})
		must(t, err)
		ephemeral, persistent = append(ephemeral, ci), append(persistent, svc)
	}

	e, proxy := openThroughProxy(t, direct)
	perEphemeral, govEphemeral := refreshFleet(t, e, proxy, ephemeral, clk.Now())
	e, proxy = openThroughProxy(t, direct)
	perPersistent, govPersistent := refreshFleet(t, e, proxy, persistent, clk.Now())
	t.Logf("refresh of %d identities: %.2f requests per ephemeral identity, %.2f per persistent one; governance reads once per process: %d and %d",
		budgetFleet, perEphemeral, perPersistent, govEphemeral, govPersistent)
	// Once per process: one LIST per kind of governance record and one read per record the
	// fleet uses (a class and a TTL policy; a class and a schedule per identity).
	if most := 3 + 2; govEphemeral > most {
		t.Errorf("refresh of %d ephemeral identities read governance records %d times, want at most %d (each once)", budgetFleet, govEphemeral, most)
	}
	if most := 3 + 1 + budgetFleet; govPersistent > most {
		t.Errorf("refresh of %d persistent identities read governance records %d times, want at most %d (each once)", budgetFleet, govPersistent, most)
	}
	if perEphemeral > budgetEphemeral {
		t.Errorf("refresh: %.2f requests per ephemeral identity, budget %.0f", perEphemeral, budgetEphemeral)
	}
	if perPersistent > budgetPersistent {
		t.Errorf("refresh: %.2f requests per persistent identity, budget %.0f", perPersistent, budgetPersistent)
	}
}

func TestRefreshFlatInHistory(t *testing.T) {
	direct, clk := openTestNow(t)
	ctx := context.Background()
	setupIdentity(t, direct, budgetPolicy, "ci-fresh")
	_, err := direct.CreateIdentity(ctx, policy.Identity{Name: "ci-busy", Class: "ci", Owner: "team-test", TTLPolicy: budgetPolicy.Name, Scopes: []string{"default"}})
	must(t, err)
	for i := range budgetEndedHistory {
		c, _, err := direct.IssueCredential(ctx, engine.CredentialRequest{Identity: "ci-busy", Requester: "pipeline", Purpose: fmt.Sprint("run ", i)})
		must(t, err)
		must(t, direct.RevokeCredential(ctx, c.ID))
	}
	all, err := direct.ListCredentials(ctx, "ci-busy")
	must(t, err)
	if len(all) != budgetEndedHistory {
		t.Fatalf("ListCredentials(ci-busy) = %d credentials, want the %d ended ones (the audit log reads them)", len(all), budgetEndedHistory)
	}

	e, proxy := openThroughProxy(t, direct)
	refreshFleet(t, e, proxy, []string{"ci-fresh"}, clk.Now()) // governance records, read once
	fresh, _ := refreshFleet(t, e, proxy, []string{"ci-fresh"}, clk.Now())
	busy, _ := refreshFleet(t, e, proxy, []string{"ci-busy"}, clk.Now())
	t.Logf("refresh: %.0f requests with no ended credential, %.0f with %d", fresh, busy, budgetEndedHistory)
	if busy > fresh+budgetHistorySlack {
		t.Errorf("refresh of an identity with %d ended credentials sent %.0f requests, with none %.0f: want within %d",
			budgetEndedHistory, busy, fresh, budgetHistorySlack)
	}
}

func TestCredentialRequestBudget(t *testing.T) {
	direct, _ := openTestNow(t)
	ctx := context.Background()
	setupIdentity(t, direct, budgetPolicy, "ci-job")
	e, proxy := openThroughProxy(t, direct)
	// A provider process that opens a credential has read the identity's governance records at
	// plan time, and its first write checks the mounts (ensureMounts): one open and close
	// uncounted, then the ones the budget counts.
	warm, _, err := e.IssueCredential(ctx, engine.CredentialRequest{Identity: "ci-job", Requester: "terraform", Purpose: "warm-up"})
	must(t, err)
	must(t, e.RevokeCredential(ctx, warm.ID))
	// Past archiveBatch runs, so that one open also writes a batch to the archive: at most one
	// request more than the budget then, and one such open per archiveBatch runs.
	runs := archiveBatch + 2
	var total, over int
	for run := range runs {
		proxy.Reset()
		c, _, err := e.IssueCredential(ctx, engine.CredentialRequest{Identity: "ci-job", Requester: "terraform", Purpose: "budget"})
		must(t, err)
		opened := len(proxy.Requests())
		must(t, engine.RevokeCredentialOf(ctx, e, c.Identity, c.ID))
		n := len(proxy.Requests())
		total += n
		if n > budgetOpenClose {
			over++
		}
		if run < 3 || n != budgetOpenClose {
			t.Logf("run %d: open %d requests, close %d", run, opened, n-opened)
		}
		if n > budgetOpenClose+1 {
			t.Errorf("run %d: credential open + close sent %d requests (%v), budget %d (+1 for an archive write)", run, n, proxy.Requests(), budgetOpenClose)
		}
	}
	t.Logf("%d opens and closes: %d requests, %.2f each", runs, total, float64(total)/float64(runs))
	if most := (runs + archiveBatch - 1) / archiveBatch; over > most {
		t.Errorf("%d of %d opens and closes went over the budget of %d, want at most %d (one archive write per %d)", over, runs, budgetOpenClose, most, archiveBatch)
	}
	if over == 0 {
		t.Errorf("no open of %d wrote the archive, want one per %d ended credentials: the record would grow without bound", runs, archiveBatch)
	}
}

// A credential closed under another identity's name (private data the provider did not write)
// is revoked and recorded all the same: the engine falls back to finding its identity.
func TestRevokeIdentityCredentialWrongIdentity(t *testing.T) {
	e, _ := openTestNow(t)
	ctx := context.Background()
	setupIdentity(t, e, budgetPolicy, "ci-job")
	setupIdentity(t, e, budgetPolicy, "ci-other")
	c, secret, err := e.IssueCredential(ctx, engine.CredentialRequest{Identity: "ci-job", Requester: "terraform", Purpose: "wrong name"})
	must(t, err)
	must(t, engine.RevokeCredentialOf(ctx, e, "ci-other", c.ID))
	if _, err := e.Authenticate(ctx, secret); err == nil {
		t.Errorf("the token of credential %s still authenticates after its revocation", c.ID)
	}
	live, err := e.LiveCredentials(ctx, "ci-job")
	must(t, err)
	if len(live) != 0 {
		t.Errorf("LiveCredentials(ci-job) = %v after the revocation, want none", live)
	}
	all, err := e.ListCredentials(ctx, "ci-job")
	must(t, err)
	if len(all) != 1 || all[0].RevokedAt.IsZero() {
		t.Errorf("ListCredentials(ci-job) = %+v, want the one credential, recorded revoked", all)
	}
	events, err := e.AuditEvents(ctx, engine.AuditFilter{Identity: "ci-job"})
	must(t, err)
	var revoked int
	for _, ev := range events {
		if ev.Type == engine.EventRevoked && ev.Credential == c.ID {
			revoked++
		}
	}
	if revoked != 1 {
		t.Errorf("audit log of ci-job holds %d revoked events for %s, want 1: %+v", revoked, c.ID, events)
	}
}

// TestTargetCredentialRequestBudget: a credential on a target (a lease of the database secrets
// engine) costs exactly budgetOpenClose to open and close when it is the first under its terms:
// the open reads the identity's record, writes the dynamic role of those terms, reads a login
// and writes the record (listing the role); the close revokes the lease and writes the record.
// Every later credential under the same terms skips the role write: 5. The role is shared and
// stays (TestTargetConcurrentIssues, TestTargetDynamicRoles).
func TestTargetCredentialRequestBudget(t *testing.T) {
	direct, _ := targetIdentity(t, "ci-db")
	ctx := context.Background()
	e, proxy := openThroughProxy(t, direct)
	// The process's one-off reads (governance records, the target's inspector password) under
	// other terms than those counted: a shorter TTL than the policy's.
	warm, _, err := e.IssueCredential(ctx, engine.CredentialRequest{Identity: "ci-db", TTL: budgetPolicy.TTL / 2, Purpose: "warm-up"})
	must(t, err)
	must(t, e.RevokeCredential(ctx, warm.ID))
	for run := range 4 {
		proxy.Reset()
		c, _, err := e.IssueCredential(ctx, engine.CredentialRequest{Identity: "ci-db", Purpose: "budget"})
		must(t, err)
		opened := len(proxy.Requests())
		must(t, engine.RevokeCredentialOf(ctx, e, c.Identity, c.ID))
		closed := len(proxy.Requests()) - opened
		wantOpen, what := 3, "a later credential under the same terms"
		if run == 0 {
			wantOpen, what = 4, "the first credential under new terms"
		}
		t.Logf("run %d (%s): open %d requests, close %d", run, what, opened, closed)
		if opened != wantOpen || closed != 2 || opened+closed > budgetOpenClose {
			t.Errorf("run %d, %s: open %d + close %d requests (%v); want open %d + close 2, within the budget of %d",
				run, what, opened, closed, proxy.Requests(), wantOpen, budgetOpenClose)
		}
	}
}

// TestTargetRefreshRequestBudget: the refresh of a persistent identity whose rotated secret is
// the password of a login on a target costs budgetTargetPersistent requests once the process has
// read the inspector's password (the first refresh that reaches the target).
func TestTargetRefreshRequestBudget(t *testing.T) {
	direct, _, f := persistentTarget(t)
	ctx := context.Background()
	var names []string
	for _, strategy := range []string{"", policy.StrategyAlternating} {
		name := "svc-budget-one"
		if strategy != "" {
			name = "svc-budget-alt"
		}
		persistentOn(t, direct, f, name, strategy)
		v, _, err := direct.StageSecret(ctx, name, budgetSecretLength)
		must(t, err)
		_, err = direct.PromoteSecret(ctx, name, v.Version, engine.PromoteOptions{})
		must(t, err)
		names = append(names, name)
	}
	e, proxy := openThroughProxy(t, direct)
	refreshFleet(t, e, proxy, names, time.Now()) // the first reaches the target
	per, _ := refreshFleet(t, e, proxy, names, time.Now())
	t.Logf("refresh of a persistent identity with a rotated login: %.2f requests (%v)", per, proxy.Requests())
	if per > budgetTargetPersistent {
		t.Errorf("refresh: %.2f requests per persistent identity with a rotated login, budget %.0f (%v)", per, budgetTargetPersistent, proxy.Requests())
	}

	// A staging on the one login, once the process has read the governance records and the
	// inspector's password: no request for static roles, which earlier builds made only for
	// alternating logins.
	proxy.Reset()
	_, _, err := e.StageSecret(ctx, names[0], budgetSecretLength)
	must(t, err)
	staged := proxy.Requests()
	t.Logf("staging on the one login: %d requests (%v)", len(staged), staged)
	for _, r := range staged {
		if strings.Contains(r.Path, "/static-roles/") {
			t.Errorf("staging on the one login sent %s %s, want no request for static roles", r.Method, r.Path)
		}
	}
	if len(staged) != budgetTargetStage {
		t.Errorf("staging on the one login: %d requests (%v), want exactly %d", len(staged), staged, budgetTargetStage)
	}
}

// The drift report's cost in TestDriftReportRequestBudget: budgetReportFleet identities on a
// target (and one beside them), each costing budgetReportPerIdentity requests, and
// budgetReportFixed for the fleet.
const (
	budgetReportFleet       = 8
	budgetReportPerIdentity = 3
	budgetReportFixed       = 5
)

// TestDriftReportRequestBudget: the drift report (engine.Observe) over identities on a target
// reads each identity's record once, whatever needs it (the read-back of the identities, their
// secret versions, the rotated logins on targets), and costs the same number of requests per
// identity whatever the fleet's size.
func TestDriftReportRequestBudget(t *testing.T) {
	direct, f := targetIdentity(t, "ci-db-00")
	ctx := context.Background()
	names := []string{"ci-warm", "ci-db-00"}
	for i := 1; i < budgetReportFleet; i++ {
		name := fmt.Sprintf("ci-db-%02d", i)
		_, err := direct.CreateIdentity(ctx, policy.Identity{Name: name, Class: "ci", TTLPolicy: budgetEphemeralPolicy, Target: f.Target, Scopes: []string{f.Reader}})
		must(t, err)
		names = append(names, name)
	}
	for _, name := range names[1:] {
		c, _, err := direct.IssueCredential(ctx, engine.CredentialRequest{Identity: name, Purpose: "report"})
		must(t, err)
		t.Cleanup(func() { _ = f.Admin.DropLogin(context.Background(), c.Username) })
	}
	e, proxy := openThroughProxy(t, direct)
	report := func() (reads map[string]int, total int) {
		t.Helper()
		proxy.Reset()
		fleet, err := engine.Observe(ctx, e, direct.clock.Now())
		must(t, err)
		if len(fleet.Identities) != len(names) || len(fleet.Logins) != len(names)-1 {
			t.Fatalf("report: %d identities, %d logins; want %d and %d", len(fleet.Identities), len(fleet.Logins), len(names), len(names)-1)
		}
		reads = map[string]int{}
		for _, r := range proxy.Requests() {
			if name, ok := strings.CutPrefix(r.Path, "/v1/"+e.mount+"/data/"+identitiesFolder); ok && r.Method == "GET" {
				reads[name]++
			}
		}
		return reads, len(proxy.Requests())
	}
	report() // a new process's one-off reads: governance records, the inspector's password
	reads, total := report()
	t.Logf("drift report over %d identities (%d on a target): %d requests, %.2f per identity; record reads %v", len(names), len(names)-1, total, float64(total)/float64(len(names)), reads)
	for _, name := range names {
		if reads[name] != 1 {
			t.Errorf("the report read the record of %s %d times, want once", name, reads[name])
		}
	}
	// Per identity: its record, its role and its entity (a lease credential is no token to look
	// up: its login on the target is read instead, through the inspector, with no Vault request).
	// For the fleet: the LIST of the identity records, of the legacy secret-versions folder, and
	// the three LISTs of the unmanaged objects (identity records, AppRole roles, entities).
	if want := budgetReportPerIdentity*len(names) + budgetReportFixed; total != want {
		t.Errorf("drift report over %d identities: %d requests, want exactly %d (%d per identity + %d)", len(names), total, want, budgetReportPerIdentity, budgetReportFixed)
	}
}
