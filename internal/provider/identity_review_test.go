package provider

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-go/tftypes"
	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/knownvalue"
	"github.com/hashicorp/terraform-plugin-testing/statecheck"
	"github.com/hashicorp/terraform-plugin-testing/terraform"

	"github.com/nhigov/terraform-provider-nhi/internal/policy"
)

// reviewedClass is the persistent class "reviewed", whose identities are reviewed every 30 days.
const reviewedClass = `
resource "nhi_lifecycle_class" "reviewed" {
  name         = "reviewed"
  kind         = "persistent"
  review_every = "30d"
}
`

// reviewedIdentity declares nhi_identity.r, "svc-r" of class reviewed, with the attribute lines
// in extra (reviewed_at, reviewed_by).
func reviewedIdentity(extra ...string) string {
	return fmt.Sprintf(`
resource "nhi_identity" "r" {
  name  = "svc-r"
  class = nhi_lifecycle_class.reviewed.name
  %s
}
`, strings.Join(extra, "\n  "))
}

func reviewedBy(at, by string) []string {
	return []string{fmt.Sprintf("reviewed_at = %q", at), fmt.Sprintf("reviewed_by = %q", by)}
}

// TestAccIdentity_reviewRejects: a review dated in the future, a missing reviewer where the
// class requires reviews, and a reviewed_at that is not a timestamp fail the plan on their
// attribute and leave the engine unchanged.
func TestAccIdentity_reviewRejects(t *testing.T) {
	env := newTestEnv(t)
	testRejections(t, env, reviewedClass, []rejection{
		// The fake clock stands at 2026-01-01T12:00:00Z.
		{"review in the future", reviewedIdentity(reviewedBy("2026-01-01T12:00:01Z", "alice")...),
			`Review Dated In The Future[\s\S]*reviewed_at\s+2026-01-01T12:00:01Z`},
		{"reviewer missing", reviewedIdentity(`reviewed_at = "2026-01-01T00:00:00Z"`),
			`Reviewer Missing[\s\S]*class\s+reviewed\s+requires\s+a\s+review\s+every\s+30d`},
		{"reviewer missing, never reviewed", reviewedIdentity(), `Reviewer Missing`},
		{"reviewed_at not a timestamp", reviewedIdentity(reviewedBy("last tuesday", "alice")...), `Invalid Timestamp`},
	})
}

// TestAccIdentity_reviewOverdue: an identity reviewed an hour before the clock's start, under a
// 30-day review_every, has no finding; 31 days later its refresh shows a review-overdue finding
// with 25 hours of trust debt, on the identity and in the drift report; the pull request that
// moves reviewed_at (the attestation) plans an update of it, stores it in the engine and clears
// the finding.
func TestAccIdentity_reviewOverdue(t *testing.T) {
	env := newTestEnv(t)
	report := `
data "nhi_drift_report" "all" {
  depends_on = [nhi_identity.r]
}

data "nhi_identity" "r" {
  name = nhi_identity.r.name
}
`
	reviewed := reviewedClass + reviewedIdentity(reviewedBy("2026-01-01T11:00:00Z", "alice")...) + report
	debt := func(hours float64) []statecheck.StateCheck {
		return []statecheck.StateCheck{
			expectAttr("nhi_identity.r", "trust_debt_hours", knownvalue.Float64Exact(hours)),
			expectAttr("data.nhi_drift_report.all", "trust_debt_hours", knownvalue.Float64Exact(hours)),
		}
	}
	env.unitTest(t, []resource.TestStep{
		{
			Config: reviewed,
			ConfigStateChecks: append(debt(0),
				expectAttr("nhi_identity.r", "findings", knownvalue.ListSizeExact(0)),
				expectAttr("nhi_identity.r", "reviewed_by", "alice"),
				expectAttr("data.nhi_identity.r", "reviewed_by", "alice"),
				expectAttr("data.nhi_identity.r", "reviewed_at", "2026-01-01T11:00:00Z")),
			Check: func(*terraform.State) error {
				id, err := env.engine.GetIdentity(context.Background(), "svc-r")
				if err != nil || id.ReviewedBy != "alice" || !id.ReviewedAt.Equal(time.Date(2026, 1, 1, 11, 0, 0, 0, time.UTC)) {
					return fmt.Errorf("engine holds review %s by %q (%v), want 2026-01-01T11:00:00Z by alice", id.ReviewedAt, id.ReviewedBy, err)
				}
				return nil
			},
		},
		importStep("nhi_identity.r", "svc-r"),
		{
			// Due at 2026-01-31T11:00:00Z; the clock at 2026-02-01T12:00:00Z: 25 hours overdue.
			PreConfig: func() { env.clock.Set(testEpoch.Add(31 * policy.Day)) },
			Config:    reviewed,
			ConfigStateChecks: append(debt(25),
				expectAttr("nhi_identity.r", "findings", knownvalue.ListExact([]knownvalue.Check{
					knownvalue.ObjectPartial(map[string]knownvalue.Check{
						"rule":     knownvalue.StringExact(policy.RuleReviewOverdue),
						"severity": knownvalue.StringExact("medium"),
						"owasp":    knownvalue.StringExact("NHI1"),
						"observed": knownvalue.StringRegexp(regexp.MustCompile(`by "alice"; review due at 2026-01-31T11:00:00Z, overdue by 1d1h$`)),
					}),
				})),
				expectAttr("data.nhi_drift_report.all", "counts_by_severity.medium", 1)),
		},
		{
			Config:           reviewedClass + reviewedIdentity(reviewedBy("2026-02-01T12:00:00Z", "carol")...) + report,
			ConfigPlanChecks: beforeApply(expectUpdate("nhi_identity.r")),
			ConfigStateChecks: append(debt(0),
				expectAttr("nhi_identity.r", "findings", knownvalue.ListSizeExact(0)),
				expectAttr("data.nhi_identity.r", "reviewed_by", "carol")),
			Check: func(*terraform.State) error {
				if id, err := env.engine.GetIdentity(context.Background(), "svc-r"); err != nil || id.ReviewedBy != "carol" {
					return fmt.Errorf("engine holds reviewer %q (%v), want carol", id.ReviewedBy, err)
				}
				return nil
			},
		},
		{
			// A review time with a fraction of a second and an offset is stored and kept as written.
			Config: reviewedClass + reviewedIdentity(reviewedBy("2026-02-01T12:59:59.5+01:00", "carol")...) + report,
			ConfigStateChecks: []statecheck.StateCheck{
				expectAttr("nhi_identity.r", "reviewed_at", "2026-02-01T12:59:59.5+01:00"),
			},
		},
	})
}

// TestAccIdentity_reviewDueSoon: terraform plan warns on reviewed_at when the review falls due
// within 14 days (and not before), in the plan of an unchanged identity too; moving reviewed_at
// (the attestation) ends the warning.
func TestAccIdentity_reviewDueSoon(t *testing.T) {
	env := newTestEnv(t)
	c := newTerraformCLI(t, env)
	c.write("main.tf", reviewedClass+reviewedIdentity(reviewedBy("2026-01-01T12:00:00Z", "alice")...))
	c.run([]int{0}, "init", "-input=false")
	c.run([]int{0}, "apply", "-no-color", "-auto-approve", "-input=false")
	plan := func() string {
		out, _ := c.run([]int{0}, "plan", "-no-color", "-input=false", "-detailed-exitcode")
		return out
	}
	// Due 2026-01-31T12:00:00Z. Fifteen days before, no warning.
	env.clock.Set(testEpoch.Add(15 * policy.Day))
	if out := plan(); strings.Contains(out, "Warning") {
		t.Fatalf("a review due in 15 days warns:\n%s", out)
	}
	env.clock.Set(testEpoch.Add(20 * policy.Day))
	warning := regexp.MustCompile(`Warning: Review Due Soon\s+with nhi_identity.r,[\s\S]*reviewed_at[\s\S]*review\s+due\s+at\s+2026-01-31T12:00:00Z,\s+in\s+10d`)
	if out := plan(); !warning.MatchString(out) {
		t.Fatalf("a review due in 10 days does not warn on reviewed_at:\n%s", out)
	}
	c.write("main.tf", reviewedClass+reviewedIdentity(reviewedBy("2026-01-21T12:00:00Z", "carol")...))
	out, _ := c.run([]int{2}, "plan", "-no-color", "-input=false", "-detailed-exitcode")
	if strings.Contains(out, "Warning") || !regexp.MustCompile(`~ reviewed_at\s+= "2026-01-01T12:00:00Z" -> "2026-01-21T12:00:00Z"`).MatchString(out) {
		t.Fatalf("the attestation's plan does not show reviewed_at moving, or still warns:\n%s", out)
	}
	// A retired identity needs no review: its plans do not remind.
	c.write("main.tf", reviewedClass+reviewedIdentity(reviewedBy("2026-01-01T12:00:00Z", "alice")...))
	if _, err := env.engine.RetireIdentity(context.Background(), "svc-r"); err != nil {
		t.Fatal(err)
	}
	if out, _ := c.run([]int{0, 2}, "plan", "-no-color", "-input=false", "-detailed-exitcode"); strings.Contains(out, "Review Due Soon") {
		t.Fatalf("the plan of a retired identity reminds of its review:\n%s", out)
	}
}

// TestAccLifecycleClass_reviewReach: a class that starts requiring reviews and registered owners
// names, in its own plan, the existing identities it would leave out of compliance.
func TestAccLifecycleClass_reviewReach(t *testing.T) {
	env := newTestEnv(t)
	c := newTerraformCLI(t, env)
	cfg := func(classExtra string) string {
		return `
resource "nhi_lifecycle_class" "reviewed" {
  name = "reviewed"
  kind = "persistent"
  ` + classExtra + `
}
` + reviewedIdentity(`owner = "team-ghost"`)
	}
	c.write("main.tf", cfg(""))
	c.run([]int{0}, "init", "-input=false")
	c.run([]int{0}, "apply", "-no-color", "-auto-approve", "-input=false")
	c.write("main.tf", cfg("review_every = \"30d\"\n  require_registered_owner = true"))
	out, _ := c.run([]int{2}, "plan", "-no-color", "-input=false", "-detailed-exitcode")
	want := regexp.MustCompile(`Warning: Class Change Leaves Objects Out of Compliance[\s\S]*identity/svc-r\s+\(reviewer-missing\);\s+identity/svc-r\s+\(owner-not-registered\)`)
	if !want.MatchString(out) {
		t.Fatalf("the tightening's plan does not name svc-r's reviewer-missing and owner-not-registered findings:\n%s", out)
	}
}

// TestPlanReviewAndOwnerOnTheirAttributes: the plan's review and owner diagnostics sit on the
// attribute at fault (what a pull request's reviewer sees): errors on reviewed_at, reviewed_by
// and owner, the due-soon warning on reviewed_at.
func TestPlanReviewAndOwnerOnTheirAttributes(t *testing.T) {
	env := newTestEnv(t)
	ctx := context.Background()
	for _, err := range []error{
		env.engine.PutClass(ctx, policy.Class{Name: "reviewed", Kind: policy.KindPersistent, ReviewEvery: 30 * policy.Day, RequireRegisteredOwner: true}),
		env.engine.PutOwner(ctx, policy.Owner{Name: "team-a", Kind: policy.OwnerTeam, Status: policy.OwnerActive}),
		env.engine.PutOwner(ctx, policy.Owner{Name: "bob", Kind: policy.OwnerPerson, Status: policy.OwnerDeparted}),
	} {
		if err != nil {
			t.Fatal(err)
		}
	}
	type want struct {
		severity diag.Severity
		attr     string
		summary  string
	}
	cases := []struct {
		name  string
		attrs map[string]tftypes.Value
		want  []want
	}{
		{"attested, registered owner", map[string]tftypes.Value{"reviewed_at": str("2026-01-01T00:00:00Z"), "reviewed_by": str("alice"), "owner": str("team-a")}, nil},
		{"review in the future", map[string]tftypes.Value{"reviewed_at": str("2026-01-02T00:00:00Z"), "reviewed_by": str("alice"), "owner": str("team-a")},
			[]want{{diag.SeverityError, "reviewed_at", "Review Dated In The Future"}}},
		{"no reviewer", map[string]tftypes.Value{"reviewed_at": str("2026-01-01T00:00:00Z"), "owner": str("team-a")},
			[]want{{diag.SeverityError, "reviewed_by", "Reviewer Missing"}}},
		{"due in 5 days", map[string]tftypes.Value{"reviewed_at": str("2025-12-07T12:00:00Z"), "reviewed_by": str("alice"), "owner": str("team-a")},
			[]want{{diag.SeverityWarning, "reviewed_at", "Review Due Soon"}}},
		{"unregistered owner", map[string]tftypes.Value{"reviewed_at": str("2026-01-01T00:00:00Z"), "reviewed_by": str("alice"), "owner": str("team-ghost")},
			[]want{{diag.SeverityError, "owner", "Owner Not Registered"}}},
		{"departed owner", map[string]tftypes.Value{"reviewed_at": str("2026-01-01T00:00:00Z"), "reviewed_by": str("alice"), "owner": str("bob")},
			[]want{{diag.SeverityError, "owner", "Owner Departed"}}},
		{"owner created in this plan", map[string]tftypes.Value{"reviewed_at": str("2026-01-01T00:00:00Z"), "reviewed_by": str("alice"), "owner": unknown}, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			attrs := map[string]tftypes.Value{"name": str("svc-r"), "class": str("reviewed")}
			for k, v := range c.attrs {
				attrs[k] = v
			}
			diags := planDiagnostics(t, env, NewIdentityResource(), attrs)
			var got []want
			for _, d := range diags {
				w := want{severity: d.Severity(), summary: d.Summary()}
				if dp, ok := d.(diag.DiagnosticWithPath); ok {
					w.attr = dp.Path().String()
				}
				got = append(got, w)
			}
			if !slices.Equal(got, c.want) {
				t.Fatalf("diagnostics %v, want %v", diags, c.want)
			}
		})
	}
}
