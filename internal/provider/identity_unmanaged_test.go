package provider

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"testing"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/knownvalue"
	"github.com/hashicorp/terraform-plugin-testing/querycheck"
	"github.com/hashicorp/terraform-plugin-testing/querycheck/queryfilter"
	"github.com/hashicorp/terraform-plugin-testing/terraform"

	"github.com/nhigov/terraform-provider-nhi/internal/engine"
	"github.com/nhigov/terraform-provider-nhi/internal/engine/vault"
	"github.com/nhigov/terraform-provider-nhi/internal/policy"
)

// TestAccQuery_adoptUnmanagedVaultRole: an AppRole role made by hand is listed by `terraform
// query` with include_unmanaged; importing it by identity and applying adopts it: the role's
// settings become the class's TTL policy's, the entity and its alias exist, and the drift report
// no longer lists it as unmanaged.
func TestAccQuery_adoptUnmanagedVaultRole(t *testing.T) {
	if os.Getenv("NHI_TEST_ENGINE") != "vault" {
		t.Skip("only Vault holds identities this provider did not create; runs in the Vault suite (make testvault)")
	}
	env := newTestEnv(t)
	ve, ok := env.engine.(*vault.Engine)
	if !ok {
		t.Fatalf("engine %T is not the Vault engine", env.engine)
	}
	ctx := context.Background()
	role := "auth/" + ve.AppRoleMount() + "/role/ci-legacy"
	base := identityConfig("team-build", "retire")
	adopt := base + `
import {
  to = nhi_identity.legacy
  identity = {
    name = "ci-legacy"
  }
}
` + ciIdentityHCL("legacy", "ci-legacy", "team-build", "dev")
	legacy := map[string]knownvalue.Check{"name": knownvalue.StringExact("ci-legacy")}
	resource.UnitTest(t, resource.TestCase{
		ProtoV6ProviderFactories: env.factories(),
		TerraformVersionChecks:   queryVersionChecks,
		Steps: []resource.TestStep{
			{
				Config: base,
				Check: func(*terraform.State) error {
					// A role made by hand, with settings no class allows.
					_, err := ve.Client().Logical().WriteWithContext(ctx, role, map[string]any{"token_ttl": "8h", "token_max_ttl": "720h"})
					return err
				},
			},
			{
				Query: true,
				Config: `
provider "nhi" {}

list "nhi_identity" "unmanaged" {
  provider = nhi
  config {
    status            = "retired"
    include_unmanaged = true
  }
}
`,
				QueryResultChecks: []querycheck.QueryResultCheck{
					querycheck.ExpectLength("nhi_identity.unmanaged", 1),
					querycheck.ExpectIdentity("nhi_identity.unmanaged", legacy),
					querycheck.ExpectResourceDisplayName("nhi_identity.unmanaged", queryfilter.ByResourceIdentity(legacy),
						knownvalue.StringExact("ci-legacy (unmanaged: not created by this provider)")),
				},
			},
			{
				Config:           adopt,
				ConfigPlanChecks: beforeApply(expectUpdate("nhi_identity.legacy")),
				Check: func(*terraform.State) error {
					id, err := env.engine.GetIdentity(ctx, "ci-legacy")
					if err != nil || id.Status != policy.StatusActive || id.Class != "ci" || len(id.EngineDrift) != 0 {
						return fmt.Errorf("after the adoption the engine holds %+v (%v), want it active, of class ci, without drift", id, err)
					}
					s, err := ve.Client().Logical().ReadWithContext(ctx, role)
					if err != nil || s == nil {
						return fmt.Errorf("read the role: %v", err)
					}
					if ttl, _ := s.Data["token_ttl"].(json.Number); ttl.String() != "900" {
						return fmt.Errorf("the role's token_ttl is %v, want 900 (ci-short's 15m)", s.Data["token_ttl"])
					}
					if ttl, _ := s.Data["token_explicit_max_ttl"].(json.Number); ttl.String() != "3600" {
						return fmt.Errorf("the role's token_explicit_max_ttl is %v, want 3600 (ci-short's 1h)", s.Data["token_explicit_max_ttl"])
					}
					ent, err := ve.Client().Logical().ReadWithContext(ctx, "identity/entity/name/"+ve.EntityName("ci-legacy"))
					if err != nil || ent == nil {
						return fmt.Errorf("no entity for the adopted role: %v", err)
					}
					if aliases, _ := ent.Data["aliases"].([]any); len(aliases) != 1 {
						return fmt.Errorf("the entity has aliases %v, want the role's one", ent.Data["aliases"])
					}
					fleet, err := engine.Observe(ctx, env.engine, env.clock.Now())
					if err != nil {
						return err
					}
					if slices.Contains(fleet.Unmanaged, "ci-legacy") {
						return fmt.Errorf("the adopted role is still unmanaged: %v", fleet.Unmanaged)
					}
					for _, f := range policy.Drift(fleet).About("ci-legacy") {
						if f.Rule == policy.RuleUnmanagedIdentity {
							return fmt.Errorf("the drift report still lists the adopted role as unmanaged: %+v", f)
						}
					}
					return nil
				},
			},
		},
	})
}
