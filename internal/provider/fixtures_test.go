package provider

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/terraform-plugin-testing/helper/resource"

	"github.com/nhigov/terraform-provider-nhi/internal/engine"
	"github.com/nhigov/terraform-provider-nhi/internal/policy"
)

// The HCL fixtures and helpers that several acceptance tests share.

// governanceConfig declares an ephemeral class "ci" with TTL policy "ci-short" and a
// persistent class "svc".
const governanceConfig = `
resource "nhi_lifecycle_class" "ci" {
  name           = "ci"
  kind           = "ephemeral"
  max_ttl        = "1h"
  max_lifetime   = "4h"
  max_renewals   = 3
  require_owner  = true
  naming_pattern = "ci-[a-z0-9-]+"
  environments   = ["dev", "prod"]
}

resource "nhi_lifecycle_class" "svc" {
  name                  = "svc"
  kind                  = "persistent"
  max_rotation_interval = "90d"
}

resource "nhi_ttl_policy" "short" {
  name         = "ci-short"
  class        = nhi_lifecycle_class.ci.name
  ttl          = "15m"
  max_lifetime = "1h"
  renewable    = true
  max_renewals = 2
}
`

// buildIdentityHCL declares nhi_identity.build: "ci-build" of class ci with TTL policy ci-short,
// owned by owner, plus the attribute lines in extra.
func buildIdentityHCL(owner string, extra ...string) string {
	return fmt.Sprintf(`
resource "nhi_identity" "build" {
  name        = "ci-build"
  class       = nhi_lifecycle_class.ci.name
  owner       = %q
  environment = "dev"
  ttl_policy  = nhi_ttl_policy.short.name
  %s
}
`, owner, strings.Join(extra, "\n  "))
}

func identityConfig(owner, onDestroy string) string {
	return governanceConfig + buildIdentityHCL(owner, `scopes = ["read:artifacts"]`, fmt.Sprintf("on_destroy = %q", onDestroy))
}

// billingIdentity is nhi_identity.billing, "billing-sync" of the persistent class svc.
const billingIdentity = `
resource "nhi_identity" "billing" {
  name  = "billing-sync"
  class = nhi_lifecycle_class.svc.name
}
`

const rotationIdentity = billingIdentity + `
resource "nhi_lifecycle_class" "vendor" {
  name                  = "vendor"
  kind                  = "persistent"
  max_rotation_interval = "30d"
  require_consumers     = true
}

resource "nhi_identity" "payments" {
  name  = "payments-api"
  class = nhi_lifecycle_class.vendor.name
}
`

func scheduleConfig(body string) string {
	return governanceConfig + rotationIdentity + fmt.Sprintf(`
resource "nhi_rotation_schedule" "billing" {
  identity = nhi_identity.billing.id
%s
}
`, body)
}

const intervalSchedule = `
  interval      = "30d"
  overlap       = "1h"
  keep_versions = 3
  consumers = [
    { name = "billing-api", kind = "service", note = "reloads on SIGHUP" },
  ]
`

var credentialIdentity = buildIdentityHCL("team-build", `scopes = ["read:artifacts"]`) + billingIdentity

func credentialConfig(args string) string {
	return governanceConfig + credentialIdentity + fmt.Sprintf(`
ephemeral "nhi_credential" "job" {
  identity = nhi_identity.build.id
%s
}

provider "echo" {
  data = ephemeral.nhi_credential.job
}

resource "echo" "job" {}
`, args)
}

// buildIdentity is nhi_identity.build of identityConfig, as the provider hands it to the engine.
func buildIdentity(owner string) policy.Identity {
	return policy.Identity{Name: "ci-build", Class: "ci", Owner: owner, Environment: "dev", TTLPolicy: "ci-short", Scopes: []string{"read:artifacts"}}
}

// exceptionHCL is an exception attribute line of a TTL policy or an identity.
func exceptionHCL(reason, approvedBy, expiresAt string) string {
	return fmt.Sprintf("\n  exception = { reason = %q, approved_by = %q, expires_at = %q }", reason, approvedBy, expiresAt)
}

// refusedAtApply applies governanceConfig plus config, which must fail with want, then checks
// that the identity name did not reach the engine (the classes and policies did).
func (env *testEnv) refusedAtApply(t *testing.T, name, config, want string) {
	t.Helper()
	env.unitTest(t, []resource.TestStep{
		{Config: governanceConfig + config, ExpectError: regexp.MustCompile(want)},
		{
			PreConfig: func() {
				if _, err := env.engine.GetIdentity(context.Background(), name); !errors.Is(err, engine.ErrNotFound) {
					t.Fatalf("the refused identity reached the engine: %v", err)
				}
			},
			Config: governanceConfig,
		},
	})
}

// editRecord changes the governance record name in the engine behind Terraform's back:
// get, change, put.
func editRecord[T any](t *testing.T, name string, get func(context.Context, string) (T, error), put func(context.Context, T) error, change func(*T)) {
	t.Helper()
	ctx := context.Background()
	r, err := get(ctx, name)
	if err == nil {
		change(&r)
		err = put(ctx, r)
	}
	if err != nil {
		t.Fatal(err)
	}
}

// importStep imports resourceName by id and verifies the imported state against the applied
// one, but for the attributes in ignore.
func importStep(resourceName, id string, ignore ...string) resource.TestStep {
	return resource.TestStep{ResourceName: resourceName, ImportState: true, ImportStateId: id, ImportStateVerify: true, ImportStateVerifyIgnore: ignore}
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

// checkOverlap checks a rotation's overlap on identity: the old and the new secret both
// authenticate as it now; once the fake clock has moved past the overlap (by after), only the
// new one does.
func (env *testEnv) checkOverlap(ctx context.Context, e engine.Engine, identity, oldSecret, newSecret string, after time.Duration) error {
	for _, s := range []string{oldSecret, newSecret} {
		if who, err := e.Authenticate(ctx, s); err != nil || who != identity {
			return fmt.Errorf("during the overlap a secret is refused: %q, %v", who, err)
		}
	}
	env.clock.Advance(after)
	if _, err := e.Authenticate(ctx, oldSecret); !errors.Is(err, engine.ErrDenied) {
		return fmt.Errorf("after the overlap the old secret still works: %v", err)
	}
	if _, err := e.Authenticate(ctx, newSecret); err != nil {
		return fmt.Errorf("after the overlap the new secret is refused: %v", err)
	}
	return nil
}
