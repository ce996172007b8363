package provider

import (
	"regexp"
	"testing"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/knownvalue"
	"github.com/hashicorp/terraform-plugin-testing/querycheck"
	"github.com/hashicorp/terraform-plugin-testing/querycheck/queryfilter"
)

// queryVersionChecks skip the query tests where Terraform has no `terraform query`.
var queryVersionChecks = needsTerraform114("list resources (terraform query)")

// queryFleetConfig is identityImportConfig with one more identity, in prod.
var queryFleetConfig = identityImportConfig + ciIdentityHCL("deploy", "ci-deploy", "team-release", "prod")

const fleetQuery = `
provider "nhi" {}

list "nhi_identity" "all" {
  provider = nhi
}

list "nhi_identity" "ci_dev" {
  provider = nhi
  config {
    class       = "ci"
    environment = "dev"
  }
}

list "nhi_identity" "release" {
  provider = nhi
  config {
    owner  = "team-release"
    status = "active"
  }
}

list "nhi_identity" "retired" {
  provider = nhi
  config {
    status            = "retired"
    include_unmanaged = true
  }
}

list "nhi_lifecycle_class" "all" {
  provider = nhi
}

list "nhi_ttl_policy" "all" {
  provider = nhi
}

list "nhi_rotation_schedule" "all" {
  provider = nhi
}
`

// TestAccQuery_list: `terraform query` lists what the engine holds, each object by its
// resource identity, with the identity list's filters applied (all that are set must match).
func TestAccQuery_list(t *testing.T) {
	env := newTestEnv(t)
	name := func(n string) map[string]knownvalue.Check {
		return map[string]knownvalue.Check{"name": knownvalue.StringExact(n)}
	}
	resource.UnitTest(t, resource.TestCase{
		ProtoV6ProviderFactories: env.factories(),
		TerraformVersionChecks:   queryVersionChecks,
		Steps: []resource.TestStep{
			{Config: queryFleetConfig},
			{
				Query:  true,
				Config: fleetQuery,
				QueryResultChecks: []querycheck.QueryResultCheck{
					querycheck.ExpectLength("nhi_identity.all", 3),
					querycheck.ExpectIdentity("nhi_identity.all", name("ci-build")),
					querycheck.ExpectIdentity("nhi_identity.all", name("ci-deploy")),
					querycheck.ExpectIdentity("nhi_identity.all", name("billing-sync")),
					querycheck.ExpectLength("nhi_identity.ci_dev", 1),
					querycheck.ExpectIdentity("nhi_identity.ci_dev", name("ci-build")),
					querycheck.ExpectLength("nhi_identity.release", 1),
					querycheck.ExpectIdentity("nhi_identity.release", name("ci-deploy")),
					querycheck.ExpectResourceDisplayName("nhi_identity.release", queryfilter.ByResourceIdentity(name("ci-deploy")),
						knownvalue.StringExact("ci-deploy (class ci, active)")),
					querycheck.ExpectLength("nhi_identity.retired", 0),
					querycheck.ExpectLength("nhi_lifecycle_class.all", 2),
					querycheck.ExpectIdentity("nhi_lifecycle_class.all", name("svc")),
					querycheck.ExpectLength("nhi_ttl_policy.all", 1),
					querycheck.ExpectIdentity("nhi_ttl_policy.all", name("ci-short")),
					querycheck.ExpectLength("nhi_rotation_schedule.all", 1),
					querycheck.ExpectIdentity("nhi_rotation_schedule.all", map[string]knownvalue.Check{"identity": knownvalue.StringExact("billing-sync")}),
					querycheck.ExpectTotalLengthForMatching(regexp.MustCompile(`nhi_identity\.`), 5),
				},
			},
		},
	})
}
