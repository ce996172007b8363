package provider

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/knownvalue"
	"github.com/hashicorp/terraform-plugin-testing/plancheck"
	"github.com/hashicorp/terraform-plugin-testing/statecheck"
	"github.com/hashicorp/terraform-plugin-testing/terraform"
	"github.com/hashicorp/terraform-plugin-testing/tfjsonpath"

	"github.com/nhigov/terraform-provider-nhi/internal/engine"
	"github.com/nhigov/terraform-provider-nhi/internal/policy"
)

// buildIdentity is nhi_identity.build of identityConfig, as the provider hands it to the engine.
func buildIdentity(owner string) policy.Identity {
	return policy.Identity{Name: "ci-build", Class: "ci", Owner: owner, Environment: "dev", TTLPolicy: "ci-short", Scopes: []string{"read:artifacts"}}
}

// wrappedError matches a diagnostic as Terraform prints it, wrapped: every space in pattern
// matches any run of white space.
func wrappedError(pattern string) *regexp.Regexp {
	return regexp.MustCompile(strings.ReplaceAll(pattern, " ", `\s+`))
}

// auditTypes lists the types of the audit events about identity, oldest first.
func auditTypes(t *testing.T, e engine.Engine, identity string) []string {
	t.Helper()
	events, err := e.AuditEvents(context.Background(), engine.AuditFilter{Identity: identity})
	if err != nil {
		t.Fatal(err)
	}
	var types []string
	for _, ev := range events {
		types = append(types, ev.Type)
	}
	return types
}

// An apply killed after the engine created an identity leaves it out of state. The next apply
// adopts it: no second record, the original creation time, an "adopted" audit event.
func TestAccIdentity_adoptsInterruptedCreate(t *testing.T) {
	env := newTestEnv(t)
	ctx := context.Background()
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: env.factories(),
		Steps: []resource.TestStep{
			{Config: governanceConfig},
			{
				// What the interrupted apply did: the engine holds the identity, state does not.
				PreConfig: func() {
					if _, err := env.engine.CreateIdentity(ctx, buildIdentity("team-build")); err != nil {
						t.Fatal(err)
					}
					env.clock.Advance(time.Minute)
				},
				Config: identityConfig("team-build", "retire"),
				ConfigPlanChecks: resource.ConfigPlanChecks{
					PreApply: []plancheck.PlanCheck{plancheck.ExpectResourceAction("nhi_identity.build", plancheck.ResourceActionCreate)},
				},
				ConfigStateChecks: []statecheck.StateCheck{
					statecheck.ExpectKnownValue("nhi_identity.build", tfjsonpath.New("status"), knownvalue.StringExact("active")),
					statecheck.ExpectKnownValue("nhi_identity.build", tfjsonpath.New("created_at"), knownvalue.StringExact(testEpoch.Format(time.RFC3339))),
				},
				Check: func(*terraform.State) error {
					ids, err := env.engine.ListIdentities(ctx)
					if err != nil || len(ids) != 1 || ids[0].Owner != "team-build" {
						return fmt.Errorf("engine holds %+v, %v; want the one identity ci-build", ids, err)
					}
					if got, want := auditTypes(t, env.engine, "ci-build"), []string{engine.EventIdentityCreated, engine.EventAdopted}; fmt.Sprint(got) != fmt.Sprint(want) {
						return fmt.Errorf("audit events of ci-build = %v, want %v", got, want)
					}
					return nil
				},
			},
			{
				Config:   identityConfig("team-build", "retire"),
				PlanOnly: true,
			},
		},
	})
}

// A record that differs from the declaration is not adopted: the plan fails on name, says what
// differs and how to import it, and the engine is left as it was.
func TestAccIdentity_createOverDifferentIdentityFailsPlan(t *testing.T) {
	env := newTestEnv(t)
	ctx := context.Background()
	var events int
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: env.factories(),
		Steps: []resource.TestStep{
			{Config: governanceConfig},
			{
				PreConfig: func() {
					if _, err := env.engine.CreateIdentity(ctx, buildIdentity("team-other")); err != nil {
						t.Fatal(err)
					}
					events = len(auditTypes(t, env.engine, "ci-build"))
				},
				Config:   identityConfig("team-build", "retire"),
				PlanOnly: true,
				ExpectError: wrappedError(`(?s)Identity Already Exists.*with nhi_identity.build.*name.*` +
					`identity "ci-build" already exists in the engine: it is active and differs from this.*` +
					`declaration \(owner: "team-other" in the engine, "team-build" declared\).*` +
					`terraform import nhi_identity.<resource name> ci-build.*` +
					`import \{ to = nhi_identity.<resource name> id = "ci-build" \}`),
			},
			{
				PreConfig: func() {
					id, err := env.engine.GetIdentity(ctx, "ci-build")
					if err != nil || id.Owner != "team-other" || id.Retired() {
						t.Fatalf("after the refused plan the engine holds %+v, %v; want it unchanged", id, err)
					}
					if n := len(auditTypes(t, env.engine, "ci-build")); n != events {
						t.Fatalf("the refused plan wrote %d audit events", n-events)
					}
				},
				Config: governanceConfig,
			},
		},
	})
}

// Renaming an identity to the name of a retired one fails at plan, before the identity being
// renamed is destroyed.
func TestAccIdentity_renameToRetiredNameFailsPlan(t *testing.T) {
	env := newTestEnv(t)
	ctx := context.Background()
	config := func(withZ bool, z2Name string) string {
		c := governanceConfig + fmt.Sprintf(`
resource "nhi_identity" "z2" {
  name  = %q
  class = nhi_lifecycle_class.svc.name
}
`, z2Name)
		if withZ {
			c += `
resource "nhi_identity" "z" {
  name  = "z-id"
  class = nhi_lifecycle_class.svc.name
}
`
		}
		return c
	}
	engineHolds := func() {
		z, err := env.engine.GetIdentity(ctx, "z-id")
		if err != nil || !z.Retired() {
			t.Fatalf("z-id = %+v, %v; want retired", z, err)
		}
		z2, err := env.engine.GetIdentity(ctx, "z-id2")
		if err != nil || z2.Retired() {
			t.Fatalf("z-id2 = %+v, %v; want active", z2, err)
		}
	}
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: env.factories(),
		Steps: []resource.TestStep{
			{Config: config(true, "z-id2")},
			{Config: config(false, "z-id2")}, // retires z-id
			{
				PreConfig:   engineHolds,
				Config:      config(false, "z-id"),
				PlanOnly:    true,
				ExpectError: wrappedError(`(?s)Identity Already Exists.*with nhi_identity.z2.*identity "z-id" already exists in the engine: it was.*retired at.*never reused.*terraform import nhi_identity.<resource name> z-id`),
			},
			{
				// The same rename in an apply fails the same way, at its plan: z-id2 is untouched.
				Config:      config(false, "z-id"),
				ExpectError: wrappedError(`(?s)Identity Already Exists.*retired`),
			},
			{
				PreConfig: engineHolds,
				Config:    config(false, "z-id2"),
				PlanOnly:  true,
			},
		},
	})
}

// Creating an identity whose name a retired identity holds fails at plan even while the
// declaration is not fully known (its class is created in the same plan).
func TestAccIdentity_createOverRetiredNameWithUnknownClassFailsPlan(t *testing.T) {
	env := newTestEnv(t)
	ctx := context.Background()
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: env.factories(),
		Steps: []resource.TestStep{
			{
				PreConfig: func() {
					must := func(err error) {
						if err != nil {
							t.Fatal(err)
						}
					}
					must(env.engine.PutClass(ctx, policy.Class{Name: "old", Kind: policy.KindPersistent}))
					_, err := env.engine.CreateIdentity(ctx, policy.Identity{Name: "z-id", Class: "old"})
					must(err)
					_, err = env.engine.RetireIdentity(ctx, "z-id")
					must(err)
				},
				Config: governanceConfig + `
resource "nhi_identity" "z" {
  name  = "z-id"
  class = nhi_lifecycle_class.svc.name
}
`,
				PlanOnly:    true,
				ExpectError: wrappedError(`(?s)Identity Already Exists.*retired`),
			},
		},
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
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: env.factories(),
		Steps: []resource.TestStep{
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
		},
	})
}

// A rotation schedule left by an interrupted apply, with the secret it promoted, is adopted
// without rotating again; one that differs fails the plan on identity.
func TestAccRotationSchedule_adoptsOrRefusesExistingSchedule(t *testing.T) {
	env := newTestEnv(t)
	ctx := context.Background()
	declared := policy.RotationSchedule{Identity: "billing-sync", Interval: 30 * policy.Day, Overlap: time.Hour, Verify: true, KeepVersions: 3, SecretLength: 32,
		Consumers: []policy.Consumer{{Name: "billing-api", Kind: "service", Note: "reloads on SIGHUP"}}}
	put := func(s policy.RotationSchedule) {
		if err := env.engine.PutRotationSchedule(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	withoutSchedule := governanceConfig + rotationIdentity
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: env.factories(),
		Steps: []resource.TestStep{
			{Config: withoutSchedule},
			{
				PreConfig: func() {
					other := declared
					other.Interval = 7 * policy.Day
					put(other)
				},
				Config:   scheduleConfig(intervalSchedule),
				PlanOnly: true,
				ExpectError: wrappedError(`(?s)Rotation Schedule Already Exists.*with nhi_rotation_schedule.billing.*identity.*` +
					`interval: 7d in the engine, 30d declared.*terraform import nhi_rotation_schedule.<resource name> billing-sync`),
			},
			{
				// What the interrupted apply did: it promoted version 1 and wrote the schedule.
				PreConfig: func() {
					staged, _, err := env.engine.StageSecret(ctx, "billing-sync", 32)
					if err == nil {
						_, err = env.engine.PromoteSecret(ctx, "billing-sync", staged.Version, engine.PromoteOptions{Overlap: time.Hour, Keep: 3, Reason: "initial version"})
					}
					if err != nil {
						t.Fatal(err)
					}
					put(declared)
				},
				Config: scheduleConfig(intervalSchedule),
				ConfigStateChecks: []statecheck.StateCheck{
					statecheck.ExpectKnownValue("nhi_rotation_schedule.billing", tfjsonpath.New("current_version"), knownvalue.Int64Exact(1)),
				},
				Check: func(*terraform.State) error {
					versions, err := env.engine.ListSecretVersions(ctx, "billing-sync")
					if err != nil || len(versions) != 1 {
						return fmt.Errorf("secret versions after adopting = %+v, %v; want the one version, not rotated again", versions, err)
					}
					types := auditTypes(t, env.engine, "billing-sync")
					if len(types) == 0 || types[len(types)-1] != engine.EventAdopted {
						return fmt.Errorf("audit events of billing-sync = %v, want an adoption last", types)
					}
					return nil
				},
			},
			{Config: scheduleConfig(intervalSchedule), PlanOnly: true},
		},
	})
}
