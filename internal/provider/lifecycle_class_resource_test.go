package provider

import (
	"context"
	"fmt"
	"testing"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/knownvalue"
	"github.com/hashicorp/terraform-plugin-testing/plancheck"
	"github.com/hashicorp/terraform-plugin-testing/statecheck"
	"github.com/hashicorp/terraform-plugin-testing/terraform"
	"github.com/hashicorp/terraform-plugin-testing/tfjsonpath"
)

func TestAccLifecycleClass_planRejects(t *testing.T) {
	env := newTestEnv(t)
	testRejections(t, env, governanceConfig, []rejection{
		{"ephemeral class with unlimited renewal", `
resource "nhi_lifecycle_class" "bad" {
  name    = "bad"
  kind    = "ephemeral"
  max_ttl = "1h"
}
`, `Unlimited Renewal[\s\S]*NHI7`},
		{"lifetime below ttl", `
resource "nhi_lifecycle_class" "bad" {
  name         = "bad"
  kind         = "ephemeral"
  max_ttl      = "2h"
  max_lifetime = "1h"
}
`, `Class Lifetime Below TTL`},
		{"naming pattern that does not compile", `
resource "nhi_lifecycle_class" "bad" {
  name           = "bad"
  kind           = "persistent"
  naming_pattern = "ci-[a-z"
}
`, `Invalid Naming Pattern`},
		{"unknown kind", `
resource "nhi_lifecycle_class" "bad" {
  name = "bad"
  kind = "forever"
}
`, `kind`},
		{"zero max_ttl", `
resource "nhi_lifecycle_class" "bad" {
  name         = "bad"
  kind         = "ephemeral"
  max_ttl      = "0s"
  max_lifetime = "1h"
}
`, `Invalid Duration[\s\S]*max_ttl is "0s": it must be more than zero`},
		{"zero max_lifetime", `
resource "nhi_lifecycle_class" "bad" {
  name         = "bad"
  kind         = "ephemeral"
  max_lifetime = "0d"
}
`, `Invalid Duration[\s\S]*max_lifetime is "0d": it must be more than zero`},
		{"zero max_rotation_interval", `
resource "nhi_lifecycle_class" "bad" {
  name                  = "bad"
  kind                  = "persistent"
  max_rotation_interval = "0h"
}
`, `Invalid Duration[\s\S]*max_rotation_interval is "0h": it must be more than zero`},
		{"empty environment", `
resource "nhi_lifecycle_class" "bad" {
  name         = "bad"
  kind         = "persistent"
  environments = ["prod", ""]
}
`, `Empty Value[\s\S]*environments\[Value\(""\)\] is empty`},
	})
}

func TestAccLifecycleClass_updateAndDrift(t *testing.T) {
	env := newTestEnv(t)
	ctx := context.Background()
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: env.factories(),
		Steps: []resource.TestStep{
			{
				Config: governanceConfig,
				ConfigStateChecks: []statecheck.StateCheck{
					statecheck.ExpectKnownValue("nhi_lifecycle_class.ci", tfjsonpath.New("max_ttl"), knownvalue.StringExact("1h")),
					statecheck.ExpectKnownValue("nhi_lifecycle_class.ci", tfjsonpath.New("environments"),
						knownvalue.SetExact([]knownvalue.Check{knownvalue.StringExact("dev"), knownvalue.StringExact("prod")})),
					statecheck.ExpectKnownValue("nhi_lifecycle_class.svc", tfjsonpath.New("require_owner"), knownvalue.Bool(false)),
				},
			},
			{
				// A ceiling raised outside Terraform is drift: the plan restores it.
				PreConfig: func() {
					c, err := env.engine.GetClass(ctx, "ci")
					if err == nil {
						c.MaxTTL *= 24
						err = env.engine.PutClass(ctx, c)
					}
					if err != nil {
						t.Fatal(err)
					}
				},
				Config: governanceConfig,
				ConfigPlanChecks: resource.ConfigPlanChecks{
					PreApply: []plancheck.PlanCheck{
						plancheck.ExpectResourceAction("nhi_lifecycle_class.ci", plancheck.ResourceActionUpdate),
						plancheck.ExpectKnownValue("nhi_lifecycle_class.ci", tfjsonpath.New("max_ttl"), knownvalue.StringExact("1h")),
					},
				},
				Check: func(*terraform.State) error {
					c, err := env.engine.GetClass(ctx, "ci")
					if err != nil || c.MaxTTL.String() != "1h0m0s" {
						return fmt.Errorf("apply did not restore max_ttl: %v, %v", c.MaxTTL, err)
					}
					return nil
				},
			},
			{ResourceName: "nhi_lifecycle_class.svc", ImportState: true, ImportStateId: "svc", ImportStateVerify: true},
		},
	})
}
