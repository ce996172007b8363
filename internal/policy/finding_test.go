package policy

import (
	"strings"
	"testing"
)

var allRules = []string{
	RuleInvalidNamingPattern, RuleClassLifetimeBelowTTL, RuleUnlimitedRenewal, RuleLifetimeBelowTTL,
	RuleTTLAboveClassMax, RuleLifetimeAboveClassMax, RuleRenewalsAboveClassMax, RuleTTLPolicyOnPersistent,
	RuleTTLPolicyMissing, RuleTTLPolicyClass, RuleOwnerMissing, RuleNamePattern, RuleEnvironment,
	RuleExceptionIncomplete, RuleExceptionExpired, RuleRotationOnEphemeral, RuleRotationIntervalAboveMax,
	RuleConsumersMissing, RuleOverlapNotBelowInterval, RuleInvalidCron, RuleRotationOverdue,
	RuleCredentialPastHardExpiry, RuleCredentialAboveClassMax, RuleRenewalsPastBudget, RuleCredentialNoExpiry,
	RuleRetiredWithCredential, RuleSharedSecret, RuleUnmanagedIdentity, RuleOrphanIdentity, RuleEngineDrift,
	RuleScopeNotAllowed, RuleScopeDenied, RuleScopesAboveClassMax, RuleCIDRNotAllowed, RuleBlastRadiusAboveClassMax,
	RuleUnboundedExposure, RulePrivilegeEscalation, RulePrivilegeRemoved, RuleInactive,
	RuleReviewOverdue, RuleReviewDueSoon, RuleReviewInFuture, RuleReviewerMissing, RuleOwnerDeparted, RuleOwnerNotRegistered,
	RuleOrphanedLogin, RuleLoginValidityAboveHard, RuleOverlapNeedsAlternating, RuleAlternatingWithoutTarget,
	RulePasswordChanged, RulePasswordUnchecked, RuleTargetUnchecked,
}

func TestFindingTitle(t *testing.T) {
	seen := map[string]string{}
	for _, r := range allRules {
		f := Finding{Rule: r}
		title := f.Title()
		if title == "" || title == "Policy Violation" {
			t.Errorf("rule %s has no title of its own (got %q)", r, title)
		}
		if other, ok := seen[title]; ok {
			t.Errorf("rules %s and %s share the title %q", r, other, title)
		}
		seen[title] = r
	}
	if len(ruleTitles) != len(allRules) {
		t.Errorf("ruleTitles has %d entries, the test knows %d rules: update allRules", len(ruleTitles), len(allRules))
	}
	if got := (Finding{Rule: "no-such-rule"}).Title(); got != "Policy Violation" {
		t.Errorf("unknown rule title = %q, want %q", got, "Policy Violation")
	}
}

func TestFindingMessage(t *testing.T) {
	tests := []struct {
		name    string
		f       Finding
		want    []string
		notWant []string
	}{
		{"full", Finding{Rule: RuleTTLAboveClassMax, Subject: "ttl_policy/ci-short", Observed: "ttl 2h0m0s",
			Allowed: "class ci allows at most 1h0m0s", OWASP: "NHI7", Remedy: "lower ttl"},
			[]string{"ttl_policy/ci-short", "TTL Above Class Maximum", "rule ttl-above-class-max", "Observed: ttl 2h0m0s",
				"Allowed: class ci allows at most 1h0m0s", "To fix: lower ttl", "(OWASP NHI7)"}, nil},
		{"no remedy, no owasp", Finding{Rule: RuleOwnerMissing, Subject: "identity/x", Observed: "no owner", Allowed: "an owner"},
			[]string{"identity/x", "Owner Missing", "no owner", "an owner"}, []string{"To fix", "OWASP"}},
		{"unknown rule uses the fallback title", Finding{Rule: "no-such-rule", Subject: "identity/x", Observed: "o", Allowed: "a"},
			[]string{"identity/x: Policy Violation (rule no-such-rule)"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			msg := tt.f.Message()
			for _, w := range tt.want {
				if !strings.Contains(msg, w) {
					t.Errorf("Message() = %q, missing %q", msg, w)
				}
			}
			for _, w := range tt.notWant {
				if strings.Contains(msg, w) {
					t.Errorf("Message() = %q, should not contain %q", msg, w)
				}
			}
		})
	}
}

func TestSeverityRank(t *testing.T) {
	for i, s := range Severities {
		if s.Rank() != i+1 {
			t.Errorf("%s.Rank() = %d, want %d", s, s.Rank(), i+1)
		}
	}
	if SeverityLow.Rank() >= SeverityMedium.Rank() || SeverityMedium.Rank() >= SeverityHigh.Rank() || SeverityHigh.Rank() >= SeverityCritical.Rank() {
		t.Error("severities are not ordered low < medium < high < critical")
	}
	for _, s := range []Severity{"", "HIGH", "info"} {
		if s.Rank() != 0 {
			t.Errorf("%q.Rank() = %d, want 0", s, s.Rank())
		}
	}
}

func TestFailing(t *testing.T) {
	findings := []Finding{{Rule: "a", Severity: SeverityLow}, {Rule: "b", Severity: SeverityHigh}, {Rule: "c", Severity: SeverityCritical}, {Rule: "d", Severity: SeverityMedium}}
	tests := []struct {
		failOn Severity
		want   string
	}{{"", ""}, {SeverityLow, "abcd"}, {SeverityMedium, "bcd"}, {SeverityHigh, "bc"}, {SeverityCritical, "c"}}
	for _, tt := range tests {
		var got string
		for _, f := range Failing(findings, tt.failOn) {
			got += f.Rule
		}
		if got != tt.want {
			t.Errorf("Failing(fail_on %q) = %q, want %q", tt.failOn, got, tt.want)
		}
	}
}
