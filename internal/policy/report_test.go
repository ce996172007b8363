package policy

import (
	"encoding/json"
	"flag"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// classOnlyRules are the rules that CheckClass raises on its own and that Drift never does:
// a class that breaks them cannot be written to an engine.
var classOnlyRules = []string{RuleInvalidNamingPattern, RuleClassLifetimeBelowTTL}

// planOnlyRules are reminders that only a plan gives (as warnings), never the drift report: a
// review falling due soon is not a finding yet.
var planOnlyRules = []string{RuleReviewDueSoon}

// everyKindFleet is a fixed fleet, observed at testNow, that breaks every rule the drift report
// evaluates at least once (TestEveryKindFleet says so), with trust debt on three identities and
// a blast radius on several, one of them unbounded.
func everyKindFleet() Fleet {
	now := testNow
	return Fleet{
		Now: now,
		Classes: []Class{
			{Name: "ci", Kind: KindEphemeral, MaxTTL: time.Hour, MaxLifetime: Day, MaxRenewals: ptr(int64(3)),
				RequireOwner: true, NamingPattern: "ci-[a-z0-9-]+", Environments: []string{"dev", "prod"}},
			{Name: "svc", Kind: KindPersistent, MaxRotationInterval: 30 * Day, RequireOwner: true, RequireConsumers: true, MaxIdle: 30 * Day},
			{Name: "ops", Kind: KindEphemeral, MaxTTL: time.Hour, MaxLifetime: 4 * time.Hour, MaxRenewals: ptr(int64(3)), RequireOwner: true,
				AllowedScopes: []string{"read:*", "deploy:*"}, DeniedScopes: []string{"admin:*"}, MaxScopes: 2,
				AllowedCIDRs: []string{"10.0.0.0/8"}, MaxBlastRadius: 4},
			{Name: "reviewed", Kind: KindPersistent, ReviewEvery: 30 * Day, RequireRegisteredOwner: true},
		},
		Owners: []Owner{{Name: "team-sre", Kind: OwnerTeam, Status: OwnerActive}, {Name: "bob", Kind: OwnerPerson, Contact: "bob@example.com", Status: OwnerDeparted}},
		Policies: []TTLPolicy{
			{Name: "ci-short", Class: "ci", TTL: 15 * time.Minute, MaxLifetime: 2 * time.Hour, Renewable: true, MaxRenewals: ptr(int64(2))},
			// ttl above the class, renewable without a lifetime or a renewal cap.
			{Name: "ci-long", Class: "ci", TTL: 3 * time.Hour, Renewable: true},
			{Name: "ci-odd", Class: "ci", TTL: 30 * time.Minute, MaxLifetime: 20 * time.Minute},
			// An exception with no approver, expired a day ago: the ceilings apply again.
			{Name: "ci-excepted", Class: "ci", TTL: 2 * time.Hour, MaxLifetime: 2 * time.Hour,
				Exception: &Exception{Reason: "migration", ExpiresAt: now.Add(-Day)}},
			{Name: "svc-token", Class: "svc", TTL: time.Hour, MaxLifetime: time.Hour},
			{Name: "ops-short", Class: "ops", TTL: 30 * time.Minute, MaxLifetime: 2 * time.Hour, Renewable: true, MaxRenewals: ptr(int64(2))},
		},
		Identities: []Identity{
			{Name: "ci-build", Class: "ci", Owner: "team-platform", Environment: "dev", TTLPolicy: "ci-short", Status: StatusActive,
				Scopes: []string{"read:artifacts", "write:cache"}},
			{Name: "ci-nobody", Class: "ci", Environment: "staging", Status: StatusActive},
			{Name: "build_bot", Class: "ci", Owner: "team-platform", Environment: "dev", TTLPolicy: "ci-short", Status: StatusActive},
			{Name: "ci-mixed", Class: "ci", Owner: "team-platform", Environment: "prod", TTLPolicy: "svc-token", Status: StatusActive},
			{Name: "ci-rotated", Class: "ci", Owner: "team-platform", Environment: "prod", TTLPolicy: "ci-short", Status: StatusActive},
			{Name: "ci-old", Class: "ci", Owner: "team-platform", Environment: "prod", TTLPolicy: "ci-short", Status: StatusRetired, RetiredAt: now.Add(-2 * Day)},
			{Name: "svc-api", Class: "svc", Owner: "team-payments", Environment: "prod", Status: StatusActive, Scopes: []string{"billing:read"}},
			// Last used 40 days ago: inactive (max_idle 30d), 10 days of trust debt.
			{Name: "svc-cron", Class: "svc", Owner: "team-payments", Environment: "prod", Status: StatusActive, LastUsedAt: now.Add(-40 * Day)},
			{Name: "svc-db", Class: "svc", Owner: "team-payments", Environment: "prod", Status: StatusActive, Scopes: []string{"billing:write"},
				EngineDrift: []string{"role token_ttl is 24h, declared 1h"}},
			{Name: "svc-orders", Class: "svc", Owner: "team-payments", Environment: "prod", Status: StatusActive, Target: "orders-db"},
			{Name: "svc-legacy", Class: "svc", Owner: "team-billing", Environment: "prod", TTLPolicy: "svc-token", Status: StatusActive, Target: "reports-db"},
			{Name: "legacy-sync", Class: "batch", Owner: "team-billing", Environment: "prod", Status: StatusActive},
			// Every privilege rule: two denied scopes, one outside the allowed patterns, scopes
			// above the class's count, two networks outside the class's, a blast radius of 4 scopes
			// x 2h above 4 scope-hours, and on the engine a policy added and a declared one missing.
			{Name: "ops-admin", Class: "ops", Owner: "team-sre", Environment: "prod", TTLPolicy: "ops-short", Status: StatusActive,
				Scopes: []string{"admin:root", "admin:keys", "deploy:prod", "write:logs"}, BoundCIDRs: []string{"192.168.0.0/16", "172.16.0.0/12"},
				PrivilegesAdded: []string{"token_policies root"}, PrivilegesRemoved: []string{"token_policies write:logs"}},
			// Review and ownership: a review 10 days overdue; a review dated tomorrow with no
			// reviewer, owned by a departed owner; an owner with no record in a class that
			// requires one.
			{Name: "rev-late", Class: "reviewed", Owner: "team-sre", Status: StatusActive, ReviewedAt: now.Add(-40 * Day), ReviewedBy: "alice"},
			{Name: "rev-future", Class: "reviewed", Owner: "bob", Status: StatusActive, ReviewedAt: now.Add(Day)},
			{Name: "rev-stranger", Class: "reviewed", Owner: "team-ghost", Status: StatusActive, ReviewedAt: now.Add(-Day), ReviewedBy: "alice"},
		},
		Schedules: []RotationSchedule{
			// Every 45 days (above the class's 30), an overlap longer than that, no consumers.
			{Identity: "svc-api", Interval: 45 * Day, Window: time.Hour, Overlap: 60 * Day},
			// Alternating logins for an identity without a target.
			{Identity: "svc-cron", Cron: "61 * * * *", Window: time.Hour, Consumers: []Consumer{{Name: "orders"}}, Strategy: StrategyAlternating},
			// An overlap for one login's password on a target.
			{Identity: "svc-orders", Interval: 30 * Day, Window: time.Hour, Overlap: time.Hour, Consumers: []Consumer{{Name: "payments"}}},
			{Identity: "ci-rotated", Interval: Day, Window: time.Hour, Consumers: []Consumer{{Name: "runner"}}},
		},
		Credentials: []Credential{
			{ID: "c-forever", Identity: "ci-build", IssuedAt: now.Add(-10 * time.Minute), HardExpiresAt: now.Add(time.Hour)},
			// Renewed 5 times (budget 2), 30h old (class 24h), 3h past its hard expiry.
			{ID: "c-stretched", Identity: "ci-build", IssuedAt: now.Add(-30 * time.Hour), ExpiresAt: now.Add(time.Hour),
				HardExpiresAt: now.Add(-3 * time.Hour), RenewCount: 5},
			{ID: "c-left", Identity: "ci-old", IssuedAt: now.Add(-50 * time.Hour), ExpiresAt: now.Add(time.Hour), HardExpiresAt: now.Add(time.Hour)},
			{ID: "c-fine", Identity: "ci-rotated", IssuedAt: now.Add(-5 * time.Minute), ExpiresAt: now.Add(10 * time.Minute), HardExpiresAt: now.Add(time.Hour)},
			// A login on a target, valid forever and granted a role beyond its scope.
			{ID: "c-db", Identity: "ci-rotated", IssuedAt: now.Add(-5 * time.Minute), ExpiresAt: now.Add(time.Hour), HardExpiresAt: now.Add(2 * time.Hour),
				Scopes: []string{"orders_read"}, Target: "orders-db", Username: "nhi_ci-rotated_db"},
		},
		Secrets: []SecretObservation{
			// svc-api was last rotated 60 days ago (due 15 days ago) and shares its secret with svc-db.
			{Identity: "svc-api", Version: 1, Current: true, PromotedAt: now.Add(-60 * Day), Live: true, Fingerprint: "fp-7d1e"},
			{Identity: "svc-db", Version: 3, Current: true, PromotedAt: now.Add(-Day), Live: true, Fingerprint: "fp-7d1e"},
			{Identity: "ci-old", Version: 2, Current: true, PromotedAt: now.Add(-9 * Day), Live: true, Fingerprint: "fp-0a4c"},
		},
		Unmanaged: []string{"hand-made-role"},
		Logins: []LoginObservation{
			{Target: "orders-db", Name: "nhi_ci-rotated_db", Identity: "ci-rotated", Credential: "c-db", Infinite: true,
				Roles: []string{"orders_read", "pg_write_all_data"}},
			// Left behind by a credential that is gone.
			{Target: "orders-db", Name: "nhi_ci-rotated_gone", Identity: "ci-rotated", Credential: "c-gone", ValidUntil: now.Add(-time.Hour)},
			// The login of a rotated secret whose password was changed by hand, and one that
			// cannot be checked.
			{Target: "orders-db", Name: "nhi_svc-orders", Identity: "svc-orders", Rotated: true},
			{Target: "orders-db", Name: "nhi_svc-api", Identity: "svc-api", Rotated: true, PasswordUnchecked: PasswordVerifierHidden},
			// A target that did not answer: its identities' logins were not checked.
			{Target: "reports-db", Unchecked: "dial tcp 10.0.0.9:5432: connection refused"},
		},
	}
}

func TestEveryKindFleet(t *testing.T) {
	rep := Drift(everyKindFleet())
	got := map[string]bool{}
	for _, f := range rep.Findings {
		got[f.Rule] = true
	}
	for _, rule := range slices.Sorted(maps.Keys(ruleTitles)) {
		if slices.Contains(classOnlyRules, rule) || slices.Contains(planOnlyRules, rule) {
			if got[rule] {
				t.Errorf("rule %s is listed as class-only or plan-only but the drift report raised it", rule)
			}
			continue
		}
		if !got[rule] {
			t.Errorf("the fixed fleet raises no %s finding: extend everyKindFleet", rule)
		}
	}
	if n := len(rep.TrustDebt); n < 3 {
		t.Errorf("trust debt on %d identities, want at least 3: %v", n, rep.TrustDebt)
	}
	if total, unbounded := rep.TotalBlastRadius(); total == 0 || unbounded == 0 {
		t.Errorf("blast radius %v scope-hours with %d unbounded identities: want both above zero", total, unbounded)
	}
}

func TestRuleHelpComplete(t *testing.T) {
	for rule := range ruleTitles {
		h, ok := ruleHelp[rule]
		if !ok || h.Description == "" || h.Remedy == "" {
			t.Errorf("rule %s has no description or remedy in ruleHelp", rule)
		}
	}
	for rule := range ruleHelp {
		if _, ok := ruleTitles[rule]; !ok {
			t.Errorf("ruleHelp describes %s, which is not a rule", rule)
		}
	}
}

// golden compares got with testdata/name, or rewrites the file with -update.
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./internal/policy/ -run %s -update to write it)", err, t.Name())
	}
	if got != string(want) {
		gotLines, wantLines := strings.Split(got, "\n"), strings.Split(string(want), "\n")
		for i := range max(len(gotLines), len(wantLines)) {
			g, w := "", ""
			if i < len(gotLines) {
				g = gotLines[i]
			}
			if i < len(wantLines) {
				w = wantLines[i]
			}
			if g != w {
				t.Fatalf("%s differs from the golden file at line %d:\n got: %s\nwant: %s\n(rerun with -update and review the diff if the change is intended)", name, i+1, g, w)
			}
		}
	}
}

func TestMarkdownReportGolden(t *testing.T) {
	fleet := everyKindFleet()
	first := MarkdownReport(Drift(fleet), fleet)
	// A second report over a fresh copy of the same fleet (map iteration differs between them).
	again := everyKindFleet()
	if second := MarkdownReport(Drift(again), again); second != first {
		t.Fatalf("two reports of the same fleet differ:\n%s\n---\n%s", first, second)
	}
	golden(t, "drift_report.md", first)
}

func TestMarkdownReport(t *testing.T) {
	fleet := everyKindFleet()
	rep := Drift(fleet)
	md := MarkdownReport(rep, fleet)
	// Every finding appears, with its observed value and remedy escaped as Markdown text.
	for _, f := range rep.Findings {
		for _, part := range []string{"`" + f.Subject + "`", "`" + f.Rule + "`", mdText(f.Observed), mdText(f.Allowed), mdText(f.Remedy)} {
			if !strings.Contains(md, part) {
				t.Errorf("the Markdown report lacks %q (finding %s on %s)", part, f.Rule, f.Subject)
			}
		}
	}
	// Findings come worst first.
	lastRank := 5
	for _, line := range strings.Split(md, "\n") {
		sev, ok := strings.CutPrefix(line, "- **")
		if !ok {
			continue
		}
		sev, _, _ = strings.Cut(sev, "**")
		rank := Severity(sev).Rank()
		if rank == 0 || rank > lastRank {
			t.Fatalf("finding line %q out of severity order", line)
		}
		lastRank = rank
	}

	empty := MarkdownReport(Report{TrustDebt: map[string]time.Duration{}}, Fleet{Now: testNow})
	want := "## NHI drift report\n\n**0 findings** (0 critical, 0 high, 0 medium, 0 low). Trust debt: **0.0 h** over 0 identities. Blast radius: **0.0 scope-hours**, 0 identities unbounded. Generated 2025-03-01T12:00:00Z.\n\nNo findings.\n"
	if empty != want {
		t.Errorf("empty report =\n%q\nwant\n%q", empty, want)
	}
}

func TestMarkdownReportTopIdentities(t *testing.T) {
	debt := map[string]time.Duration{}
	for i := range markdownTop + 2 {
		debt["id-"+string(rune('a'+i))] = time.Duration(i+1) * time.Hour
	}
	debt["id-tie"] = 3 * time.Hour // ties with id-c: by name
	md := MarkdownReport(Report{TrustDebt: debt}, Fleet{Now: testNow, Identities: []Identity{{Name: "id-l", Class: "ci"}}})
	_, table, _ := strings.Cut(md, "### Top identities by trust debt\n\n")
	table, _, _ = strings.Cut(table, "\n\n")
	lines := strings.Split(table, "\n")
	if len(lines) != 2+markdownTop {
		t.Fatalf("top table has %d rows, want %d:\n%s", len(lines)-2, markdownTop, table)
	}
	if lines[2] != "| `id-l` | ci | 12.0 |" || lines[3] != "| `id-k` | - | 11.0 |" {
		t.Errorf("top rows = %q, %q; want id-l (12.0, class ci) then id-k (11.0)", lines[2], lines[3])
	}
	if !strings.Contains(md, "3 more not shown.") {
		t.Errorf("report does not say how many identities it left out:\n%s", md)
	}
}

func TestMarkdownReportBlastRadius(t *testing.T) {
	rep := Report{Blast: map[string]Blast{
		"wide":    {Exposure: Exposure{Window: 3 * time.Hour, Bounded: true}, Scopes: 2},
		"narrow":  {Exposure: Exposure{Window: time.Hour, Bounded: true}, Scopes: 1},
		"forever": {Exposure: Exposure{Basis: "no schedule"}, Scopes: 1},
		"idle":    {Exposure: Exposure{Basis: "no schedule"}}, // no scopes: reaches nothing
	}}
	md := MarkdownReport(rep, Fleet{Now: testNow})
	summary := "Blast radius: **7.0 scope-hours**, 1 identity unbounded."
	table := "### Top identities by blast radius\n\n| Identity | Class | Blast radius (scope-hours) |\n|---|---|--:|\n" +
		"| `forever` | - | unbounded |\n| `wide` | - | 6.0 |\n| `narrow` | - | 1.0 |\n\n"
	if !strings.Contains(md, summary) || !strings.Contains(md, table) {
		t.Errorf("want the summary %q and the table\n%s\nin\n%s", summary, table, md)
	}
	if strings.Contains(md, "`idle`") {
		t.Errorf("an identity with no scopes is listed by blast radius:\n%s", md)
	}
}

func TestMarkdownEscaping(t *testing.T) {
	fleet := Fleet{Now: testNow, Unmanaged: []string{"evil|`name`"}}
	rep := Drift(fleet)
	rep.Findings[0].Observed = "a <script>|x\n## heading *bold* [link](u)"
	md := MarkdownReport(rep, fleet)
	for _, bad := range []string{"<script>", "\n## heading", "*bold*", "[link]", "`name`", "evil|"} {
		if strings.Contains(md, bad) {
			t.Errorf("engine text %q reached the Markdown unescaped:\n%s", bad, md)
		}
	}
}

// sarifSchema compiles the SARIF 2.1.0 JSON schema (OASIS, errata 01) in testdata, a copy of
// the file that github.com/securego/gosec/v2 v2.29.0 ships in report/sarif/testdata.
func compileSARIFSchema(t *testing.T) *jsonschema.Schema {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", "sarif-schema-2.1.0.json"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	doc, err := jsonschema.UnmarshalJSON(f)
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	c.AssertFormat() // uri and date-time are checked, not just annotated
	if err := c.AddResource(sarifSchema, doc); err != nil {
		t.Fatal(err)
	}
	sch, err := c.Compile(sarifSchema)
	if err != nil {
		t.Fatal(err)
	}
	return sch
}

func validateSARIF(t *testing.T, sch *jsonschema.Schema, out string) {
	t.Helper()
	inst, err := jsonschema.UnmarshalJSON(strings.NewReader(out))
	if err != nil {
		t.Fatalf("SARIF is not JSON: %v", err)
	}
	if err := sch.Validate(inst); err != nil {
		t.Fatalf("SARIF does not validate against the 2.1.0 schema: %v", err)
	}
}

func TestSARIFReportSchema(t *testing.T) {
	sch := compileSARIFSchema(t)
	// The schema check can fail: a log with a result level SARIF does not define is rejected.
	bad := `{"version":"2.1.0","runs":[{"tool":{"driver":{"name":"x"}},"results":[{"message":{"text":"m"},"level":"critical"}]}]}`
	if inst, _ := jsonschema.UnmarshalJSON(strings.NewReader(bad)); sch.Validate(inst) == nil {
		t.Fatal("the schema accepted a result with level \"critical\"")
	}

	fleet := everyKindFleet()
	rep := Drift(fleet)
	for _, uri := range []string{"", "infra/nhi/main.tf"} {
		out, err := SARIFReport(rep, fleet, uri)
		if err != nil {
			t.Fatal(err)
		}
		validateSARIF(t, sch, out)
	}
	empty, err := SARIFReport(Report{}, Fleet{Now: testNow}, "")
	if err != nil {
		t.Fatal(err)
	}
	validateSARIF(t, sch, empty)
}

func TestSARIFReportGolden(t *testing.T) {
	fleet := everyKindFleet()
	first, err := SARIFReport(Drift(fleet), fleet, "infra/nhi/main.tf")
	if err != nil {
		t.Fatal(err)
	}
	again := everyKindFleet()
	second, err := SARIFReport(Drift(again), again, "infra/nhi/main.tf")
	if err != nil {
		t.Fatal(err)
	}
	if first != second {
		t.Fatal("two SARIF logs of the same fleet differ")
	}
	golden(t, "drift_report.sarif", first)
}

func TestSARIFReportContent(t *testing.T) {
	fleet := everyKindFleet()
	rep := Drift(fleet)
	out, err := SARIFReport(rep, fleet, "")
	if err != nil {
		t.Fatal(err)
	}
	var log sarifLog
	if err := json.Unmarshal([]byte(out), &log); err != nil {
		t.Fatal(err)
	}
	run := log.Runs[0]
	if len(run.Results) != len(rep.Findings) {
		t.Fatalf("%d results for %d findings", len(run.Results), len(rep.Findings))
	}
	// One rule per finding kind, each with its descriptions, remedy, OWASP and level.
	rules := map[string]sarifRule{}
	for _, r := range run.Tool.Driver.Rules {
		if _, dup := rules[r.ID]; dup {
			t.Errorf("rule %s listed twice", r.ID)
		}
		rules[r.ID] = r
		if r.ShortDescription.Text != ruleTitles[r.ID] || r.FullDescription.Text != ruleHelp[r.ID].Description ||
			!strings.Contains(r.Help.Text, ruleHelp[r.ID].Remedy) {
			t.Errorf("rule %s: descriptions or help do not come from its title and help: %+v", r.ID, r)
		}
	}
	fingerprints := map[string]string{}
	for i, res := range run.Results {
		f := rep.Findings[i]
		rule, ok := rules[res.RuleID]
		if !ok || run.Tool.Driver.Rules[res.RuleIndex].ID != f.Rule || res.RuleID != f.Rule {
			t.Fatalf("result %d: rule %s (index %d) does not name finding rule %s", i, res.RuleID, res.RuleIndex, f.Rule)
		}
		if res.Level != sarifLevel(f.Severity) || rule.DefaultConfiguration.Level != res.Level {
			t.Errorf("result %d (%s, %s): level %s, rule default %s", i, f.Rule, f.Severity, res.Level, rule.DefaultConfiguration.Level)
		}
		if owasp, _ := rule.Properties["owasp"].(string); owasp != f.OWASP {
			t.Errorf("rule %s: owasp %q, finding says %q", f.Rule, owasp, f.OWASP)
		}
		loc := res.Locations[0].LogicalLocations[0]
		kind, name, _ := strings.Cut(f.Subject, "/")
		if loc.Name != name || loc.Kind != kind || !strings.HasSuffix(loc.FullyQualifiedName, f.Subject) {
			t.Errorf("result %d: logical location %+v does not name %s", i, loc, f.Subject)
		}
		if res.Message.Text != f.Message() {
			t.Errorf("result %d: message %q", i, res.Message.Text)
		}
		fp := res.PartialFingerprints[SARIFFingerprint]
		if prev, dup := fingerprints[fp]; dup {
			t.Errorf("findings %s and %s share fingerprint %s", prev, f.Message(), fp)
		}
		fingerprints[fp] = f.Message()
	}
	// The identity's class is in its location.
	for _, res := range run.Results {
		if loc := res.Locations[0].LogicalLocations[0]; loc.Name == "ci-build" && loc.FullyQualifiedName != "class/ci/identity/ci-build" {
			t.Errorf("ci-build located at %q, want class/ci/identity/ci-build", loc.FullyQualifiedName)
		}
	}
}

// A finding keeps its fingerprint while it ages: half an hour later, the same credentials and
// overdue rotation give the same fingerprints though their observed values changed.
func TestSARIFFingerprintStableAcrossRuns(t *testing.T) {
	prints := func(now time.Time) map[string]string {
		fleet := everyKindFleet()
		fleet.Now = now
		rep := Drift(fleet)
		out := map[string]string{}
		for _, f := range rep.Findings {
			out[findingFingerprint(f)] = f.Rule + " " + f.Subject + " " + f.Object
		}
		return out
	}
	later := testNow.Add(30 * time.Minute)
	today, tomorrow := prints(testNow), prints(later)
	for fp, what := range today {
		if _, ok := tomorrow[fp]; !ok {
			t.Errorf("%s lost its fingerprint %s half an hour later", what, fp)
		}
	}
	// And the observed values did change, so the stability is not vacuous.
	a, b := Drift(everyKindFleet()), everyKindFleet()
	b.Now = later
	if len(today) != len(tomorrow) || slices.EqualFunc(a.Findings, Drift(b).Findings, func(x, y Finding) bool { return x.Observed == y.Observed }) {
		t.Error("the findings changed in number, or no observed value changed in half an hour; the fixture does not exercise ageing")
	}
}
