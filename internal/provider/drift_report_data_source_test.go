package provider

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"testing"
	"time"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/knownvalue"
	"github.com/hashicorp/terraform-plugin-testing/statecheck"
	"github.com/hashicorp/terraform-plugin-testing/terraform"

	"github.com/nhigov/terraform-provider-nhi/internal/engine"
	"github.com/nhigov/terraform-provider-nhi/internal/policy"
)

const driftConfig = `
resource "nhi_ttl_policy" "long" {
  name      = "ci-long"
  class     = nhi_lifecycle_class.ci.name
  ttl       = "2h"
  exception = {
    reason      = "migration jobs"
    approved_by = "sec-lead"
    expires_at  = "2027-01-01T00:00:00Z"
  }
}
`

// TestAccDriftReport produces findings by changing the engine behind Terraform's back and moving
// the fake clock, then asserts each finding, the trust-debt figure, the per-identity view on
// nhi_identity, and that fail_on turns findings into an error. Findings the local engine cannot
// be made to hold through its API (a credential without expiry or past its hard expiry, a live
// credential of a retired identity, a shared secret, an unmanaged identity) are covered by the
// policy package's table tests.
func TestAccDriftReport(t *testing.T) {
	env := newTestEnv(t)
	ctx := context.Background()
	cfg := scheduleConfig(intervalSchedule) + driftConfig + buildIdentityHCL("team-build")
	report := cfg + `
data "nhi_drift_report" "all" {
  sarif_artifact_uri = "infra/nhi/main.tf"
}

data "nhi_drift_report" "high" {
  min_severity = "high"
}
`
	var credID string
	env.unitTest(t, []resource.TestStep{
		{
			Config: report,
			ConfigStateChecks: []statecheck.StateCheck{
				expectAttr("data.nhi_drift_report.all", "findings", knownvalue.ListSizeExact(0)),
				expectAttr("data.nhi_drift_report.all", "trust_debt_hours", knownvalue.Float64Exact(0)),
				expectAttr("nhi_identity.build", "findings", knownvalue.ListSizeExact(0)),
				expectAttr("data.nhi_drift_report.all", "markdown", knownvalue.StringRegexp(regexp.MustCompile(`^## NHI drift report\n\n\*\*0 findings\*\*[\s\S]*\nNo findings\.\n$`))),
				expectAttr("data.nhi_drift_report.all", "sarif", sarifResults{uri: "infra/nhi/main.tf"}),
			},
		},
		{
			PreConfig: func() {
				// A credential renewed twice, then the class ceiling and the policy's renewal
				// budget are tightened behind Terraform's back and time moves on.
				cred, secret, err := env.engine.IssueCredential(ctx, engine.CredentialRequest{Identity: "ci-build", Requester: "job-7"})
				if err != nil {
					t.Fatal(err)
				}
				credID = cred.ID
				for range 2 {
					env.clock.Advance(14 * time.Minute)
					if _, err := env.engine.RenewCredential(ctx, cred.ID, secret); err != nil {
						t.Fatal(err)
					}
				}
				env.clock.Advance(12 * time.Minute) // 40m old, alive until 12:43
				editRecord(t, "ci", env.engine.GetClass, env.engine.PutClass, func(c *policy.Class) { c.MaxLifetime, c.Environments = 30*time.Minute, []string{"prod"} })
			},
			// Data sources and refresh see the engine before this apply restores the class and
			// policy, so the findings are those of the tampered engine.
			Config: report,
			ConfigStateChecks: []statecheck.StateCheck{
				expectAttr("data.nhi_drift_report.all", "counts_by_rule", knownvalue.MapExact(map[string]knownvalue.Check{
					policy.RuleCredentialAboveClassMax: knownvalue.Int64Exact(1),
					policy.RuleEnvironment:             knownvalue.Int64Exact(1),
					policy.RuleLifetimeAboveClassMax:   knownvalue.Int64Exact(1), // ci-short; ci-long has an active exception
				})),
				// 40 minutes old against an intended 30: 10 minutes of trust debt.
				expectAttr("data.nhi_drift_report.all", "trust_debt_hours", knownvalue.Float64Exact(10.0/60)),
				expectAttr("nhi_identity.build", "trust_debt_hours", knownvalue.Float64Exact(10.0/60)),
				expectAttr("nhi_identity.build", "findings", knownvalue.ListSizeExact(2)),
				// The same three findings in Markdown (worst first, each with its remedy) and in SARIF.
				expectAttr("data.nhi_drift_report.all", "markdown", knownvalue.StringRegexp(regexp.MustCompile(
					`\*\*3 findings\*\* \(0 critical, 3 high[\s\S]*\| `+"`ci-build`"+` \| ci \| 0\.2 \|[\s\S]*`+
						`- \*\*high\*\* `+"`identity/ci-build` \\(class `ci`\\)"+`: Credential Older Than Class Maximum[\s\S]*  - Remedy: revoke credential `))),
				expectAttr("data.nhi_drift_report.all", "sarif", sarifResults{uri: "infra/nhi/main.tf",
					rules: []string{policy.RuleCredentialAboveClassMax, policy.RuleEnvironment, policy.RuleLifetimeAboveClassMax}}),
				expectAttr("data.nhi_drift_report.high", "sarif", sarifResults{
					rules: []string{policy.RuleCredentialAboveClassMax, policy.RuleEnvironment, policy.RuleLifetimeAboveClassMax}}),
			},
			Check: func(*terraform.State) error {
				if credID == "" {
					return fmt.Errorf("no credential was issued")
				}
				return nil
			},
		},
		{
			// The policy's renewal budget is cut behind Terraform's back (the class is whole
			// again): the live credential, renewed twice, is now past budget.
			PreConfig: func() {
				editRecord(t, "ci-short", env.engine.GetTTLPolicy, env.engine.PutTTLPolicy, func(p *policy.TTLPolicy) { p.MaxRenewals = int64p(1) })
			},
			Config: report,
			ConfigStateChecks: []statecheck.StateCheck{
				expectAttr("data.nhi_drift_report.all", "counts_by_rule", knownvalue.MapExact(map[string]knownvalue.Check{
					policy.RuleRenewalsPastBudget: knownvalue.Int64Exact(1),
				})),
				expectAttr("data.nhi_drift_report.all", "findings.0.owasp", "NHI7"),
			},
		},
		{
			// A month later (the class and policy were restored by the last apply): the credential
			// has expired (no debt left), the rotation is 3h40m overdue, and a class record
			// vanished (an orphan).
			PreConfig: func() {
				env.clock.Advance(30*policy.Day + 3*time.Hour)
				if err := env.engine.DeleteClass(ctx, "vendor"); err != nil {
					t.Fatal(err)
				}
			},
			Config: report,
			ConfigStateChecks: []statecheck.StateCheck{
				expectAttr("data.nhi_drift_report.all", "counts_by_rule."+policy.RuleRotationOverdue, 1),
				expectAttr("data.nhi_drift_report.all", "counts_by_rule."+policy.RuleOrphanIdentity, 1),
				expectAttr("data.nhi_drift_report.all", "trust_debt_by_identity", knownvalue.MapExact(map[string]knownvalue.Check{
					"billing-sync": knownvalue.Float64Exact(220.0 / 60),
				})),
				// High and above: the overdue rotation; the orphan is medium.
				expectAttr("data.nhi_drift_report.high", "counts_by_severity", knownvalue.MapExact(map[string]knownvalue.Check{
					"high": knownvalue.Int64Exact(1),
				})),
			},
		},
		{
			// The last apply rotated; a month and a day later the rotation is overdue again,
			// and a report with fail_on turns that into an error.
			PreConfig:   func() { env.clock.Advance(31 * policy.Day) },
			Config:      report + "\ndata \"nhi_drift_report\" \"gate\" {\n  fail_on = \"high\"\n}\n",
			ExpectError: regexp.MustCompile(`Drift Report Failed[\s\S]*rotation-overdue`),
		},
	})
}

// sarifResults checks that a value is a SARIF 2.1.0 log whose results name exactly rules, in any
// order, each fingerprinted and, when uri is set, located at uri (and otherwise at no file).
// The log's validity against the SARIF schema is tested in the policy package, which writes it.
type sarifResults struct {
	uri   string
	rules []string
}

func (c sarifResults) CheckValue(v any) error {
	s, ok := v.(string)
	if !ok {
		return fmt.Errorf("sarif is %T, not a string", v)
	}
	var log struct {
		Version string `json:"version"`
		Runs    []struct {
			Results []struct {
				RuleID    string `json:"ruleId"`
				Locations []struct {
					PhysicalLocation *struct {
						ArtifactLocation struct {
							URI string `json:"uri"`
						} `json:"artifactLocation"`
					} `json:"physicalLocation"`
				} `json:"locations"`
				PartialFingerprints map[string]string `json:"partialFingerprints"`
			} `json:"results"`
		} `json:"runs"`
	}
	if err := json.Unmarshal([]byte(s), &log); err != nil {
		return fmt.Errorf("sarif is not JSON: %w", err)
	}
	if log.Version != "2.1.0" || len(log.Runs) != 1 {
		return fmt.Errorf("sarif: version %q with %d runs, want 2.1.0 with one run", log.Version, len(log.Runs))
	}
	var got []string
	for _, r := range log.Runs[0].Results {
		got = append(got, r.RuleID)
		if r.PartialFingerprints[policy.SARIFFingerprint] == "" {
			return fmt.Errorf("sarif: result %s has no fingerprint", r.RuleID)
		}
		if len(r.Locations) != 1 {
			return fmt.Errorf("sarif: result %s has %d locations, want 1", r.RuleID, len(r.Locations))
		}
		loc := r.Locations[0].PhysicalLocation
		switch {
		case c.uri == "" && loc != nil:
			return fmt.Errorf("sarif: result %s has a physical location though no sarif_artifact_uri is set", r.RuleID)
		case c.uri != "" && (loc == nil || loc.ArtifactLocation.URI != c.uri):
			return fmt.Errorf("sarif: result %s is not located at %s", r.RuleID, c.uri)
		}
	}
	slices.Sort(got)
	if want := slices.Sorted(slices.Values(c.rules)); !slices.Equal(got, want) {
		return fmt.Errorf("sarif results %v, want %v", got, want)
	}
	return nil
}

func (c sarifResults) String() string { return fmt.Sprintf("SARIF results %v", c.rules) }
