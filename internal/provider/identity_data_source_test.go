package provider

import (
	"context"
	"regexp"
	"testing"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/knownvalue"
	"github.com/hashicorp/terraform-plugin-testing/statecheck"

	"github.com/nhigov/terraform-provider-nhi/internal/policy"
)

func TestAccIdentity_dataSources(t *testing.T) {
	env := newTestEnv(t)
	ctx := context.Background()
	env.unitTest(t, []resource.TestStep{
		{
			PreConfig: func() {
				// An identity no configuration manages, for the inventory to find.
				if err := env.engine.PutClass(ctx, policy.Class{Name: "legacy", Kind: policy.KindPersistent}); err != nil {
					t.Fatal(err)
				}
				if _, err := env.engine.CreateIdentity(ctx, policy.Identity{Name: "legacy-sync", Class: "legacy", Owner: "ops"}); err != nil {
					t.Fatal(err)
				}
			},
			Config: identityConfig("team-build", "retire") + `
data "nhi_identity" "build" {
  name = nhi_identity.build.name
}

data "nhi_identities" "ci" {
  class      = "ci"
  depends_on = [nhi_identity.build]
}

data "nhi_identities" "all" {
  depends_on = [nhi_identity.build]
}
`,
			ConfigStateChecks: []statecheck.StateCheck{
				expectAttr("data.nhi_identity.build", "owner", "team-build"),
				expectAttr("data.nhi_identity.build", "status", "active"),
				expectAttr("data.nhi_identities.ci", "identities", knownvalue.ListSizeExact(1)),
				expectAttr("data.nhi_identities.ci", "identities.0.name", "ci-build"),
				expectAttr("data.nhi_identities.all", "identities", knownvalue.ListSizeExact(2)),
				expectAttr("data.nhi_identities.all", "identities.1.name", "legacy-sync"),
			},
		},
		{
			Config:      `data "nhi_identity" "missing" { name = "nobody" }`,
			ExpectError: regexp.MustCompile(`Object Not Found`),
		},
	})
}
