package policy

import "fmt"

// Severity orders findings; a higher severity is worse.
type Severity string

// Severities, from least to most severe.
const (
	SeverityLow      Severity = "low"
	SeverityMedium   Severity = "medium"
	SeverityHigh     Severity = "high"
	SeverityCritical Severity = "critical"
)

// Severities lists every severity from least to most severe.
var Severities = []Severity{SeverityLow, SeverityMedium, SeverityHigh, SeverityCritical}

// Rank orders severities: low is 1, critical is 4, anything else 0.
func (s Severity) Rank() int {
	for i, v := range Severities {
		if v == s {
			return i + 1
		}
	}
	return 0
}

// AtLeast reports whether s is at least as severe as threshold; every severity is at least the
// empty one (no threshold).
func (s Severity) AtLeast(threshold Severity) bool {
	return threshold == "" || s.Rank() >= threshold.Rank()
}

// Failing is the fail_on gate: the findings at or above severity failOn; none when failOn is
// empty.
func Failing(findings []Finding, failOn Severity) []Finding {
	if failOn == "" {
		return nil
	}
	var out []Finding
	for _, f := range findings {
		if f.Severity.AtLeast(failOn) {
			out = append(out, f)
		}
	}
	return out
}

// Finding is one rule's verdict on one subject.
type Finding struct {
	// Rule names the rule, for example "ttl-above-class-max".
	Rule     string   `json:"rule"`
	Severity Severity `json:"severity"`
	// Subject names the object the finding is about, as "kind/name", e.g. "identity/ci-build".
	Subject string `json:"subject"`
	// Attribute is the configuration attribute at fault, as a dotted path ("exception.reason");
	// empty when the finding is not about one attribute.
	Attribute string `json:"attribute,omitempty"`
	// Object names the object inside the subject that the finding is about, as "kind/id"
	// ("credential/c-123", "secret-version/2", "scope/admin:root", "cidr/10.0.0.0/8"); empty when
	// the finding is about the subject as a whole. With Rule, Subject and Attribute it tells
	// findings apart across runs (SARIF fingerprints), where Observed changes as credentials age.
	Object   string `json:"object,omitempty"`
	Observed string `json:"observed"`
	Allowed  string `json:"allowed"`
	// OWASP is the OWASP Non-Human Identities Top 10 reference, e.g. "NHI7".
	OWASP  string `json:"owasp,omitempty"`
	Remedy string `json:"remedy"`
}

// Message is the one-paragraph explanation of a finding, for diagnostics and reports.
func (f Finding) Message() string {
	msg := fmt.Sprintf("%s: %s (rule %s). Observed: %s. Allowed: %s.", f.Subject, f.Title(), f.Rule, f.Observed, f.Allowed)
	if f.Remedy != "" {
		msg += " To fix: " + f.Remedy
	}
	if f.OWASP != "" {
		msg += " (OWASP " + f.OWASP + ")"
	}
	return msg
}

// Title is the short Title Case summary of the finding's rule.
func (f Finding) Title() string {
	if t, ok := ruleTitles[f.Rule]; ok {
		return t
	}
	return "Policy Violation"
}

// Subject kinds.
const (
	SubjectClass     = "class"
	SubjectTTLPolicy = "ttl_policy"
	SubjectIdentity  = "identity"
	// SubjectRotationSchedule subjects are named by their identity.
	SubjectRotationSchedule = "rotation_schedule"
)

func subject(kind, name string) string { return kind + "/" + name }

// highFindings returns a function that appends a high-severity finding about sub to out.
func highFindings(out *[]Finding, sub string) func(rule, attr, observed, allowed, owasp, remedy string) {
	return func(rule, attr, observed, allowed, owasp, remedy string) {
		*out = append(*out, Finding{Rule: rule, Severity: SeverityHigh, Subject: sub, Attribute: attr,
			Observed: observed, Allowed: allowed, OWASP: owasp, Remedy: remedy})
	}
}
