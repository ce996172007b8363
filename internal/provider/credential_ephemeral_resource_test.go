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
	"github.com/hashicorp/terraform-plugin-go/tftypes"
	"github.com/hashicorp/terraform-plugin-testing/echoprovider"
	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/knownvalue"
	"github.com/hashicorp/terraform-plugin-testing/statecheck"
	"github.com/hashicorp/terraform-plugin-testing/terraform"
	"github.com/hashicorp/terraform-plugin-testing/tfversion"

	"github.com/nhigov/terraform-provider-nhi/internal/engine"
	"github.com/nhigov/terraform-provider-nhi/internal/policy"
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

// ephemeralTest runs steps with the provider on rec, on Terraform 1.10 or later (ephemeral
// resources need it).
func (env *testEnv) ephemeralTest(t *testing.T, rec *recordingEngine, steps []resource.TestStep) {
	t.Helper()
	resource.UnitTest(t, resource.TestCase{
		TerraformVersionChecks:   []tfversion.TerraformVersionCheck{tfversion.SkipBelow(tfversion.Version1_10_0)},
		ProtoV6ProviderFactories: env.recordingFactories(rec),
		Steps:                    steps,
	})
}

// TestAccCredential_issueExpireRevoke drives the fake clock: a credential is issued within the
// policy and authenticates; past its TTL it is refused; closing revokes it at once; and the
// audit log records each request with its requester and purpose.
func TestAccCredential_issueExpireRevoke(t *testing.T) {
	env := newTestEnv(t)
	rec := &recordingEngine{Engine: env.engine, hold: true}
	ctx := context.Background()
	var value string
	env.ephemeralTest(t, rec, []resource.TestStep{
		{
			Config: credentialConfig(`
  purpose   = "integration tests"
  requester = "pipeline-42"`),
			ConfigStateChecks: []statecheck.StateCheck{
				expectAttr("echo.job", "data.expires_at", "2026-01-01T12:15:00Z"),
				expectAttr("echo.job", "data.hard_expires_at", "2026-01-01T13:00:00Z"),
				expectAttr("echo.job", "data.renewals_left", 2),
				expectAttr("echo.job", "data.scopes", knownvalue.SetExact([]knownvalue.Check{knownvalue.StringExact("read:artifacts")})),
				expectAttr("echo.job", "data.requester", "pipeline-42"),
				expectAttr("echo.job", "data.value", knownvalue.StringRegexp(regexp.MustCompile(`^\S{20,}$`))),
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
	})
}

// TestAccCredential_refused: persistent identities, retired identities and a TTL above the
// policy get a clear error, on the attribute at fault.
func TestAccCredential_refused(t *testing.T) {
	env := newTestEnv(t)
	rec := &recordingEngine{Engine: env.engine}
	ctx := context.Background()
	env.ephemeralTest(t, rec, []resource.TestStep{
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
	env.ephemeralTest(t, rec, []resource.TestStep{
		{Config: governanceConfig + credentialIdentity},
		{
			Config:            cfg,
			ConfigPlanChecks:  beforeApply(secrets),
			ConfigStateChecks: []statecheck.StateCheck{secrets},
			Check: func(*terraform.State) error {
				if len(rec.issued()) == 0 {
					return errors.New("no credential was issued, so the scan proved nothing")
				}
				return nil
			},
		},
	})
}

// protocolServer is the provider behind the plugin protocol, configured, for tests that drive
// RPCs Terraform only sends on the wall clock's schedule (RenewEphemeralResource).
func (env *testEnv) protocolServer(t *testing.T) tfprotov6.ProviderServer {
	t.Helper()
	srv, err := providerserver.NewProtocol6WithError(&nhiProvider{version: "test", engine: env.engine, clock: env.clock})()
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := srv.GetProviderSchema(ctx, &tfprotov6.GetProviderSchemaRequest{}); err != nil {
		t.Fatal(err)
	}
	str := tftypes.String
	cfgType := tftypes.Object{AttributeTypes: map[string]tftypes.Type{
		"requester": str,
		"local":     tftypes.Object{AttributeTypes: map[string]tftypes.Type{"path": str}},
		"vault": tftypes.Object{AttributeTypes: map[string]tftypes.Type{"address": str, "token": str, "namespace": str,
			"mount": str, "approle_mount": str, "ca_cert": str, "skip_tls_verify": tftypes.Bool}},
	}}
	cfg := tftypes.NewValue(cfgType, map[string]tftypes.Value{
		"requester": tftypes.NewValue(str, "renew-test"),
		"local":     tftypes.NewValue(cfgType.AttributeTypes["local"], nil),
		"vault":     tftypes.NewValue(cfgType.AttributeTypes["vault"], nil),
	})
	dv, err := tfprotov6.NewDynamicValue(cfgType, cfg)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := srv.ConfigureProvider(ctx, &tfprotov6.ConfigureProviderRequest{Config: &dv})
	if err != nil || len(resp.Diagnostics) > 0 {
		t.Fatalf("ConfigureProvider: %v %+v", err, resp)
	}
	return srv
}

// TestCredential_renewalBudget drives Open, Renew and Close of nhi_credential through the plugin
// protocol while moving the fake clock: renewal within the budget extends the credential,
// beyond it Renew asks for no further renewal and the credential expires at hard_expires_at.
func TestCredential_renewalBudget(t *testing.T) {
	env := newTestEnv(t)
	ctx := context.Background()
	for _, err := range []error{
		env.engine.PutClass(ctx, policy.Class{Name: "ci", Kind: policy.KindEphemeral, MaxLifetime: time.Hour}),
		env.engine.PutTTLPolicy(ctx, policy.TTLPolicy{Name: "p", Class: "ci", TTL: 15 * time.Minute, MaxLifetime: 40 * time.Minute, Renewable: true, MaxRenewals: int64p(2)}),
	} {
		if err != nil {
			t.Fatal(err)
		}
	}
	if _, err := env.engine.CreateIdentity(ctx, policy.Identity{Name: "ci-job", Class: "ci", TTLPolicy: "p"}); err != nil {
		t.Fatal(err)
	}
	srv := env.protocolServer(t)
	opened, out := openCredential(ctx, t, srv, map[string]string{"identity": "ci-job", "purpose": "long build"})
	if want := testEpoch.Add(15*time.Minute - renewMargin); !opened.RenewAt.Equal(want) {
		t.Fatalf("Open asked for renewal at %s, want %s", opened.RenewAt, want)
	}
	var secret, requester string
	if err := out["value"].As(&secret); err != nil || secret == "" {
		t.Fatalf("Open returned no value: %v", err)
	}
	if privateCarries(t, opened.Private, secret) {
		t.Error("the private data Open hands to Terraform carries the credential's secret")
	}
	_ = out["requester"].As(&requester)
	if requester != "renew-test" {
		t.Fatalf("requester = %q, want the provider's requester", requester)
	}

	renew := func() *tfprotov6.RenewEphemeralResourceResponse {
		resp, err := srv.RenewEphemeralResource(ctx, &tfprotov6.RenewEphemeralResourceRequest{TypeName: "nhi_credential", Private: opened.Private})
		if err != nil || len(resp.Diagnostics) > 0 {
			t.Fatalf("Renew: %v %+v", err, resp.Diagnostics)
		}
		return resp
	}
	// Two renewals within the budget, each 14 minutes after the last.
	env.clock.Advance(14 * time.Minute)
	if r := renew(); !r.RenewAt.Equal(env.clock.Now().Add(15*time.Minute - renewMargin)) {
		t.Fatalf("first renewal: next renewal at %s", r.RenewAt)
	}
	env.clock.Advance(14 * time.Minute)
	// The second renewal reaches the 40m hard expiry: nothing is left to renew.
	if r := renew(); !r.RenewAt.IsZero() {
		t.Fatalf("second renewal: Terraform asked to renew again at %s, want no further renewal", r.RenewAt)
	}
	if _, err := env.engine.Authenticate(ctx, secret); err != nil {
		t.Fatalf("renewed credential refused: %v", err)
	}
	// Beyond the budget Renew refuses quietly and the credential expires at its hard expiry.
	env.clock.Advance(11 * time.Minute) // 12:39, a minute before the hard expiry
	if r := renew(); !r.RenewAt.IsZero() {
		t.Fatalf("renewal beyond the budget asked to renew at %s", r.RenewAt)
	}
	if _, err := env.engine.Authenticate(ctx, secret); err != nil {
		t.Fatalf("credential refused before its hard expiry: %v", err)
	}
	env.clock.Advance(time.Minute)
	if _, err := env.engine.Authenticate(ctx, secret); !errors.Is(err, engine.ErrDenied) {
		t.Fatalf("credential past hard_expires_at still works: %v", err)
	}
	creds, err := env.engine.ListCredentials(ctx, "ci-job")
	if err != nil || len(creds) != 1 || creds[0].RenewCount != 2 || !creds[0].HardExpiresAt.Equal(testEpoch.Add(40*time.Minute)) {
		t.Fatalf("credential record = %+v, %v; want 2 renewals and a hard expiry at +40m", creds, err)
	}
	closed, err := srv.CloseEphemeralResource(ctx, &tfprotov6.CloseEphemeralResourceRequest{TypeName: "nhi_credential", Private: opened.Private})
	if err != nil || len(closed.Diagnostics) > 0 {
		t.Fatalf("Close: %v %+v", err, closed.Diagnostics)
	}
}

func int64p(v int64) *int64 { return &v }

// schemaObject is the object type of the schema of typeName, a managed or an ephemeral
// resource, as srv serves it.
func schemaObject(ctx context.Context, t *testing.T, srv tfprotov6.ProviderServer, typeName string) tftypes.Object {
	t.Helper()
	schemas, err := srv.GetProviderSchema(ctx, &tfprotov6.GetProviderSchemaRequest{})
	if err != nil {
		t.Fatal(err)
	}
	schema, ok := schemas.ResourceSchemas[typeName]
	if !ok {
		schema, ok = schemas.EphemeralResourceSchemas[typeName]
	}
	if !ok {
		t.Fatalf("the provider serves no resource %s", typeName)
	}
	typ, ok := schema.ValueType().(tftypes.Object)
	if !ok {
		t.Fatalf("%s's schema is not an object", typeName)
	}
	return typ
}

// openCredential opens nhi_credential through the plugin protocol with the string attributes
// attrs set (the rest null), fails the test on any diagnostic, and returns the response and its
// result's attributes.
func openCredential(ctx context.Context, t *testing.T, srv tfprotov6.ProviderServer, attrs map[string]string) (*tfprotov6.OpenEphemeralResourceResponse, map[string]tftypes.Value) {
	t.Helper()
	typ := schemaObject(ctx, t, srv, "nhi_credential")
	vals := map[string]tftypes.Value{}
	for name, at := range typ.AttributeTypes {
		vals[name] = tftypes.NewValue(at, nil)
	}
	for name, v := range attrs {
		vals[name] = tftypes.NewValue(tftypes.String, v)
	}
	cfg, err := tfprotov6.NewDynamicValue(typ, tftypes.NewValue(typ, vals))
	if err != nil {
		t.Fatal(err)
	}
	opened, err := srv.OpenEphemeralResource(ctx, &tfprotov6.OpenEphemeralResourceRequest{TypeName: "nhi_credential", Config: &cfg})
	if err != nil || len(opened.Diagnostics) > 0 {
		t.Fatalf("Open: %v %+v", err, opened.Diagnostics)
	}
	result, err := opened.Result.Unmarshal(typ)
	if err != nil {
		t.Fatal(err)
	}
	var out map[string]tftypes.Value
	if err := result.As(&out); err != nil {
		t.Fatal(err)
	}
	return opened, out
}
