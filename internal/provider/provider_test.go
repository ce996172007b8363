package provider

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/terraform-plugin-framework/providerserver"
	"github.com/hashicorp/terraform-plugin-go/tfprotov6"
	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/plancheck"
	"github.com/hashicorp/terraform-plugin-testing/statecheck"
	"github.com/hashicorp/terraform-plugin-testing/terraform"

	"github.com/nhigov/terraform-provider-nhi/internal/acctest"
	"github.com/nhigov/terraform-provider-nhi/internal/clock"
	"github.com/nhigov/terraform-provider-nhi/internal/engine"
	"github.com/nhigov/terraform-provider-nhi/internal/engine/local"
	"github.com/nhigov/terraform-provider-nhi/internal/engine/vault"
)

// testEpoch is where every acceptance test's fake clock starts.
var testEpoch = time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)

// testEnv is one acceptance test's engine and fake clock, shared by every provider instance the
// test starts, so that tests can inspect and change the engine and move time between steps.
type testEnv struct {
	engine engine.Engine
	clock  *clock.Fake
}

// newTestEnv returns a fresh engine for one test. NHI_TEST_ENGINE selects it: "local" (the
// default) or another engine registered in testEngines.
func newTestEnv(t *testing.T) *testEnv {
	t.Helper()
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
		cfg := vault.Config{Mount: mount, AppRoleMount: mount + "-approle"}
		cfg.ApplyEnv()
		e, err := vault.Open(context.Background(), cfg, clk, func(string, map[string]any) {})
		if err != nil {
			t.Fatal(err)
		}
		acctest.VaultPolicies(t, e.Client())
		t.Cleanup(func() {
			// Leave the shared server as it was: the test's mounts go, and its entities with them.
			ctx := context.Background()
			if ids, err := e.ListIdentities(ctx); err == nil {
				for _, id := range ids {
					_, _ = e.Client().Logical().DeleteWithContext(ctx, "identity/entity/name/"+e.EntityName(id.Name))
				}
			}
			_ = e.Client().Sys().DisableAuthWithContext(ctx, e.AppRoleMount())
			_ = e.Client().Sys().UnmountWithContext(ctx, e.Mount())
			_ = e.Close()
		})
		return e
	},
}

func (env *testEnv) factories() map[string]func() (tfprotov6.ProviderServer, error) {
	return map[string]func() (tfprotov6.ProviderServer, error){
		"nhi": providerserver.NewProtocol6WithError(&nhiProvider{version: "test", engine: env.engine, clock: env.clock}),
	}
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
	resource.Test(t, resource.TestCase{ProtoV6ProviderFactories: env.factories(), Steps: steps})
}
