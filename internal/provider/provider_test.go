package provider

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/path"
	"github.com/hashicorp/terraform-plugin-framework/providerserver"
	fwresource "github.com/hashicorp/terraform-plugin-framework/resource"
	fwschema "github.com/hashicorp/terraform-plugin-framework/resource/schema"
	"github.com/hashicorp/terraform-plugin-framework/tfsdk"
	"github.com/hashicorp/terraform-plugin-go/tfprotov6"
	"github.com/hashicorp/terraform-plugin-go/tftypes"
	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/plancheck"
	"github.com/hashicorp/terraform-plugin-testing/statecheck"
	"github.com/hashicorp/terraform-plugin-testing/terraform"

	"github.com/nhigov/terraform-provider-nhi/internal/acctest"
	"github.com/nhigov/terraform-provider-nhi/internal/clock"
	"github.com/nhigov/terraform-provider-nhi/internal/engine"
	"github.com/nhigov/terraform-provider-nhi/internal/engine/local"
	"github.com/nhigov/terraform-provider-nhi/internal/engine/vault"
	"github.com/nhigov/terraform-provider-nhi/internal/policy"
)

// testEpoch is where every acceptance test's fake clock starts.
var testEpoch = time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)

// testEnv is one acceptance test's engine and fake clock, shared by every provider instance the
// test starts, so that tests can inspect and change the engine and move time between steps.
type testEnv struct {
	engine engine.Engine
	clock  *clock.Fake
}

// newTestEnv returns a fresh engine for one test, and runs the test in parallel with others
// when the engine is its own. NHI_TEST_ENGINE selects it: "local" (the default) or another
// engine registered in testEngines.
func newTestEnv(t *testing.T) *testEnv {
	t.Helper()
	parallel(t)
	clk := clock.NewFake(testEpoch)
	kind := os.Getenv("NHI_TEST_ENGINE")
	if kind == "" {
		kind = "local"
	}
	open, ok := testEngines[kind]
	if !ok {
		t.Fatalf("NHI_TEST_ENGINE=%q: no such engine", kind)
	}
	return &testEnv{engine: open(t, clk), clock: clk}
}

// testEngines opens a fresh, empty engine of each kind for one test.
var testEngines = map[string]func(t *testing.T, clk *clock.Fake) engine.Engine{
	"local": func(t *testing.T, clk *clock.Fake) engine.Engine {
		e, err := local.Open(filepath.Join(t.TempDir(), "engine.db"), local.Options{Clock: clk})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = e.Close() })
		return e
	},
	// vault runs against the server at VAULT_ADDR (make test starts one), on fresh mounts.
	"vault": func(t *testing.T, clk *clock.Fake) engine.Engine {
		if os.Getenv("VAULT_ADDR") == "" {
			t.Fatal("NHI_TEST_ENGINE=vault needs VAULT_ADDR and VAULT_TOKEN: run `eval \"$(scripts/vault-dev start)\"` first")
		}
		suffix := make([]byte, 4)
		_, _ = rand.Read(suffix)
		mount := "nhi-acc-" + hex.EncodeToString(suffix)
		cfg := vault.Config{Mount: mount, AppRoleMount: mount + "-approle", AuditLogPath: acctest.VaultAuditLog(t)}
		cfg.ApplyEnv()
		ctx := context.Background()
		root, err := vault.Open(ctx, cfg, clk, func(string, map[string]any) {})
		if err != nil {
			t.Fatal(err)
		}
		acctest.VaultPolicies(t, root.Client())
		// The engine under test holds exactly vault.ApplyPolicy (no root, no default policy):
		// the suite proves that policy is enough, lazy mount creation included. Root only sets
		// up the policy and token, and cleans up.
		cfg.Token = acctest.VaultToken(t, root.Client(), mount+"-apply", vault.ApplyPolicy(cfg.Mount, cfg.AppRoleMount))
		e, err := vault.Open(ctx, cfg, clk, func(string, map[string]any) {})
		if err != nil {
			t.Fatalf("Open with a token holding the apply policy: %v", err)
		}
		t.Cleanup(func() {
			// Leave the shared server as it was: the test's mounts go, and its entities with them.
			if ids, err := root.ListIdentities(ctx); err == nil {
				for _, id := range ids {
					_, _ = root.Client().Logical().DeleteWithContext(ctx, "identity/entity/name/"+root.EntityName(id.Name))
				}
			}
			_ = root.Client().Sys().DisableAuthWithContext(ctx, root.AppRoleMount())
			_ = root.Client().Sys().UnmountWithContext(ctx, root.Mount())
			_ = root.Client().Sys().UnmountWithContext(ctx, root.DatabaseMount())
			_ = e.Close()
			_ = root.Close()
		})
		return e
	},
}

func (env *testEnv) factories() map[string]func() (tfprotov6.ProviderServer, error) {
	return map[string]func() (tfprotov6.ProviderServer, error){
		"nhi": providerserver.NewProtocol6WithError(&nhiProvider{version: "test", engine: env.engine, clock: env.clock}),
	}
}

// unitTest runs steps on env's engine and clock.
func (env *testEnv) unitTest(t *testing.T, steps []resource.TestStep) {
	t.Helper()
	resource.UnitTest(t, resource.TestCase{ProtoV6ProviderFactories: env.factories(), Steps: steps})
}

// snapshot is everything the engine holds, as JSON, to prove that a rejected plan changed nothing.
func (env *testEnv) snapshot(t *testing.T) string {
	t.Helper()
	ctx := context.Background()
	classes, err1 := env.engine.ListClasses(ctx)
	policies, err2 := env.engine.ListTTLPolicies(ctx)
	ids, err3 := env.engine.ListIdentities(ctx)
	creds, err4 := env.engine.ListCredentials(ctx, "")
	events, err5 := env.engine.AuditEvents(ctx, engine.AuditFilter{})
	for _, err := range []error{err1, err2, err3, err4, err5} {
		if err != nil {
			t.Fatalf("snapshot: %v", err)
		}
	}
	raw, err := json.Marshal([]any{classes, policies, ids, creds, events})
	if err != nil {
		t.Fatal(err)
	}
	return string(raw)
}

// unchangedSince returns a PreConfig that fails the test if the engine differs from before.
func (env *testEnv) unchangedSince(t *testing.T, before *string) func() {
	return func() {
		if after := env.snapshot(t); after != *before {
			t.Fatalf("a rejected configuration changed the engine:\nbefore: %s\nafter:  %s", *before, after)
		}
	}
}

// noSecrets is a plan and state check that fails when any of the given secret strings appears
// in the plan or the state that Terraform wrote.
type noSecrets struct{ secrets func() []string }

var (
	_ plancheck.PlanCheck   = noSecrets{}
	_ statecheck.StateCheck = noSecrets{}
)

func (c noSecrets) scan(what string, v any) error {
	raw, err := json.Marshal(v)
	if err != nil {
		return err
	}
	for _, s := range c.secrets() {
		if s != "" && strings.Contains(string(raw), s) {
			return fmt.Errorf("the %s contains secret material (%d bytes starting %.6q)", what, len(s), s)
		}
	}
	return nil
}

func (c noSecrets) CheckPlan(_ context.Context, req plancheck.CheckPlanRequest, resp *plancheck.CheckPlanResponse) {
	resp.Error = c.scan("saved plan", req.Plan)
}

func (c noSecrets) CheckState(_ context.Context, req statecheck.CheckStateRequest, resp *statecheck.CheckStateResponse) {
	resp.Error = c.scan("state", req.State)
}

// rejection is a configuration that a plan must refuse, with the message it must show.
type rejection struct {
	name   string
	config string
	want   string
}

// badResource declares the resource nhi_<typ>.bad with the attribute lines given, for the
// configurations a test expects a plan to reject.
func badResource(typ string, lines ...string) string {
	return fmt.Sprintf("\nresource \"nhi_%s\" \"bad\" {\n%s\n}\n", typ, strings.Join(lines, "\n"))
}

// testRejections applies base, then plans base plus each rejected configuration in turn. Every
// plan must fail with its message and leave the engine exactly as base left it.
func testRejections(t *testing.T, env *testEnv, base string, cases []rejection) {
	t.Helper()
	var before string
	steps := []resource.TestStep{{
		Config: base,
		Check:  func(*terraform.State) error { before = env.snapshot(t); return nil },
	}}
	for _, c := range cases {
		steps = append(steps, resource.TestStep{
			PreConfig:   env.unchangedSince(t, &before),
			Config:      base + c.config,
			ExpectError: regexp.MustCompile(c.want),
		})
	}
	steps = append(steps, resource.TestStep{PreConfig: env.unchangedSince(t, &before), Config: base, PlanOnly: true})
	env.unitTest(t, steps)
}

// forgetLocalEngine closes the provider's shared engine of dbPath, if open, so that the next
// provider Configure opens the file afresh, as every terraform command does out of process.
func forgetLocalEngine(t *testing.T, dbPath string) {
	t.Helper()
	localEngines.Lock()
	defer localEngines.Unlock()
	if e, ok := localEngines.byPath[dbPath]; ok {
		if err := e.Close(); err != nil {
			t.Fatal(err)
		}
		delete(localEngines.byPath, dbPath)
	}
}

// TestAccPlanWritesNothing_local: a plan against a missing engine file creates nothing, and
// plan, refresh and a drift report read leave an existing engine file byte-for-byte as it was,
// each opening the file afresh as a terraform command does.
func TestAccPlanWritesNothing_local(t *testing.T) {
	parallel(t)
	if os.Getenv("NHI_TEST_ENGINE") == "vault" {
		t.Skip("tests the local engine's file; runs in the local suite")
	}
	dir := t.TempDir()
	dbPath := filepath.Join(dir, "state", "engine.db")
	t.Cleanup(func() { forgetLocalEngine(t, dbPath) })
	cfg := fmt.Sprintf(`
provider "nhi" {
  local {
    path = %q
  }
}
`, dbPath) + governanceConfig + buildIdentityHCL("team-build") + ownerHCL("team", "team-build", "team", "active") + `
data "nhi_drift_report" "all" {}
`
	var before []byte
	// fresh forgets the open engine and, after the first apply, checks the file's bytes.
	fresh := func() {
		forgetLocalEngine(t, dbPath)
		after, err := os.ReadFile(dbPath)
		switch {
		case before == nil && !errors.Is(err, os.ErrNotExist):
			t.Fatalf("a plan created the engine file %s (read error %v)", dbPath, err)
		case before != nil && err != nil:
			t.Fatal(err)
		case before != nil && !bytes.Equal(before, after):
			t.Fatal("a plan or refresh changed the engine file's bytes")
		}
	}
	resource.UnitTest(t, resource.TestCase{
		ProtoV6ProviderFactories: map[string]func() (tfprotov6.ProviderServer, error){
			"nhi": providerserver.NewProtocol6WithError(New("test")()),
		},
		Steps: []resource.TestStep{
			{PreConfig: fresh, Config: cfg, PlanOnly: true, ExpectNonEmptyPlan: true},
			{PreConfig: fresh, Config: cfg},
			{
				PreConfig: func() {
					forgetLocalEngine(t, dbPath)
					var err error
					if before, err = os.ReadFile(dbPath); err != nil {
						t.Fatal(err)
					}
				},
				Config:   cfg,
				PlanOnly: true,
			},
			{PreConfig: fresh, RefreshState: true},
			{PreConfig: fresh, Config: cfg, PlanOnly: true},
			{PreConfig: fresh, Config: cfg, PlanOnly: true},
		},
	})
}

// configValue builds r's schema and an object of it with the given attributes, the others null.
func configValue(t *testing.T, r fwresource.Resource, attrs map[string]tftypes.Value) (fwschema.Schema, tftypes.Value) {
	t.Helper()
	ctx := context.Background()
	var sr fwresource.SchemaResponse
	r.Schema(ctx, fwresource.SchemaRequest{}, &sr)
	typ, ok := sr.Schema.Type().TerraformType(ctx).(tftypes.Object)
	if !ok {
		t.Fatalf("schema of %T is not an object", r)
	}
	vals := map[string]tftypes.Value{}
	for name, at := range typ.AttributeTypes {
		vals[name] = tftypes.NewValue(at, nil)
		if v, ok := attrs[name]; ok {
			vals[name] = v
		}
	}
	return sr.Schema, tftypes.NewValue(typ, vals)
}

// planDiagnostics runs r's ModifyPlan for creating an object with the given attributes (the
// others null) on a provider with engine env, and returns its diagnostics: how tests see plan
// warnings, which terraform-plugin-testing does not expose.
func planDiagnostics(t *testing.T, env *testEnv, r fwresource.Resource, attrs map[string]tftypes.Value) diag.Diagnostics {
	t.Helper()
	ctx := context.Background()
	rc, ok1 := r.(fwresource.ResourceWithConfigure)
	rm, ok2 := r.(fwresource.ResourceWithModifyPlan)
	if !ok1 || !ok2 {
		t.Fatalf("%T does not configure and modify plans", r)
	}
	rc.Configure(ctx, fwresource.ConfigureRequest{ProviderData: &providerData{engine: env.engine, clock: env.clock}}, &fwresource.ConfigureResponse{})
	s, raw := configValue(t, r, attrs)
	req := fwresource.ModifyPlanRequest{
		Config: tfsdk.Config{Schema: s, Raw: raw},
		Plan:   tfsdk.Plan{Schema: s, Raw: raw},
		State:  tfsdk.State{Schema: s, Raw: tftypes.NewValue(raw.Type(), nil)},
	}
	resp := fwresource.ModifyPlanResponse{Plan: req.Plan}
	rm.ModifyPlan(ctx, req, &resp)
	return resp.Diagnostics
}

// validateDiagnostics runs r's ValidateConfig as `terraform validate` does, with no provider
// configured, and returns its diagnostics.
func validateDiagnostics(t *testing.T, r fwresource.Resource, attrs map[string]tftypes.Value) diag.Diagnostics {
	t.Helper()
	s, raw := configValue(t, r, attrs)
	rv, ok := r.(fwresource.ResourceWithValidateConfig)
	if !ok {
		t.Fatalf("%T has no ValidateConfig", r)
	}
	var resp fwresource.ValidateConfigResponse
	rv.ValidateConfig(context.Background(), fwresource.ValidateConfigRequest{Config: tfsdk.Config{Schema: s, Raw: raw}}, &resp)
	return resp.Diagnostics
}

// str is a known string for planDiagnostics; unknown is a value known only after apply.
func str(s string) tftypes.Value { return tftypes.NewValue(tftypes.String, s) }

var unknown = tftypes.NewValue(tftypes.String, tftypes.UnknownValue)

// TestPlanWarnsOnLiteralNameNotInEngine: a class, TTL policy or identity named by a literal that
// the engine does not hold is a plan warning on that attribute; a reference to an object this
// plan creates (unknown at plan) is neither a warning nor an error.
func TestPlanWarnsOnLiteralNameNotInEngine(t *testing.T) {
	env := newTestEnv(t)
	ctx := context.Background()
	if err := env.engine.PutClass(ctx, policy.Class{Name: "ci", Kind: policy.KindEphemeral, MaxLifetime: time.Hour}); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name     string
		resource fwresource.Resource
		attrs    map[string]tftypes.Value
		want     string // attribute warned on; empty: no diagnostics at all
	}{
		{"policy of a missing class", NewTTLPolicyResource(), map[string]tftypes.Value{"name": str("p"), "class": str("no-such-class"), "ttl": str("10m")}, "class"},
		{"policy of a class created in this plan", NewTTLPolicyResource(), map[string]tftypes.Value{"name": str("p"), "class": unknown, "ttl": str("10m")}, ""},
		{"identity of a missing class", NewIdentityResource(), map[string]tftypes.Value{"name": str("ci-a"), "class": str("no-such-class")}, "class"},
		{"identity of a missing TTL policy", NewIdentityResource(), map[string]tftypes.Value{"name": str("ci-a"), "class": str("ci"), "ttl_policy": str("no-such-policy")}, "ttl_policy"},
		{"identity of a policy created in this plan", NewIdentityResource(), map[string]tftypes.Value{"name": str("ci-a"), "class": str("ci"), "ttl_policy": unknown}, ""},
		{"schedule of a missing identity", NewRotationScheduleResource(), map[string]tftypes.Value{"identity": str("no-such-identity"), "interval": str("7d")}, "identity"},
		{"schedule of an identity created in this plan", NewRotationScheduleResource(), map[string]tftypes.Value{"identity": unknown, "interval": str("7d")}, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			diags := planDiagnostics(t, env, c.resource, c.attrs)
			if c.want == "" {
				if len(diags) != 0 {
					t.Fatalf("diagnostics %v, want none", diags)
				}
				return
			}
			if diags.HasError() || len(diags) != 1 {
				t.Fatalf("diagnostics %v, want exactly one warning", diags)
			}
			d, ok := diags[0].(diag.DiagnosticWithPath)
			if !ok || d.Severity() != diag.SeverityWarning || !d.Path().Equal(path.Root(c.want)) ||
				d.Summary() != "Referenced Object Not In Engine" || !strings.Contains(d.Detail(), "reference it") {
				t.Fatalf("diagnostic %v, want the not-in-engine warning on %s", diags[0], c.want)
			}
		})
	}
}

// TestValidateRunsSelfContainedRules: `terraform validate` (ValidateConfig, no provider
// configured) reports every rule of a TTL policy, rotation schedule and class that needs no other
// object, on its attribute; a valid configuration gives nothing.
func TestValidateRunsSelfContainedRules(t *testing.T) {
	parallel(t)
	consumers := tftypes.NewValue(tftypes.List{ElementType: tftypes.Object{AttributeTypes: map[string]tftypes.Type{
		"name": tftypes.String, "kind": tftypes.String, "note": tftypes.String}}}, nil)
	cases := []struct {
		name     string
		resource fwresource.Resource
		attrs    map[string]tftypes.Value
		want     string // attribute of the one error; empty: no diagnostics
	}{
		{"policy lifetime below ttl", NewTTLPolicyResource(), map[string]tftypes.Value{"name": str("p"), "class": str("ci"), "ttl": str("30m"), "max_lifetime": str("10m")}, "max_lifetime"},
		{"policy renewable forever", NewTTLPolicyResource(), map[string]tftypes.Value{"name": str("p"), "class": str("ci"), "ttl": str("30m"),
			"renewable": tftypes.NewValue(tftypes.Bool, true)}, "renewable"},
		{"valid policy", NewTTLPolicyResource(), map[string]tftypes.Value{"name": str("p"), "class": str("ci"), "ttl": str("30m"), "max_lifetime": str("1h")}, ""},
		{"schedule overlap not below interval", NewRotationScheduleResource(), map[string]tftypes.Value{"identity": str("svc"), "interval": str("1d"), "overlap": str("2d"),
			"consumers": consumers}, "overlap"},
		{"valid schedule", NewRotationScheduleResource(), map[string]tftypes.Value{"identity": str("svc"), "interval": str("1d"), "overlap": str("1h"), "consumers": consumers}, ""},
		{"class lifetime below ttl", NewLifecycleClassResource(), map[string]tftypes.Value{"name": str("c"), "kind": str("ephemeral"), "max_ttl": str("2h"), "max_lifetime": str("1h")}, "max_lifetime"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			diags := validateDiagnostics(t, c.resource, c.attrs)
			if c.want == "" {
				if len(diags) != 0 {
					t.Fatalf("diagnostics %v, want none", diags)
				}
				return
			}
			if len(diags) != 1 || !diags.HasError() {
				t.Fatalf("diagnostics %v, want exactly one error", diags)
			}
			if d, ok := diags[0].(diag.DiagnosticWithPath); !ok || !d.Path().Equal(path.Root(c.want)) {
				t.Fatalf("diagnostic %v, want it on %s", diags[0], c.want)
			}
		})
	}
}

// parallel runs the test beside others when its engine is its own: every local-engine test has
// a file of its own. The Vault tests share one server and run one at a time.
func parallel(t *testing.T) {
	if kind := os.Getenv("NHI_TEST_ENGINE"); kind == "" || kind == "local" {
		t.Parallel()
	}
}

// TestMain lets a plain `go test ./...` run the acceptance tests on the local engine: a
// TF_CLI_CONFIG_FILE naming a file that does not exist (some images set one) is dropped, so
// Terraform reads no CLI configuration instead of warning on every command.
func TestMain(m *testing.M) {
	if p := os.Getenv("TF_CLI_CONFIG_FILE"); p != "" {
		if _, err := os.Stat(p); err != nil {
			_ = os.Unsetenv("TF_CLI_CONFIG_FILE")
		}
	}
	os.Exit(m.Run())
}
