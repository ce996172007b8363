package provider

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/terraform-plugin-framework/providerserver"
	"github.com/hashicorp/terraform-plugin-go/tfprotov6"
	"github.com/hashicorp/terraform-plugin-testing/echoprovider"
	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/knownvalue"
	"github.com/hashicorp/terraform-plugin-testing/plancheck"
	"github.com/hashicorp/terraform-plugin-testing/statecheck"
	"github.com/hashicorp/terraform-plugin-testing/terraform"
	"github.com/hashicorp/terraform-plugin-testing/tfjsonpath"
	"github.com/hashicorp/terraform-plugin-testing/tfversion"

	"github.com/nhigov/terraform-provider-nhi/internal/engine"
)

// recordingEngine wraps the test engine: it remembers every secret it hands out, so tests can
// authenticate with them and scan state and plans for them, and it can hold back the
// revocation that closing an ephemeral resource performs, so a test can watch a credential
// expire by the fake clock instead.
type recordingEngine struct {
	engine.Engine
	mu      sync.Mutex
	secrets []string
	held    []string
	hold    bool
	// failAuth makes every Authenticate fail, to force a rotation's verification to fail.
	failAuth bool
}

func (r *recordingEngine) StageSecret(ctx context.Context, identity string, length int64) (engine.SecretVersion, string, error) {
	v, s, err := r.Engine.StageSecret(ctx, identity, length)
	if err == nil {
		r.mu.Lock()
		r.secrets = append(r.secrets, s)
		r.mu.Unlock()
	}
	return v, s, err
}

func (r *recordingEngine) Authenticate(ctx context.Context, secret string) (string, error) {
	r.mu.Lock()
	fail := r.failAuth
	r.mu.Unlock()
	if fail {
		return "", fmt.Errorf("simulated outage of the login endpoint: %w", engine.ErrDenied)
	}
	return r.Engine.Authenticate(ctx, secret)
}

func (r *recordingEngine) set(f func(r *recordingEngine)) {
	r.mu.Lock()
	defer r.mu.Unlock()
	f(r)
}

func (r *recordingEngine) IssueCredential(ctx context.Context, req engine.CredentialRequest) (engine.Credential, string, error) {
	c, s, err := r.Engine.IssueCredential(ctx, req)
	if err == nil {
		r.mu.Lock()
		r.secrets = append(r.secrets, s)
		r.mu.Unlock()
	}
	return c, s, err
}

func (r *recordingEngine) RevokeCredential(ctx context.Context, id string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.hold {
		r.held = append(r.held, id)
		return nil
	}
	return r.Engine.RevokeCredential(ctx, id)
}

func (r *recordingEngine) issued() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.secrets...)
}

func (env *testEnv) recordingFactories(rec *recordingEngine) map[string]func() (tfprotov6.ProviderServer, error) {
	return map[string]func() (tfprotov6.ProviderServer, error){
		"nhi":  providerserver.NewProtocol6WithError(&nhiProvider{version: "test", engine: rec, clock: env.clock}),
		"echo": echoprovider.NewProviderServer(),
	}
}

const credentialIdentity = `
resource "nhi_identity" "build" {
  name        = "ci-build"
  class       = nhi_lifecycle_class.ci.name
  owner       = "team-build"
  environment = "dev"
  ttl_policy  = nhi_ttl_policy.short.name
}

resource "nhi_identity" "billing" {
  name  = "billing-sync"
  class = nhi_lifecycle_class.svc.name
}
`

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

// TestAccCredential_issueExpireRevoke drives the fake clock: a credential is issued within the
// policy and authenticates; past its TTL it is refused; closing revokes it at once; and the
// audit log records each request with its requester and purpose.
func TestAccCredential_issueExpireRevoke(t *testing.T) {
	env := newTestEnv(t)
	rec := &recordingEngine{Engine: env.engine, hold: true}
	ctx := context.Background()
	var value string
	resource.Test(t, resource.TestCase{
		TerraformVersionChecks:   []tfversion.TerraformVersionCheck{tfversion.SkipBelow(tfversion.Version1_10_0)},
		ProtoV6ProviderFactories: env.recordingFactories(rec),
		Steps: []resource.TestStep{
			{
				Config: credentialConfig(`
  purpose   = "integration tests"
  requester = "pipeline-42"`),
				ConfigStateChecks: []statecheck.StateCheck{
					statecheck.ExpectKnownValue("echo.job", tfjsonpath.New("data").AtMapKey("expires_at"), knownvalue.StringExact("2026-01-01T12:15:00Z")),
					statecheck.ExpectKnownValue("echo.job", tfjsonpath.New("data").AtMapKey("hard_expires_at"), knownvalue.StringExact("2026-01-01T13:00:00Z")),
					statecheck.ExpectKnownValue("echo.job", tfjsonpath.New("data").AtMapKey("renewals_left"), knownvalue.Int64Exact(2)),
					statecheck.ExpectKnownValue("echo.job", tfjsonpath.New("data").AtMapKey("requester"), knownvalue.StringExact("pipeline-42")),
					statecheck.ExpectKnownValue("echo.job", tfjsonpath.New("data").AtMapKey("value"), knownvalue.StringRegexp(regexp.MustCompile(`^\S{20,}$`))),
				},
				Check: func(s *terraform.State) error {
					value = s.RootModule().Resources["echo.job"].Primary.Attributes["data.value"]
					if value == "" {
						return errors.New("echo.job holds no credential value")
					}
					// The credential works now, and stops working past its TTL by the fake clock.
					if who, err := rec.Authenticate(ctx, value); err != nil || who != "ci-build" {
						return fmt.Errorf("fresh credential: Authenticate = %q, %v", who, err)
					}
					env.clock.Advance(16 * time.Minute)
					if _, err := rec.Authenticate(ctx, value); !errors.Is(err, engine.ErrDenied) {
						return fmt.Errorf("credential past its TTL still authenticates: %v", err)
					}
					events, err := rec.AuditEvents(ctx, engine.AuditFilter{Identity: "ci-build"})
					if err != nil {
						return err
					}
					for _, ev := range events {
						if ev.Type == engine.EventIssued && ev.Requester == "pipeline-42" && ev.Purpose == "integration tests" {
							return nil
						}
					}
					return fmt.Errorf("no issued event with requester and purpose in %+v", events)
				},
			},
			{
				// Now let Close revoke: the new credential is refused as soon as the run ends.
				PreConfig: func() { rec.set(func(r *recordingEngine) { r.hold = false }) },
				Config:    credentialConfig(`purpose = "deploy"`),
				Check: func(*terraform.State) error {
					issued := rec.issued()
					fresh := issued[len(issued)-1]
					if fresh == value {
						return errors.New("the second run did not issue a new credential")
					}
					if _, err := rec.Authenticate(ctx, fresh); !errors.Is(err, engine.ErrDenied) {
						return fmt.Errorf("a closed credential still authenticates: %v", err)
					}
					creds, err := rec.ListCredentials(ctx, "ci-build")
					if err != nil {
						return err
					}
					revoked := 0
					for _, c := range creds {
						if !c.RevokedAt.IsZero() {
							revoked++
						}
					}
					if revoked == 0 {
						return fmt.Errorf("no credential of ci-build was revoked on close: %+v", creds)
					}
					return nil
				},
			},
		},
	})
}

// TestAccCredential_refused: persistent identities, retired identities and a TTL above the
// policy get a clear error, on the attribute at fault.
func TestAccCredential_refused(t *testing.T) {
	env := newTestEnv(t)
	rec := &recordingEngine{Engine: env.engine}
	ctx := context.Background()
	resource.Test(t, resource.TestCase{
		TerraformVersionChecks:   []tfversion.TerraformVersionCheck{tfversion.SkipBelow(tfversion.Version1_10_0)},
		ProtoV6ProviderFactories: env.recordingFactories(rec),
		Steps: []resource.TestStep{
			{Config: governanceConfig + credentialIdentity},
			{
				Config:      credentialConfig(`ttl = "2h"`),
				ExpectError: regexp.MustCompile(`Credential Refused by Policy[\s\S]*above\s+ttl_policy\s+ci-short's\s+ttl\s+of\s+15m`),
			},
			{
				Config: governanceConfig + credentialIdentity + `
ephemeral "nhi_credential" "svc" {
  identity = nhi_identity.billing.id
}
provider "echo" {
  data = ephemeral.nhi_credential.svc
}
resource "echo" "svc" {}
`,
				ExpectError: regexp.MustCompile(`Credential Refused by Policy[\s\S]*persistent`),
			},
			{
				PreConfig: func() {
					if _, err := env.engine.RetireIdentity(ctx, "ci-build"); err != nil {
						t.Fatal(err)
					}
				},
				Config:      credentialConfig(``),
				ExpectError: regexp.MustCompile(`Identity Retired`),
			},
		},
	})
}

// TestAccCredential_neverInStateOrPlan: after a full lifecycle with a credential in use, neither
// the saved plan nor the state holds any issued secret.
func TestAccCredential_neverInStateOrPlan(t *testing.T) {
	env := newTestEnv(t)
	rec := &recordingEngine{Engine: env.engine}
	secrets := noSecrets{secrets: rec.issued}
	cfg := governanceConfig + credentialIdentity + `
ephemeral "nhi_credential" "job" {
  identity = nhi_identity.build.id
  purpose  = "scan"
}

locals {
  token_length = length(ephemeral.nhi_credential.job.value)
}
`
	resource.Test(t, resource.TestCase{
		TerraformVersionChecks:   []tfversion.TerraformVersionCheck{tfversion.SkipBelow(tfversion.Version1_10_0)},
		ProtoV6ProviderFactories: env.recordingFactories(rec),
		Steps: []resource.TestStep{
			{Config: governanceConfig + credentialIdentity},
			{
				Config: cfg,
				ConfigPlanChecks: resource.ConfigPlanChecks{
					PreApply: []plancheck.PlanCheck{secrets},
				},
				ConfigStateChecks: []statecheck.StateCheck{secrets},
				Check: func(*terraform.State) error {
					if len(rec.issued()) == 0 {
						return errors.New("no credential was issued, so the scan proved nothing")
					}
					return nil
				},
			},
		},
	})
}
