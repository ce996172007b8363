package provider

import (
	"testing"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/knownvalue"
	"github.com/hashicorp/terraform-plugin-testing/statecheck"
	"github.com/hashicorp/terraform-plugin-testing/tfjsonpath"
	"github.com/hashicorp/terraform-plugin-testing/tfversion"
)

// identityImportConfig declares one object of every resource type.
var identityImportConfig = governanceConfig + buildIdentityHCL("team-build") + billingIdentity + `
resource "nhi_rotation_schedule" "billing" {
  identity = nhi_identity.billing.id
  interval = "30d"
  overlap  = "1h"
}
` + ownerHCL("team", "team-build", "team", "active")

// TestAccResourceIdentity_import: every resource stores its identity (the name that keys it in
// the engine), and an import block with `identity = { ... }` imports each of them into a state
// identical to the one the apply wrote, with a plan that changes nothing (Terraform >= 1.12).
func TestAccResourceIdentity_import(t *testing.T) {
	env := newTestEnv(t)
	byName := map[string]struct{ attr, value string }{
		"nhi_lifecycle_class.ci":        {"name", "ci"},
		"nhi_lifecycle_class.svc":       {"name", "svc"},
		"nhi_ttl_policy.short":          {"name", "ci-short"},
		"nhi_identity.build":            {"name", "ci-build"},
		"nhi_identity.billing":          {"name", "billing-sync"},
		"nhi_rotation_schedule.billing": {"identity", "billing-sync"},
		"nhi_owner.team":                {"name", "team-build"},
	}
	var checks []statecheck.StateCheck
	steps := []resource.TestStep{{Config: identityImportConfig}}
	for address, id := range byName {
		checks = append(checks,
			statecheck.ExpectIdentity(address, map[string]knownvalue.Check{id.attr: knownvalue.StringExact(id.value)}),
			statecheck.ExpectIdentityValueMatchesState(address, tfjsonpath.New(id.attr)))
		steps = append(steps, resource.TestStep{
			Config:          identityImportConfig,
			ResourceName:    address,
			ImportState:     true,
			ImportStateKind: resource.ImportBlockWithResourceIdentity,
		})
	}
	steps[0].ConfigStateChecks = checks
	resource.UnitTest(t, resource.TestCase{
		ProtoV6ProviderFactories: env.factories(),
		TerraformVersionChecks: []tfversion.TerraformVersionCheck{
			tfversion.SkipBelow(tfversion.Version1_12_0),
		},
		Steps: steps,
	})
}
