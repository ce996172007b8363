package policy

import (
	"reflect"
	"testing"
	"time"
)

func subjectsOf(fs []Finding) []string {
	out := []string{}
	for _, f := range fs {
		out = append(out, f.Subject+" "+f.Rule)
	}
	return out
}

// TestReach: a tightened class names every active identity and TTL policy it would leave out
// of compliance, and nothing else.
func TestReach(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	renewals := int64(2)
	class := Class{Name: "ci", Kind: KindEphemeral, MaxTTL: 30 * time.Minute, MaxLifetime: time.Hour, RequireOwner: true, Environments: []string{"prod"}}
	policies := []TTLPolicy{
		{Name: "short", Class: "ci", TTL: 15 * time.Minute, MaxLifetime: time.Hour, Renewable: true, MaxRenewals: &renewals},
		{Name: "long", Class: "ci", TTL: time.Hour},
		{Name: "other", Class: "batch", TTL: 5 * time.Hour},
	}
	ids := []Identity{
		{Name: "ci-ok", Class: "ci", Owner: "a", Environment: "prod", TTLPolicy: "short", Status: StatusActive},
		{Name: "ci-dev", Class: "ci", Owner: "a", Environment: "dev", TTLPolicy: "short", Status: StatusActive},
		{Name: "ci-orphaned", Class: "ci", Environment: "prod", TTLPolicy: "short", Status: StatusActive},
		{Name: "ci-gone", Class: "ci", Environment: "dev", TTLPolicy: "short", Status: StatusRetired},
		{Name: "batch-job", Class: "batch", Environment: "dev", TTLPolicy: "other", Status: StatusActive},
	}
	got := subjectsOf(Reach(class, ids, policies, nil, now))
	want := []string{
		"ttl_policy/long " + RuleTTLAboveClassMax,
		"identity/ci-dev " + RuleEnvironment,
		"identity/ci-orphaned " + RuleOwnerMissing,
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("Reach = %v, want %v", got, want)
	}
	if got := Reach(Class{Name: "ci", Kind: KindEphemeral, MaxLifetime: 4 * time.Hour}, ids, policies, nil, now); len(got) != 0 {
		t.Fatalf("a loose class reaches %v, want nothing", subjectsOf(got))
	}
}

// TestReachInactive: a class that sets or tightens max_idle names the active identities it makes
// inactive (idle since their last use, or since their creation when never used).
func TestReachInactive(t *testing.T) {
	now := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	ids := []Identity{
		{Name: "svc-busy", Class: "svc", Status: StatusActive, CreatedAt: now.Add(-100 * Day), LastUsedAt: now.Add(-time.Hour)},
		{Name: "svc-stale", Class: "svc", Status: StatusActive, CreatedAt: now.Add(-100 * Day), LastUsedAt: now.Add(-20 * Day)},
		{Name: "svc-unused", Class: "svc", Status: StatusActive, CreatedAt: now.Add(-15 * Day)},
		{Name: "svc-new", Class: "svc", Status: StatusActive, CreatedAt: now.Add(-Day)},
		{Name: "svc-gone", Class: "svc", Status: StatusRetired, CreatedAt: now.Add(-100 * Day)},
	}
	class := Class{Name: "svc", Kind: KindPersistent, MaxIdle: 14 * Day}
	got := subjectsOf(Reach(class, ids, nil, nil, now))
	want := []string{"identity/svc-stale " + RuleInactive, "identity/svc-unused " + RuleInactive}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("Reach = %v, want %v", got, want)
	}
}

// TestReportFilterAndAbout: scopes select findings and trust debt by the identity's class,
// owner and environment, and by severity; About selects one identity's findings.
func TestReportFilterAndAbout(t *testing.T) {
	fleet := Fleet{
		Identities: []Identity{
			{Name: "a", Class: "ci", Owner: "team-a", Environment: "dev"},
			{Name: "b", Class: "svc", Owner: "team-b", Environment: "prod"},
		},
		Policies: []TTLPolicy{{Name: "p", Class: "ci"}},
	}
	rep := Report{
		Findings: []Finding{
			{Rule: "r1", Severity: SeverityHigh, Subject: "identity/a"},
			{Rule: "r2", Severity: SeverityLow, Subject: "identity/a"},
			{Rule: "r3", Severity: SeverityCritical, Subject: "rotation_schedule/b"},
			{Rule: "r4", Severity: SeverityHigh, Subject: "ttl_policy/p"},
			{Rule: "r5", Severity: SeverityMedium, Subject: "class/svc"},
			{Rule: "r6", Severity: SeverityMedium, Subject: "identity/unmanaged-x"},
		},
		TrustDebt: map[string]time.Duration{"a": time.Hour, "b": 2 * time.Hour},
	}
	tests := []struct {
		scope Scope
		rules []string
		debt  time.Duration
	}{
		{Scope{}, []string{"r1", "r2", "r3", "r4", "r5", "r6"}, 3 * time.Hour},
		{Scope{Class: "ci"}, []string{"r1", "r2", "r4"}, time.Hour},
		{Scope{Class: "svc"}, []string{"r3", "r5"}, 2 * time.Hour},
		{Scope{Owner: "team-b"}, []string{"r3"}, 2 * time.Hour},
		{Scope{Environment: "dev"}, []string{"r1", "r2"}, time.Hour},
		{Scope{MinSeverity: SeverityHigh}, []string{"r1", "r3", "r4"}, 3 * time.Hour},
		{Scope{Class: "ci", MinSeverity: SeverityCritical}, nil, time.Hour},
	}
	for _, tt := range tests {
		got := rep.Filter(fleet, tt.scope)
		var rules []string
		for _, f := range got.Findings {
			rules = append(rules, f.Rule)
		}
		if !reflect.DeepEqual(rules, tt.rules) || got.TotalTrustDebt() != tt.debt {
			t.Errorf("Filter(%+v) = %v with debt %s, want %v with %s", tt.scope, rules, got.TotalTrustDebt(), tt.rules, tt.debt)
		}
	}
	if got := subjectsOf(rep.About("b")); !reflect.DeepEqual(got, []string{"rotation_schedule/b r3"}) {
		t.Errorf("About(b) = %v", got)
	}
}
