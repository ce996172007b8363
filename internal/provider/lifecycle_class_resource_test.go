package provider

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/knownvalue"
	"github.com/hashicorp/terraform-plugin-testing/statecheck"
	"github.com/hashicorp/terraform-plugin-testing/terraform"

	"github.com/nhigov/terraform-provider-nhi/internal/engine"
	"github.com/nhigov/terraform-provider-nhi/internal/policy"
)

// badClass declares lifecycle class "bad" with the attribute lines of body.
func badClass(body string) string { return badResource("lifecycle_class", `  name = "bad"`, body) }

// zeroCeiling is the rejection of a class of kind whose duration attr is zero, spelled zero,
// with the attribute lines of extra.
func zeroCeiling(kind, attr, zero string, extra ...string) rejection {
	lines := append([]string{fmt.Sprintf("kind = %q", kind), fmt.Sprintf("%s = %q", attr, zero)}, extra...)
	return rejection{"zero " + attr, badClass(strings.Join(lines, "\n")),
		fmt.Sprintf(`Invalid Duration[\s\S]*%s is %q: it must be more than zero`, attr, zero)}
}

func TestAccLifecycleClass_planRejects(t *testing.T) {
	env := newTestEnv(t)
	testRejections(t, env, governanceConfig, []rejection{
		{"ephemeral class with unlimited renewal", badClass(`
kind = "ephemeral"
max_ttl = "1h"`), `Unlimited Renewal[\s\S]*NHI7`},
		{"lifetime below ttl", badClass(`
kind = "ephemeral"
max_ttl = "2h"
max_lifetime = "1h"`), `Class Lifetime Below TTL`},
		{"naming pattern that does not compile", badClass(`
kind = "persistent"
naming_pattern = "ci-[a-z"`), `Invalid Naming Pattern`},
		{"unknown kind", badClass(`kind = "forever"`), `kind`},
		zeroCeiling("ephemeral", "max_ttl", "0s", `max_lifetime = "1h"`),
		zeroCeiling("ephemeral", "max_lifetime", "0d"),
		zeroCeiling("persistent", "max_rotation_interval", "0h"),
		zeroCeiling("persistent", "max_idle", "0d"),
		{"max_idle not a duration", badClass(`
kind = "persistent"
max_idle = "a month"`), `max_idle`},
		{"empty environment", badClass(`
kind = "persistent"
environments = ["prod", ""]`), `Empty Value[\s\S]*environments\[Value\(""\)\] is empty`},
		{"empty naming pattern", badClass(`
kind = "persistent"
naming_pattern = ""`), `Empty Value[\s\S]*naming_pattern is empty`},
	})
}

func TestAccLifecycleClass_updateAndDrift(t *testing.T) {
	env := newTestEnv(t)
	ctx := context.Background()
	env.unitTest(t, []resource.TestStep{
		{
			Config: governanceConfig,
			ConfigStateChecks: []statecheck.StateCheck{
				expectAttr("nhi_lifecycle_class.ci", "max_ttl", "1h"),
				expectAttr("nhi_lifecycle_class.ci", "environments", knownvalue.SetExact([]knownvalue.Check{knownvalue.StringExact("dev"), knownvalue.StringExact("prod")})),
				expectAttr("nhi_lifecycle_class.svc", "require_owner", false),
			},
		},
		{
			// A ceiling raised outside Terraform is drift: the plan restores it.
			PreConfig: func() {
				editRecord(t, "ci", env.engine.GetClass, env.engine.PutClass, func(c *policy.Class) { c.MaxTTL *= 24 })
			},
			Config: governanceConfig,
			ConfigPlanChecks: beforeApply(
				expectUpdate("nhi_lifecycle_class.ci"),
				expectPlannedAttr("nhi_lifecycle_class.ci", "max_ttl", "1h"),
			),
			Check: func(*terraform.State) error {
				c, err := env.engine.GetClass(ctx, "ci")
				if err != nil || c.MaxTTL.String() != "1h0m0s" {
					return fmt.Errorf("apply did not restore max_ttl: %v, %v", c.MaxTTL, err)
				}
				return nil
			},
		},
		importStep("nhi_lifecycle_class.svc", "svc"),
	})
}

// Governance records left by an interrupted apply are adopted when exactly as declared, with an
// audit event, and refused at plan otherwise.
func TestAccLifecycleClass_adoptsOrRefusesExistingRecords(t *testing.T) {
	env := newTestEnv(t)
	ctx := context.Background()
	maxRenewals := int64(2)
	classMaxRenewals := int64(3)
	put := func(err error) {
		if err != nil {
			t.Fatal(err)
		}
	}
	env.unitTest(t, []resource.TestStep{
		{
			// Class svc differs from its declaration: refused at plan, on name.
			PreConfig: func() {
				put(env.engine.PutClass(ctx, policy.Class{Name: "svc", Kind: policy.KindPersistent, MaxRotationInterval: 30 * policy.Day}))
			},
			Config:   governanceConfig,
			PlanOnly: true,
			ExpectError: wrappedError(`(?s)Lifecycle Class Already Exists.*with nhi_lifecycle_class.svc.*` +
				`max_rotation_interval: 30d in the engine, 90d declared.*terraform import nhi_lifecycle_class.<resource name> svc`),
		},
		{
			// Now every record is exactly as declared: all three are adopted.
			PreConfig: func() {
				c, err := env.engine.GetClass(ctx, "svc")
				if err != nil || c.MaxRotationInterval != 30*policy.Day {
					t.Fatalf("the refused plan changed class svc: %+v, %v", c, err)
				}
				put(env.engine.PutClass(ctx, policy.Class{Name: "svc", Kind: policy.KindPersistent, MaxRotationInterval: 90 * policy.Day}))
				put(env.engine.PutClass(ctx, policy.Class{Name: "ci", Kind: policy.KindEphemeral, MaxTTL: time.Hour, MaxLifetime: 4 * time.Hour,
					MaxRenewals: &classMaxRenewals, RequireOwner: true, NamingPattern: "ci-[a-z0-9-]+", Environments: []string{"dev", "prod"}}))
				put(env.engine.PutTTLPolicy(ctx, policy.TTLPolicy{Name: "ci-short", Class: "ci", TTL: 15 * time.Minute, MaxLifetime: time.Hour,
					Renewable: true, MaxRenewals: &maxRenewals}))
			},
			Config: governanceConfig,
			Check: func(*terraform.State) error {
				events, err := env.engine.AuditEvents(ctx, engine.AuditFilter{})
				if err != nil {
					return err
				}
				var adopted []string
				for _, ev := range events {
					if ev.Type == engine.EventAdopted {
						adopted = append(adopted, strings.SplitN(ev.Detail, ":", 2)[0])
					}
				}
				want := []string{"adopted TTL policy ci-short", "adopted lifecycle class ci", "adopted lifecycle class svc"}
				if !slices.Equal(slices.Sorted(slices.Values(adopted)), slices.Sorted(slices.Values(want))) {
					return fmt.Errorf("adoption events = %q, want %q", adopted, want)
				}
				return nil
			},
		},
		{Config: governanceConfig, PlanOnly: true},
	})
}
