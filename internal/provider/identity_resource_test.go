package provider

import (
	"context"
	"errors"
	"fmt"
	"regexp"
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

func TestAccIdentity_lifecycle(t *testing.T) {
	parallel(t)
	env := newTestEnv(t)
	ctx := context.Background()
	var secret string
	secrets := noSecrets{secrets: func() []string { return []string{secret} }}
	resource.UnitTest(t, resource.TestCase{
		ProtoV6ProviderFactories: env.factories(),
		CheckDestroy: func(*terraform.State) error {
			id, err := env.engine.GetIdentity(ctx, "ci-build")
			if err != nil {
				return fmt.Errorf("retire on destroy must keep the record: %w", err)
			}
			if !id.Retired() || !id.RetiredAt.Equal(env.clock.Now()) {
				return fmt.Errorf("after destroy the identity is %q (retired at %s), want retired now", id.Status, id.RetiredAt)
			}
			if _, err := env.engine.Authenticate(ctx, secret); !errors.Is(err, engine.ErrDenied) {
				return fmt.Errorf("a credential of the retired identity still authenticates: %v", err)
			}
			if _, err := env.engine.GetClass(ctx, "ci"); !errors.Is(err, engine.ErrNotFound) {
				return fmt.Errorf("class ci survived destroy: %v", err)
			}
			return nil
		},
		Steps: []resource.TestStep{
			{
				Config: identityConfig("team-build", "retire"),
				ConfigStateChecks: []statecheck.StateCheck{
					statecheck.ExpectKnownValue("nhi_identity.build", tfjsonpath.New("id"), knownvalue.StringExact("ci-build")),
					statecheck.ExpectKnownValue("nhi_identity.build", tfjsonpath.New("status"), knownvalue.StringExact("active")),
					statecheck.ExpectKnownValue("nhi_identity.build", tfjsonpath.New("created_at"), knownvalue.StringExact("2026-01-01T12:00:00Z")),
					statecheck.ExpectKnownValue("nhi_identity.build", tfjsonpath.New("retired_at"), knownvalue.Null()),
					statecheck.ExpectKnownValue("nhi_identity.build", tfjsonpath.New("scopes"), knownvalue.SetExact([]knownvalue.Check{knownvalue.StringExact("read:artifacts")})),
					statecheck.ExpectKnownValue("nhi_identity.build", tfjsonpath.New("on_destroy"), knownvalue.StringExact("retire")),
				},
				Check: func(*terraform.State) error {
					id, err := env.engine.GetIdentity(ctx, "ci-build")
					if err != nil || id.Owner != "team-build" || id.TTLPolicy != "ci-short" {
						return fmt.Errorf("engine holds %+v, %v", id, err)
					}
					_, secret, err = env.engine.IssueCredential(ctx, engine.CredentialRequest{Identity: "ci-build", Requester: "test"})
					return err
				},
			},
			{
				Config: identityConfig("team-release", "retire"),
				ConfigPlanChecks: resource.ConfigPlanChecks{
					PreApply: []plancheck.PlanCheck{
						plancheck.ExpectResourceAction("nhi_identity.build", plancheck.ResourceActionUpdate),
						secrets,
					},
				},
				ConfigStateChecks: []statecheck.StateCheck{
					statecheck.ExpectKnownValue("nhi_identity.build", tfjsonpath.New("owner"), knownvalue.StringExact("team-release")),
					secrets,
				},
			},
			{
				ResourceName:      "nhi_identity.build",
				ImportState:       true,
				ImportStateId:     "ci-build",
				ImportStateVerify: true,
			},
			{
				ResourceName:      "nhi_lifecycle_class.ci",
				ImportState:       true,
				ImportStateId:     "ci",
				ImportStateVerify: true,
			},
			{
				ResourceName:      "nhi_ttl_policy.short",
				ImportState:       true,
				ImportStateId:     "ci-short",
				ImportStateVerify: true,
			},
			{
				// Drift: an edit made outside Terraform shows as an update, and apply restores it.
				PreConfig: func() {
					id, err := env.engine.GetIdentity(ctx, "ci-build")
					if err == nil {
						id.Owner, id.Environment = "someone-else", "prod"
						_, err = env.engine.UpdateIdentity(ctx, id)
					}
					if err != nil {
						t.Fatal(err)
					}
				},
				Config: identityConfig("team-release", "retire"),
				ConfigPlanChecks: resource.ConfigPlanChecks{
					PreApply: []plancheck.PlanCheck{
						plancheck.ExpectResourceAction("nhi_identity.build", plancheck.ResourceActionUpdate),
						plancheck.ExpectKnownValue("nhi_identity.build", tfjsonpath.New("owner"), knownvalue.StringExact("team-release")),
					},
				},
				Check: func(*terraform.State) error {
					id, err := env.engine.GetIdentity(ctx, "ci-build")
					if err != nil || id.Owner != "team-release" || id.Environment != "dev" {
						return fmt.Errorf("apply did not restore the declared identity: %+v, %v", id, err)
					}
					return nil
				},
			},
			{
				// The destroy below happens an hour later by the fake clock.
				PreConfig: func() { env.clock.Advance(time.Hour) },
				Config:    identityConfig("team-release", "retire"),
				PlanOnly:  true,
			},
		},
	})
}

func TestAccIdentity_deleteOnDestroy(t *testing.T) {
	parallel(t)
	env := newTestEnv(t)
	ctx := context.Background()
	resource.UnitTest(t, resource.TestCase{
		ProtoV6ProviderFactories: env.factories(),
		CheckDestroy: func(*terraform.State) error {
			if _, err := env.engine.GetIdentity(ctx, "ci-build"); !errors.Is(err, engine.ErrNotFound) {
				return fmt.Errorf("on_destroy = delete left the identity behind: %v", err)
			}
			return nil
		},
		Steps: []resource.TestStep{{Config: identityConfig("team-build", "delete")}},
	})
}

func TestAccIdentity_removedOutOfBand(t *testing.T) {
	parallel(t)
	env := newTestEnv(t)
	ctx := context.Background()
	resource.UnitTest(t, resource.TestCase{
		ProtoV6ProviderFactories: env.factories(),
		Steps: []resource.TestStep{
			{Config: identityConfig("team-build", "delete")},
			{
				PreConfig: func() {
					if err := env.engine.DeleteIdentity(ctx, "ci-build"); err != nil {
						t.Fatal(err)
					}
				},
				Config: identityConfig("team-build", "delete"),
				ConfigPlanChecks: resource.ConfigPlanChecks{
					PreApply: []plancheck.PlanCheck{plancheck.ExpectResourceAction("nhi_identity.build", plancheck.ResourceActionCreate)},
				},
			},
		},
	})
}

func badIdentity(body string) string {
	return fmt.Sprintf(`
resource "nhi_identity" "bad" {
%s
}
`, body)
}

// TestAccIdentity_planRejects covers every identity rule: each violating configuration fails the
// plan with its message and leaves the engine unchanged.
func TestAccIdentity_planRejects(t *testing.T) {
	parallel(t)
	env := newTestEnv(t)
	testRejections(t, env, governanceConfig, []rejection{
		{"ttl policy on a persistent identity", badIdentity(`
  name       = "billing-sync"
  class      = nhi_lifecycle_class.svc.name
  ttl_policy = nhi_ttl_policy.short.name`), `TTL Policy On Persistent Identity[\s\S]*nhi_rotation_schedule`},
		{"no ttl policy on an ephemeral identity", badIdentity(`
  name        = "ci-x"
  class       = nhi_lifecycle_class.ci.name
  owner       = "team-build"
  environment = "dev"`), `TTL Policy Missing`},
		{"owner missing", badIdentity(`
  name        = "ci-x"
  class       = nhi_lifecycle_class.ci.name
  environment = "dev"
  ttl_policy  = nhi_ttl_policy.short.name`), `Owner Missing[\s\S]*requires\s+an\s+owner`},
		{"name does not match the pattern", badIdentity(`
  name        = "build-x"
  class       = nhi_lifecycle_class.ci.name
  owner       = "team-build"
  environment = "dev"
  ttl_policy  = nhi_ttl_policy.short.name`), `Name Does Not Match Naming Pattern`},
		{"environment not allowed", badIdentity(`
  name        = "ci-x"
  class       = nhi_lifecycle_class.ci.name
  owner       = "team-build"
  environment = "staging"
  ttl_policy  = nhi_ttl_policy.short.name`), `Environment Not Allowed[\s\S]*NHI8`},
		{"invalid name syntax", badIdentity(`
  name  = "ci x"
  class = nhi_lifecycle_class.ci.name`), `Invalid Name`},
		{"unknown on_destroy", badIdentity(`
  name       = "ci-x"
  class      = nhi_lifecycle_class.ci.name
  on_destroy = "forget"`), `on_destroy`},
	})
}

// TestAccIdentity_classInSamePlan: an identity whose class is created in the same plan is
// checked at apply and refused before anything of it is written.
func TestAccIdentity_classInSamePlan(t *testing.T) {
	parallel(t)
	env := newTestEnv(t)
	ctx := context.Background()
	resource.UnitTest(t, resource.TestCase{
		ProtoV6ProviderFactories: env.factories(),
		Steps: []resource.TestStep{
			{
				Config: governanceConfig + badIdentity(`
  name        = "ci-x"
  class       = nhi_lifecycle_class.ci.name
  environment = "dev"
  ttl_policy  = nhi_ttl_policy.short.name`),
				ExpectError: regexp.MustCompile(`Owner Missing`),
			},
			{
				PreConfig: func() {
					if _, err := env.engine.GetIdentity(ctx, "ci-x"); !errors.Is(err, engine.ErrNotFound) {
						t.Fatalf("the refused identity reached the engine: %v", err)
					}
				},
				Config: governanceConfig,
			},
		},
	})
}

// An apply killed after the engine created an identity leaves it out of state. The next apply
// adopts it: no second record, the original creation time, an "adopted" audit event.
func TestAccIdentity_adoptsInterruptedCreate(t *testing.T) {
	parallel(t)
	env := newTestEnv(t)
	ctx := context.Background()
	resource.UnitTest(t, resource.TestCase{
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
	parallel(t)
	env := newTestEnv(t)
	ctx := context.Background()
	var events int
	resource.UnitTest(t, resource.TestCase{
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
	parallel(t)
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
	resource.UnitTest(t, resource.TestCase{
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
	parallel(t)
	env := newTestEnv(t)
	ctx := context.Background()
	resource.UnitTest(t, resource.TestCase{
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
