package provider

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/knownvalue"
	"github.com/hashicorp/terraform-plugin-testing/querycheck"
	"github.com/hashicorp/terraform-plugin-testing/statecheck"
	"github.com/hashicorp/terraform-plugin-testing/terraform"

	"github.com/nhigov/terraform-provider-nhi/internal/engine"
	"github.com/nhigov/terraform-provider-nhi/internal/policy"
)

// ownerHCL declares nhi_owner.<label> named name, of kind, with status.
func ownerHCL(label, name, kind, status string) string {
	return fmt.Sprintf(`
resource "nhi_owner" %q {
  name    = %q
  kind    = %q
  contact = "%s@example.com"
  status  = %q
}
`, label, name, kind, name, status)
}

// ownedFleet is a persistent class "owned" that requires registered owners, owners bob (a person,
// with status bobStatus) and team-a, and identities svc-a and svc-b owned by bob and svc-c owned
// by team-a, each owner named through a reference.
func ownedFleet(bobStatus string) string {
	return `
resource "nhi_lifecycle_class" "owned" {
  name                     = "owned"
  kind                     = "persistent"
  require_registered_owner = true
}
` + ownerHCL("bob", "bob", "person", bobStatus) + ownerHCL("team_a", "team-a", "team", "active") + `
resource "nhi_identity" "a" {
  name  = "svc-a"
  class = nhi_lifecycle_class.owned.name
  owner = nhi_owner.bob.name
}

resource "nhi_identity" "b" {
  name  = "svc-b"
  class = nhi_lifecycle_class.owned.name
  owner = nhi_owner.bob.name
}

resource "nhi_identity" "c" {
  name  = "svc-c"
  class = nhi_lifecycle_class.owned.name
  owner = nhi_owner.team_a.name
}
`
}

// TestAccOwner: an owner is a record in the engine: created, updated, imported (by ID and by
// resource identity through the import step), adopted when an interrupted apply left it exactly
// as declared, and deleted on destroy.
func TestAccOwner(t *testing.T) {
	env := newTestEnv(t)
	ctx := context.Background()
	env.unitTest(t, []resource.TestStep{
		{
			Config: ownerHCL("team", "team-payments", "team", "active"),
			ConfigStateChecks: []statecheck.StateCheck{
				expectAttr("nhi_owner.team", "id", "team-payments"),
				expectAttr("nhi_owner.team", "status", "active"),
			},
			Check: func(*terraform.State) error {
				o, err := env.engine.GetOwner(ctx, "team-payments")
				want := policy.Owner{Name: "team-payments", Kind: policy.OwnerTeam, Contact: "team-payments@example.com", Status: policy.OwnerActive}
				if err != nil || o != want {
					return fmt.Errorf("engine holds %+v, %v; want %+v", o, err, want)
				}
				return nil
			},
		},
		{
			Config:           ownerHCL("team", "team-payments", "person", "departed"),
			ConfigPlanChecks: beforeApply(expectUpdate("nhi_owner.team")),
			Check: func(*terraform.State) error {
				if o, err := env.engine.GetOwner(ctx, "team-payments"); err != nil || !o.Departed() || o.Kind != policy.OwnerPerson {
					return fmt.Errorf("engine holds %+v, %v; want a departed person", o, err)
				}
				return nil
			},
		},
		importStep("nhi_owner.team", "team-payments"),
		{
			// An owner deleted behind Terraform's back leaves state at refresh and is created again.
			Config: ownerHCL("team", "team-payments", "person", "departed"),
			PreConfig: func() {
				if err := env.engine.DeleteOwner(ctx, "team-payments"); err != nil {
					t.Fatal(err)
				}
			},
			ConfigPlanChecks: beforeApply(expectCreate("nhi_owner.team")),
		},
	})
	if _, err := env.engine.GetOwner(ctx, "team-payments"); !errors.Is(err, engine.ErrNotFound) {
		t.Fatalf("after destroy the engine still holds the owner: %v", err)
	}
}

// TestAccOwner_adopt: a create meets the owner an interrupted apply wrote: exactly as declared,
// it is adopted (and audited); declared otherwise, the plan fails on name with the import to run.
func TestAccOwner_adopt(t *testing.T) {
	env := newTestEnv(t)
	ctx := context.Background()
	if err := env.engine.PutOwner(ctx, policy.Owner{Name: "bob", Kind: policy.OwnerPerson, Contact: "bob@example.com", Status: policy.OwnerActive}); err != nil {
		t.Fatal(err)
	}
	env.unitTest(t, []resource.TestStep{
		{
			Config:      ownerHCL("bob", "bob", "team", "active"),
			ExpectError: wrappedError(`Owner Already Exists[\s\S]*kind: "person" in the engine, "team" declared[\s\S]*terraform import nhi_owner.<resource name> bob`),
		},
		{
			Config: ownerHCL("bob", "bob", "person", "active"),
			Check: func(*terraform.State) error {
				events, err := env.engine.AuditEvents(ctx, engine.AuditFilter{})
				if err != nil {
					return err
				}
				for _, ev := range events {
					if ev.Type == engine.EventAdopted && strings.Contains(ev.Detail, "owner bob") {
						return nil
					}
				}
				return fmt.Errorf("no adoption of owner bob in the audit log: %+v", events)
			},
		},
	})
}

// TestAccOwner_departed: marking an owner departed warns in that plan, naming exactly the active
// identities it owns (terraform plan's own output); once applied, exactly those identities carry
// an owner-departed finding, and the drift report counts them; reassigning one clears its finding.
func TestAccOwner_departed(t *testing.T) {
	env := newTestEnv(t)
	c := newTerraformCLI(t, env)
	c.write("main.tf", ownedFleet("active"))
	c.run([]int{0}, "init", "-input=false")
	c.run([]int{0}, "apply", "-no-color", "-auto-approve", "-input=false")
	c.write("main.tf", ownedFleet("departed"))
	out, _ := c.run([]int{2}, "plan", "-no-color", "-input=false", "-detailed-exitcode")
	warning := regexp.MustCompile(`Warning: Departed Owner Still Owns Identities[\s\S]*owns\s+these\s+active\s+identities\s+\(2\):\s+svc-a,\s+svc-b\.`)
	if _, warned, _ := strings.Cut(out, "Warning:"); !warning.MatchString(out) || strings.Contains(warned, "svc-c") {
		t.Fatalf("the plan marking bob departed does not warn naming exactly svc-a and svc-b:\n%s", out)
	}
	// The same plan applied: the identities are refreshed by the next command.
	c.run([]int{0}, "apply", "-no-color", "-auto-approve", "-input=false")
	const reportHCL = `
data "nhi_drift_report" "all" {
  depends_on = [nhi_identity.b]
}

output "report" {
  value = {
    findings = [for f in data.nhi_drift_report.all.findings : "${f.subject} ${f.rule}"]
    counts   = data.nhi_drift_report.all.counts_by_severity
    a        = [for f in nhi_identity.a.findings : f.rule]
    b        = [for f in nhi_identity.b.findings : f.rule]
    c        = [for f in nhi_identity.c.findings : f.rule]
  }
}
`
	type reportOutput struct {
		Findings []string         `json:"findings"`
		Counts   map[string]int64 `json:"counts"`
		A, B, C  []string
	}
	c.write("main.tf", ownedFleet("departed")+reportHCL)
	c.run([]int{0}, "apply", "-no-color", "-auto-approve", "-input=false")
	var report reportOutput
	c.outputJSON("report", &report)
	if want := []string{"identity/svc-a owner-departed", "identity/svc-b owner-departed"}; !slices.Equal(report.Findings, want) {
		t.Fatalf("drift report findings %v, want %v", report.Findings, want)
	}
	if report.Counts["high"] != 2 {
		t.Fatalf("drift report counts %v, want 2 high", report.Counts)
	}
	if !slices.Equal(report.A, []string{policy.RuleOwnerDeparted}) || len(report.C) != 0 {
		t.Fatalf("nhi_identity findings: svc-a %v (want owner-departed), svc-c %v (want none)", report.A, report.C)
	}
	// Reassigning svc-b to an active owner clears its finding; svc-a keeps its own.
	reassigned := strings.Replace(ownedFleet("departed"), `name  = "svc-b"
  class = nhi_lifecycle_class.owned.name
  owner = nhi_owner.bob.name`, `name  = "svc-b"
  class = nhi_lifecycle_class.owned.name
  owner = nhi_owner.team_a.name`, 1)
	c.write("main.tf", reassigned+reportHCL)
	c.run([]int{0}, "apply", "-no-color", "-auto-approve", "-input=false")
	report = reportOutput{}
	c.outputJSON("report", &report)
	if want := []string{"identity/svc-a owner-departed"}; !slices.Equal(report.Findings, want) || len(report.B) != 0 {
		t.Fatalf("after reassigning svc-b: drift report findings %v (want %v), svc-b findings %v (want none)", report.Findings, want, report.B)
	}
}

// TestAccOwner_destroyed: the plan that destroys an owner warns naming, sorted, exactly the active
// identities it still owns, and names again those whose class requires a registered owner; once
// applied, exactly those carry an owner-not-registered finding at refresh, and a change to one of
// them fails its plan on owner, while the identity of a class without the requirement is left
// alone. A plan that destroys an owner owning nothing does not warn.
func TestAccOwner_destroyed(t *testing.T) {
	env := newTestEnv(t)
	c := newTerraformCLI(t, env)
	governance := `
resource "nhi_lifecycle_class" "owned" {
  name                     = "owned"
  kind                     = "persistent"
  require_registered_owner = true
}

resource "nhi_lifecycle_class" "loose" {
  name = "loose"
  kind = "persistent"
}
` + ownerHCL("team_a", "team-a", "team", "active") + ownerHCL("carol", "carol", "person", "active")
	bob := ownerHCL("bob", "bob", "person", "active")
	// The owners are literal names, so that bob's block can go while its identities stay; the
	// owners are in the engine before the identities are planned.
	identities := `
resource "nhi_identity" "b" {
  name        = "svc-b"
  class       = nhi_lifecycle_class.owned.name
  owner       = "bob"
  description = "b"
}

resource "nhi_identity" "a" {
  name  = "svc-a"
  class = nhi_lifecycle_class.loose.name
  owner = "bob"
}

resource "nhi_identity" "c" {
  name  = "svc-c"
  class = nhi_lifecycle_class.owned.name
  owner = "team-a"
}

output "findings" {
  value = {
    a = [for f in nhi_identity.a.findings : f.rule]
    b = [for f in nhi_identity.b.findings : f.rule]
    c = [for f in nhi_identity.c.findings : f.rule]
  }
}
`
	c.write("main.tf", governance+bob)
	c.run([]int{0}, "init", "-input=false")
	c.run([]int{0}, "apply", "-no-color", "-auto-approve", "-input=false")
	c.write("main.tf", governance+bob+identities)
	c.run([]int{0}, "apply", "-no-color", "-auto-approve", "-input=false")

	// carol owns nothing: destroying her warns about nothing.
	c.write("main.tf", strings.Replace(governance, ownerHCL("carol", "carol", "person", "active"), "", 1)+bob+identities)
	if out, _ := c.run([]int{2}, "plan", "-no-color", "-input=false", "-detailed-exitcode"); strings.Contains(out, "Warning:") {
		t.Fatalf("the plan destroying carol, who owns nothing, warns:\n%s", out)
	}
	c.write("main.tf", governance+identities)
	out, _ := c.run([]int{2}, "plan", "-no-color", "-input=false", "-detailed-exitcode")
	warning := regexp.MustCompile(`Warning: Destroyed Owner Still Owns Identities[\s\S]*Owner\s+"bob"\s+is\s+destroyed\s+and\s+still\s+owns\s+these\s+active\s+identities\s+\(2\):\s+svc-a,\s+svc-b\.` +
		`[\s\S]*require_registered_owner\)\s+for\s+these\s+\(1\):\s+svc-b\.\s+Once\s+applied[\s\S]*owner-not-registered`)
	if _, warned, _ := strings.Cut(out, "Warning:"); !warning.MatchString(out) || strings.Contains(warned, "svc-c") || strings.Count(out, "Warning:") != 1 {
		t.Fatalf("the plan destroying bob does not warn exactly once, naming svc-a and svc-b, and svc-b under require_registered_owner:\n%s", out)
	}
	c.run([]int{0}, "apply", "-no-color", "-auto-approve", "-input=false")
	if _, err := env.engine.GetOwner(context.Background(), "bob"); !errors.Is(err, engine.ErrNotFound) {
		t.Fatalf("after the apply the engine still holds owner bob: %v", err)
	}
	// What the warning said: the next refresh gives svc-b (and only svc-b) the finding ...
	c.run([]int{0}, "apply", "-no-color", "-auto-approve", "-input=false", "-refresh-only")
	var findings struct{ A, B, C []string }
	c.outputJSON("findings", &findings)
	if !slices.Equal(findings.B, []string{policy.RuleOwnerNotRegistered}) || len(findings.A) != 0 || len(findings.C) != 0 {
		t.Fatalf("findings after bob's destroy: svc-a %v (want none), svc-b %v (want owner-not-registered), svc-c %v (want none)",
			findings.A, findings.B, findings.C)
	}
	// ... and a change to svc-b fails its plan on owner.
	c.write("main.tf", governance+strings.Replace(identities, `description = "b"`, `description = "b2"`, 1))
	out, _ = c.run([]int{1}, "plan", "-no-color", "-input=false")
	if !regexp.MustCompile(`Error: Owner Not Registered[\s\S]*owner\s+"bob"\s+names\s+no\s+nhi_owner\s+record`).MatchString(out) {
		t.Fatalf("the plan changing svc-b does not fail with Owner Not Registered:\n%s", out)
	}
}

// TestAccOwner_requireRegistered: under require_registered_owner, an identity whose owner names
// no nhi_owner, or a departed one, fails the plan on owner and leaves the engine unchanged; an
// owner created in the same plan (unknown at plan) is checked at apply, which refuses the
// identity before writing it when that owner is departed.
func TestAccOwner_requireRegistered(t *testing.T) {
	env := newTestEnv(t)
	base := `
resource "nhi_lifecycle_class" "owned" {
  name                     = "owned"
  kind                     = "persistent"
  require_registered_owner = true
}
` + ownerHCL("bob", "bob", "person", "departed") + ownerHCL("team_a", "team-a", "team", "active")
	identity := func(owner string) string {
		return fmt.Sprintf(`
resource "nhi_identity" "x" {
  name  = "svc-x"
  class = nhi_lifecycle_class.owned.name
  owner = %s
}
`, owner)
	}
	testRejections(t, env, base, []rejection{
		{"owner with no record", identity(`"team-ghost"`), `Owner Not Registered[\s\S]*owner\s+"team-ghost"\s+names\s+no\s+nhi_owner\s+record`},
		{"no owner at all", strings.Replace(identity(`""`), `owner = ""`, "", 1), `Owner Not Registered[\s\S]*Observed:\s+no\s+owner`},
		{"departed owner", identity(`"bob"`), `Owner Departed[\s\S]*owner\s+"bob"\s+is\s+marked\s+departed`},
		{"departed owner by reference", identity(`nhi_owner.bob.name`), `Owner Departed`},
	})
	env.refusedAtApply(t, "svc-y", ownerHCL("carol", "carol", "person", "departed")+`
resource "nhi_lifecycle_class" "owned" {
  name                     = "owned"
  kind                     = "persistent"
  require_registered_owner = true
}

resource "nhi_identity" "y" {
  name  = "svc-y"
  class = nhi_lifecycle_class.owned.name
  owner = nhi_owner.carol.name
}
`, `Owner Departed[\s\S]*owner\s+"carol"\s+is\s+marked\s+departed`)
	env.unitTest(t, []resource.TestStep{{
		Config: base + identity(`nhi_owner.team_a.name`),
		ConfigStateChecks: []statecheck.StateCheck{
			expectAttr("nhi_identity.x", "findings", knownvalue.ListSizeExact(0)),
		},
	}})
}

// outputJSON decodes output name of the working directory's state into v.
func (c *terraformCLI) outputJSON(name string, v any) {
	c.t.Helper()
	out, _ := c.run([]int{0}, "output", "-json", name)
	if err := json.Unmarshal([]byte(out), v); err != nil {
		c.t.Fatalf("output %s: %v:\n%s", name, err, out)
	}
}

// TestAccQuery_owners: `terraform query` lists the owner records by resource identity.
func TestAccQuery_owners(t *testing.T) {
	env := newTestEnv(t)
	resource.UnitTest(t, resource.TestCase{
		ProtoV6ProviderFactories: env.factories(),
		TerraformVersionChecks:   queryVersionChecks,
		Steps: []resource.TestStep{
			{Config: ownerHCL("bob", "bob", "person", "departed") + ownerHCL("team_a", "team-a", "team", "active")},
			{
				Query: true,
				Config: `
provider "nhi" {}

list "nhi_owner" "all" {
  provider = nhi
}
`,
				QueryResultChecks: []querycheck.QueryResultCheck{
					querycheck.ExpectLength("nhi_owner.all", 2),
					querycheck.ExpectIdentity("nhi_owner.all", map[string]knownvalue.Check{"name": knownvalue.StringExact("bob")}),
					querycheck.ExpectIdentity("nhi_owner.all", map[string]knownvalue.Check{"name": knownvalue.StringExact("team-a")}),
				},
			},
		},
	})
}
