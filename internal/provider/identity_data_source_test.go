package provider

import (
	"context"
	"regexp"
	"testing"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/knownvalue"
	"github.com/hashicorp/terraform-plugin-testing/statecheck"
	"github.com/hashicorp/terraform-plugin-testing/tfjsonpath"

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
				statecheck.ExpectKnownValue("data.nhi_identity.build", tfjsonpath.New("owner"), knownvalue.StringExact("team-build")),
				statecheck.ExpectKnownValue("data.nhi_identity.build", tfjsonpath.New("status"), knownvalue.StringExact("active")),
				statecheck.ExpectKnownValue("data.nhi_identities.ci", tfjsonpath.New("identities"), knownvalue.ListSizeExact(1)),
				statecheck.ExpectKnownValue("data.nhi_identities.ci", tfjsonpath.New("identities").AtSliceIndex(0).AtMapKey("name"), knownvalue.StringExact("ci-build")),
				statecheck.ExpectKnownValue("data.nhi_identities.all", tfjsonpath.New("identities"), knownvalue.ListSizeExact(2)),
				statecheck.ExpectKnownValue("data.nhi_identities.all", tfjsonpath.New("identities").AtSliceIndex(1).AtMapKey("name"), knownvalue.StringExact("legacy-sync")),
			},
		},
		{
			Config:      `data "nhi_identity" "missing" { name = "nobody" }`,
			ExpectError: regexp.MustCompile(`Object Not Found`),
		},
	})
}
