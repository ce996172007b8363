package provider

import (
	"context"
	"fmt"
	"regexp"
	"testing"
	"time"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/statecheck"
	"github.com/hashicorp/terraform-plugin-testing/terraform"
)

func badPolicy(body string) string {
	return badResource("ttl_policy", `  name  = "bad"`, `  class = nhi_lifecycle_class.ci.name`, body)
}

// TestAccTTLPolicy_planRejects covers every TTL policy rule: each violating configuration fails
// the plan with its message and leaves the engine unchanged.
func TestAccTTLPolicy_planRejects(t *testing.T) {
	env := newTestEnv(t)
	testRejections(t, env, governanceConfig, []rejection{
		{"ttl above class max", badPolicy(`ttl = "2h"`), `TTL Above Class Maximum[\s\S]*at\s+most\s+1h`},
		{"lifetime above class max", badPolicy(`
  ttl          = "30m"
  max_lifetime = "8h"
  renewable    = true
  max_renewals = 1`), `Lifetime Above Class Maximum[\s\S]*lifetime\s+of\s+at\s+most\s+4h`},
		{"renewals above class max", badPolicy(`
  ttl          = "30m"
  max_lifetime = "2h"
  renewable    = true
  max_renewals = 5`), `Renewals Above Class Maximum[\s\S]*at\s+most\s+3\s+renewals`},
		{"unlimited renewal", badPolicy(`
  ttl       = "30m"
  renewable = true`), `Unlimited Renewal[\s\S]*NHI7`},
		{"lifetime below ttl", badPolicy(`
  ttl          = "30m"
  max_lifetime = "10m"`), `Lifetime Below TTL`},
		{"exception without reason", badPolicy(`ttl = "2h"` + exceptionHCL("", "sec-lead", "2026-06-01T00:00:00Z")), `Exception Incomplete[\s\S]*set\s+exception.reason`},
		{"exception without approver", badPolicy(`ttl = "2h"` + exceptionHCL("migration", " ", "2026-06-01T00:00:00Z")), `Exception Incomplete[\s\S]*set\s+exception.approved_by`},
		{"expired exception", badPolicy(`ttl = "2h"` + exceptionHCL("migration", "sec-lead", "2025-12-31T00:00:00Z")), `Exception Expired`},
		{"policy on a persistent class", `
resource "nhi_ttl_policy" "bad" {
  name  = "bad"
  class = nhi_lifecycle_class.svc.name
  ttl   = "10m"
}
`, `TTL Policy On Persistent Identity`},
		{"malformed duration", badPolicy(`ttl = "ten minutes"`), `Invalid Duration`},
		{"zero ttl", badPolicy(`ttl = "0s"`), `Invalid Duration[\s\S]*ttl is "0s": it must be more than zero`},
		{"zero max_lifetime", badPolicy(`
  ttl          = "10m"
  max_lifetime = "0m"`), `Invalid Duration[\s\S]*max_lifetime is "0m": it must be more than zero`},
		{"exception expiry not a timestamp", badPolicy(`ttl = "2h"` + exceptionHCL("migration", "sec-lead", "next tuesday")), `Invalid Timestamp[\s\S]*exception.expires_at is "next tuesday"`},
	})
}

// TestAccTTLPolicy_exceptionExpires: an approved exception admits a policy above its class's
// ceiling until the fake clock passes its expiry; then the plan fails again.
func TestAccTTLPolicy_exceptionExpires(t *testing.T) {
	env := newTestEnv(t)
	cfg := governanceConfig + badPolicy(`ttl = "2h"`+exceptionHCL("batch migration needs long jobs", "sec-lead", "2026-01-08T00:00:00Z"))
	env.unitTest(t, []resource.TestStep{
		{
			Config: cfg,
			ConfigStateChecks: []statecheck.StateCheck{
				expectAttr("nhi_ttl_policy.bad", "exception.approved_by", "sec-lead"),
			},
			Check: func(*terraform.State) error {
				p, err := env.engine.GetTTLPolicy(context.Background(), "bad")
				if err != nil || p.TTL != 2*time.Hour || p.Exception == nil {
					return fmt.Errorf("engine holds %+v, %v", p, err)
				}
				return nil
			},
		},
		{
			PreConfig:   func() { env.clock.Set(time.Date(2026, 1, 8, 0, 0, 1, 0, time.UTC)) },
			Config:      cfg,
			ExpectError: regexp.MustCompile(`Exception Expired[\s\S]*expired\s+at\s+2026-01-08T00:00:00Z`),
		},
	})
}

func TestAccTTLPolicy_update(t *testing.T) {
	env := newTestEnv(t)
	env.unitTest(t, []resource.TestStep{
		{Config: governanceConfig + badPolicy(`ttl = "10m"`)},
		{
			Config: governanceConfig + badPolicy(`
  ttl      = "20m"
  max_uses = 3`),
			ConfigPlanChecks: beforeApply(expectUpdate("nhi_ttl_policy.bad")),
			ConfigStateChecks: []statecheck.StateCheck{
				expectAttr("nhi_ttl_policy.bad", "ttl", "20m"),
				expectAttr("nhi_ttl_policy.bad", "max_uses", 3),
			},
		},
		importStep("nhi_ttl_policy.bad", "bad"),
	})
}

// TestAccTTLPolicy_classInSamePlan: when the class is created in the same plan, the class rules
// run at apply and refuse the policy before it is written.
func TestAccTTLPolicy_classInSamePlan(t *testing.T) {
	env := newTestEnv(t)
	env.unitTest(t, []resource.TestStep{{
		Config:      governanceConfig + badPolicy(`ttl = "2h"`),
		ExpectError: regexp.MustCompile(`TTL Above Class Maximum`),
	}, {
		PreConfig: func() {
			if _, err := env.engine.GetTTLPolicy(context.Background(), "bad"); err == nil {
				t.Fatal("the refused policy was written to the engine")
			}
			if _, err := env.engine.GetClass(context.Background(), "ci"); err != nil {
				t.Fatalf("the valid class was not created: %v", err)
			}
		},
		Config: governanceConfig,
	}})
}
