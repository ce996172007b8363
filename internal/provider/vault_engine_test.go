package provider

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"testing"
	"time"

	"github.com/hashicorp/terraform-plugin-framework/providerserver"
	"github.com/hashicorp/terraform-plugin-go/tfprotov6"
	"github.com/hashicorp/terraform-plugin-testing/helper/resource"
	"github.com/hashicorp/terraform-plugin-testing/knownvalue"
	"github.com/hashicorp/terraform-plugin-testing/plancheck"
	"github.com/hashicorp/terraform-plugin-testing/statecheck"
	"github.com/hashicorp/terraform-plugin-testing/terraform"
	"github.com/hashicorp/vault/api"

	"github.com/nhigov/terraform-provider-nhi/internal/acctest"
	"github.com/nhigov/terraform-provider-nhi/internal/engine"
	"github.com/nhigov/terraform-provider-nhi/internal/engine/vault"
	"github.com/nhigov/terraform-provider-nhi/internal/policy"
)

// These tests check, in Vault itself, what the Vault engine promises: drift read back from
// Vault and restored by apply, retirement leaving no working credential, and an apply cut off
// by a Vault outage converging on the next apply without orphans.

// newVaultTestEnv returns a test environment on the Vault engine, whose token holds exactly
// vault.ApplyPolicy, or skips the test. The engine of testEngines removes the test's mounts
// and entities from Vault when the test ends.
func newVaultTestEnv(t *testing.T) (*testEnv, *vault.Engine) {
	t.Helper()
	if os.Getenv("NHI_TEST_ENGINE") != "vault" || os.Getenv("VAULT_ADDR") == "" {
		t.Skip("Vault engine test: set NHI_TEST_ENGINE=vault and VAULT_ADDR/VAULT_TOKEN (start a dev server with `eval \"$(scripts/vault-dev start)\"`)")
	}
	env := newTestEnv(t)
	ve, ok := env.engine.(*vault.Engine)
	if !ok {
		t.Fatalf("NHI_TEST_ENGINE=vault opened a %T, not a *vault.Engine", env.engine)
	}
	return env, ve
}

// vaultRoot is a client of the test's Vault with the root token of VAULT_TOKEN, for set-up
// that the engine's apply-policy token may not do (ACL policies, tokens of other policies).
func vaultRoot(t *testing.T, ve *vault.Engine) *api.Client {
	t.Helper()
	return vaultAs(t, ve, os.Getenv("VAULT_TOKEN"))
}

// roleGrantsOnly checks that identity's AppRole role grants exactly the policies want (as
// fmt.Sprint prints the list) and not Vault's default policy.
func roleGrantsOnly(ve *vault.Engine, identity, want string) resource.TestCheckFunc {
	return func(*terraform.State) error {
		role, err := readRole(ve, identity)
		if err != nil {
			return err
		}
		if p, nd := fmt.Sprint(role["token_policies"]), role["token_no_default_policy"]; p != want || nd != true {
			return fmt.Errorf("role %s has token_policies %s, token_no_default_policy %v; want %s, true", identity, p, nd, want)
		}
		return nil
	}
}

func rolePath(ve *vault.Engine, identity string) string {
	return "auth/" + ve.AppRoleMount() + "/role/" + ve.RoleName(identity)
}

// readRole reads an identity's AppRole role straight from Vault.
func readRole(ve *vault.Engine, identity string) (map[string]any, error) {
	s, err := ve.Client().Logical().Read(rolePath(ve, identity))
	if err != nil || s == nil {
		return nil, fmt.Errorf("reading role %s: %v (answer %v)", rolePath(ve, identity), err, s)
	}
	return s.Data, nil
}

// vaultAs is a client of the same Vault that sends token, or none when token is empty.
func vaultAs(t *testing.T, ve *vault.Engine, token string) *api.Client {
	t.Helper()
	c, err := ve.Client().Clone()
	if err != nil {
		t.Fatal(err)
	}
	c.SetToken(token)
	c.SetMaxRetries(0)
	return c
}

// tokenLive asks Vault, with the engine's token, whether token is live. (An identity's tokens
// hold only its scopes, without Vault's default policy that would let them look themselves up.)
func tokenLive(ve *vault.Engine, token string) error {
	_, err := ve.Client().Logical().Write("auth/token/lookup", map[string]any{"token": token})
	return err
}

// appRoleLogin logs in to the identities' AppRole mount with role_id and secretID.
func appRoleLogin(t *testing.T, ve *vault.Engine, roleID, secretID string) error {
	_, err := vaultAs(t, ve, "").Logical().Write("auth/"+ve.AppRoleMount()+"/login", map[string]any{"role_id": roleID, "secret_id": secretID})
	return err
}

// expectPriorDrift is a plan check: the refresh before the plan found exactly want in the
// engine_drift of the resource at address.
type expectPriorDrift struct {
	address string
	want    []string
}

func (c expectPriorDrift) CheckPlan(_ context.Context, req plancheck.CheckPlanRequest, resp *plancheck.CheckPlanResponse) {
	if req.Plan.PriorState == nil || req.Plan.PriorState.Values == nil || req.Plan.PriorState.Values.RootModule == nil {
		resp.Error = errors.New("the plan has no prior state")
		return
	}
	for _, r := range req.Plan.PriorState.Values.RootModule.Resources {
		if r.Address != c.address {
			continue
		}
		raw, _ := r.AttributeValues["engine_drift"].([]any)
		var got []string
		for _, v := range raw {
			got = append(got, fmt.Sprint(v))
		}
		if !slices.Equal(got, c.want) {
			resp.Error = fmt.Errorf("%s: refreshed engine_drift = %q, want %q", c.address, got, c.want)
		}
		return
	}
	resp.Error = fmt.Errorf("%s is not in the prior state", c.address)
}

// TestAccVault_roleDriftRestored: an AppRole role edited by hand shows in engine_drift at
// refresh, the plan restores it with an update, and apply writes the declared terms again.
func TestAccVault_roleDriftRestored(t *testing.T) {
	env, ve := newVaultTestEnv(t)
	noDrift := expectAttr("nhi_identity.build", "engine_drift", knownvalue.ListExact([]knownvalue.Check{}))
	env.unitTest(t, []resource.TestStep{
		{
			Config:            identityConfig("team-build", "retire"),
			ConfigStateChecks: []statecheck.StateCheck{noDrift},
		},
		{
			// Out of band: the role's tokens made long-lived and renewable forever.
			PreConfig: func() {
				_, err := ve.Client().Logical().Write(rolePath(ve, "ci-build"), map[string]any{"token_explicit_max_ttl": 28800, "token_period": 3600})
				if err != nil {
					t.Fatal(err)
				}
			},
			Config: identityConfig("team-build", "retire"),
			ConfigPlanChecks: resource.ConfigPlanChecks{
				PreApply: []plancheck.PlanCheck{
					expectPriorDrift{"nhi_identity.build", []string{
						"role token_explicit_max_ttl is 28800s, declared 3600s",
						"role token_period is 3600s, declared 0",
					}},
					expectUpdate("nhi_identity.build"),
					expectPlannedAttr("nhi_identity.build", "engine_drift", knownvalue.ListExact([]knownvalue.Check{})),
				},
			},
			ConfigStateChecks: []statecheck.StateCheck{noDrift},
			Check: func(*terraform.State) error {
				role, err := readRole(ve, "ci-build")
				if err != nil {
					return err
				}
				if m, p := fmt.Sprint(role["token_explicit_max_ttl"]), fmt.Sprint(role["token_period"]); m != "3600" || p != "0" {
					return fmt.Errorf("after apply the role has token_explicit_max_ttl %s and token_period %s, want the declared 3600 and 0", m, p)
				}
				return nil
			},
		},
	})
}

// TestAccVault_retireLeavesNoWorkingCredential: after destroy (on_destroy = retire) Vault
// refuses the identity's token, its role holds no secret-id, and a secret-id minted before
// the destroy logs in no more.
func TestAccVault_retireLeavesNoWorkingCredential(t *testing.T) {
	env, ve := newVaultTestEnv(t)
	ctx := context.Background()
	var token, roleID, savedSecretID string
	resource.UnitTest(t, resource.TestCase{
		ProtoV6ProviderFactories: env.factories(),
		CheckDestroy: func(*terraform.State) error {
			if err := tokenLive(ve, token); err == nil {
				return errors.New("Vault still accepts the retired identity's token")
			}
			left, err := ve.Client().Logical().List(rolePath(ve, "ci-build") + "/secret-id")
			if err != nil {
				return err
			}
			if left != nil && len(anySlice(left.Data["keys"])) > 0 {
				return fmt.Errorf("the retired identity's role still has secret-ids: %v", left.Data["keys"])
			}
			if err := appRoleLogin(t, ve, roleID, savedSecretID); err == nil {
				return errors.New("a secret-id minted before retirement still logs in")
			}
			id, err := env.engine.GetIdentity(ctx, "ci-build")
			if err != nil || !id.Retired() || len(id.EngineDrift) != 0 {
				return fmt.Errorf("after destroy the engine holds %+v (drift %q), %v; want retired without drift", id, id.EngineDrift, err)
			}
			return nil
		},
		Steps: []resource.TestStep{{
			Config: identityConfig("team-build", "retire"),
			Check: func(*terraform.State) error {
				var err error
				if _, token, err = env.engine.IssueCredential(ctx, engine.CredentialRequest{Identity: "ci-build", Requester: "test"}); err != nil {
					return err
				}
				if err := tokenLive(ve, token); err != nil {
					return fmt.Errorf("Vault refuses a fresh token: %w", err)
				}
				s, err := ve.Client().Logical().Read(rolePath(ve, "ci-build") + "/role-id")
				if err != nil || s == nil {
					return fmt.Errorf("reading the role_id: %v", err)
				}
				var ok bool
				if roleID, ok = s.Data["role_id"].(string); !ok {
					return fmt.Errorf("role_id is %T, want a string", s.Data["role_id"])
				}
				// Two secret-ids minted by hand, as an operator might: one proves that such a
				// secret-id works, the other is kept for after the destroy.
				var minted []string
				for range 2 {
					s, err := ve.Client().Logical().Write(rolePath(ve, "ci-build")+"/secret-id", nil)
					if err != nil {
						return err
					}
					id, ok := s.Data["secret_id"].(string)
					if !ok {
						return fmt.Errorf("secret_id is %T, want a string", s.Data["secret_id"])
					}
					minted = append(minted, id)
				}
				savedSecretID = minted[1]
				if err := appRoleLogin(t, ve, roleID, minted[0]); err != nil {
					return fmt.Errorf("a secret-id minted by hand does not log in before retirement: %w", err)
				}
				return nil
			},
		}},
	})
}

// outageIdentities declares four identities, created one after another.
func outageIdentities() string {
	out := governanceConfig
	prev := ""
	for _, name := range []string{"a", "b", "c", "d"} {
		dependsOn := ""
		if prev != "" {
			dependsOn = "depends_on = [nhi_identity." + prev + "]"
		}
		out += fmt.Sprintf(`
resource "nhi_identity" %[1]q {
  name        = "ci-%[1]s"
  class       = nhi_lifecycle_class.ci.name
  owner       = "team-build"
  environment = "dev"
  ttl_policy  = nhi_ttl_policy.short.name
  on_destroy  = "delete"
  %[2]s
}
`, name, dependsOn)
		prev = name
	}
	return out
}

// outageRequests is how many requests the outage lets through once the apply writes: the
// first identity's create and read-back, then the second's checks, claim, role and role_id,
// so that Vault goes away before the second identity's entity is written. (Should the
// provider's request counts change, the cut lands elsewhere and the test still holds; the
// engine's own tests cut a create after every one of its requests.)
const outageRequests = 28

// TestAccVault_outageMidApply cuts Vault off in the middle of an apply that creates several
// identities: the apply fails naming the Vault request, the next apply converges, and every
// role and entity on the mount belongs to a complete identity record.
func TestAccVault_outageMidApply(t *testing.T) {
	env, ve := newVaultTestEnv(t)
	ctx := context.Background()
	proxy := acctest.NewProxy(t, os.Getenv("VAULT_ADDR"))
	// The outage lasts until the next step: one attempt per request, no retry window to wait out.
	cfg := vault.Config{Address: proxy.URL, Mount: ve.Mount(), AppRoleMount: ve.AppRoleMount(), RetryWindow: time.Millisecond}
	cfg.ApplyEnv()
	proxied, err := vault.Open(ctx, cfg, env.clock, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = proxied.Close() })
	factories := map[string]func() (tfprotov6.ProviderServer, error){
		"nhi": providerserver.NewProtocol6WithError(&nhiProvider{version: "test", engine: proxied, clock: env.clock}),
	}
	names := []string{"ci-a", "ci-b", "ci-c", "ci-d"}
	noOrphans := func(want []string) error {
		unmanaged, err := ve.ListUnmanaged(ctx)
		if err != nil || len(unmanaged) != 0 {
			return fmt.Errorf("roles or entities without an identity record: %q, %v", unmanaged, err)
		}
		ids, err := env.engine.ListIdentities(ctx)
		if err != nil {
			return err
		}
		var got []string
		for _, id := range ids {
			got = append(got, id.Name)
			full, err := env.engine.GetIdentity(ctx, id.Name)
			if err != nil || len(full.EngineDrift) != 0 {
				return fmt.Errorf("identity %q is not whole in Vault: drift %q, %v", id.Name, full.EngineDrift, err)
			}
		}
		if !slices.Equal(got, want) {
			return fmt.Errorf("identity records %q, want %q", got, want)
		}
		return nil
	}
	resource.UnitTest(t, resource.TestCase{
		ProtoV6ProviderFactories: factories,
		CheckDestroy:             func(*terraform.State) error { return noOrphans(nil) },
		Steps: []resource.TestStep{
			{Config: governanceConfig},
			{
				PreConfig:   func() { proxy.FailAfterFirstWrite(outageRequests) },
				Config:      outageIdentities(),
				ExpectError: regexp.MustCompile(`Engine Unavailable[\s\S]*answered\s+503\s+to\s+(read|write|list|delete)\s+(auth|identity|nhi-acc-)\S+`),
			},
			{
				PreConfig: func() {
					if failed := proxy.Heal(); failed == 0 {
						t.Fatal("the outage failed no request")
					}
					if id, err := env.engine.GetIdentity(ctx, "ci-b"); err == nil {
						t.Logf("the outage left identity ci-b unfinished: %q", id.EngineDrift)
					}
					id, err := env.engine.GetIdentity(ctx, "ci-a")
					if err != nil || len(id.EngineDrift) != 0 {
						t.Fatalf("the identity created before the outage: %+v (drift %q), %v", id, id.EngineDrift, err)
					}
				},
				Config: outageIdentities(),
				Check:  func(*terraform.State) error { return noOrphans(names) },
			},
		},
	})
}

// anySlice is v as a list, or nil when it is not one.
func anySlice(v any) []any {
	xs, _ := v.([]any)
	return xs
}

// TestAccVault_readOnlyToken: after root created the fleet (and a credential), a token holding
// only vault.ReadOnlyPolicy, without Vault's default policy, plans, refreshes and reads
// nhi_drift_report; the same token is refused a write, so the policy really is read-only.
func TestAccVault_readOnlyToken(t *testing.T) {
	env, ve := newVaultTestEnv(t)
	ctx := context.Background()
	// The owner record is read back too: by its resource, by the identity it owns and by the report.
	cfg := scheduleConfig(intervalSchedule) + buildIdentityHCL("team-build") + ownerHCL("team", "team-build", "team", "active") + `
data "nhi_drift_report" "gate" {
  fail_on = "high"
}
`
	// current is the engine the next provider instance gets: root first, then read-only.
	current := env.engine
	factories := map[string]func() (tfprotov6.ProviderServer, error){
		"nhi": func() (tfprotov6.ProviderServer, error) {
			return providerserver.NewProtocol6WithError(&nhiProvider{version: "test", engine: current, clock: env.clock})()
		},
	}
	readOnly := func() {
		policyName := ve.Mount() + "-readonly"
		tok := acctest.VaultToken(t, vaultRoot(t, ve), policyName, vault.ReadOnlyPolicy(ve.Mount(), ve.AppRoleMount()))
		cfg := vault.Config{Token: tok, Mount: ve.Mount(), AppRoleMount: ve.AppRoleMount()}
		cfg.ApplyEnv()
		ro, err := vault.Open(ctx, cfg, env.clock, nil)
		if err != nil {
			t.Fatalf("Open with the read-only token: %v", err)
		}
		if err := ro.PutClass(ctx, policy.Class{Name: "ro-probe", Kind: policy.KindEphemeral}); !errors.Is(err, engine.ErrDenied) {
			t.Fatalf("a write with the read-only token: error = %v, want ErrDenied", err)
		}
		current = ro
	}
	resource.UnitTest(t, resource.TestCase{
		ProtoV6ProviderFactories: factories,
		Steps: []resource.TestStep{
			{
				Config: cfg,
				Check: func(*terraform.State) error {
					_, _, err := env.engine.IssueCredential(ctx, engine.CredentialRequest{Identity: "ci-build", Requester: "test"})
					return err
				},
			},
			// plan -refresh=false, then plan with refresh, and the drift report read at plan.
			{PreConfig: readOnly, Config: cfg, PlanOnly: true},
			{RefreshState: true},
			// The destroy at the end needs a token that can write again.
			{PreConfig: func() { current = env.engine }, Config: cfg, PlanOnly: true},
		},
	})
}

// TestAccVault_driftReportSeesRoleDrift: the role of an identity changed out of band (tokens
// made periodic, without explicit max TTL) is a high engine-drift finding in nhi_drift_report,
// the same as on nhi_identity, and fail_on = "high" fails the plan on it.
func TestAccVault_driftReportSeesRoleDrift(t *testing.T) {
	env, ve := newVaultTestEnv(t)
	cfg := identityConfig("team-build", "retire")
	report := cfg + `
data "nhi_drift_report" "all" {}
`
	observed := "role token_explicit_max_ttl is 0, declared 3600s; role token_period is 86400s, declared 0"
	env.unitTest(t, []resource.TestStep{
		{
			Config: report,
			ConfigStateChecks: []statecheck.StateCheck{
				expectAttr("data.nhi_drift_report.all", "findings", knownvalue.ListSizeExact(0)),
			},
		},
		{
			PreConfig: func() {
				_, err := ve.Client().Logical().Write(rolePath(ve, "ci-build"), map[string]any{"token_period": "24h", "token_explicit_max_ttl": 0})
				if err != nil {
					t.Fatal(err)
				}
			},
			Config:      cfg + "\ndata \"nhi_drift_report\" \"gate\" {\n  fail_on = \"high\"\n}\n",
			ExpectError: regexp.MustCompile(`Drift Report Failed[\s\S]*identity/ci-build[\s\S]*engine-drift`),
		},
		{
			// The report is read at plan, before this apply restores the role.
			Config: report,
			ConfigPlanChecks: resource.ConfigPlanChecks{
				PreApply: []plancheck.PlanCheck{
					expectPriorDrift{"nhi_identity.build", []string{
						"role token_explicit_max_ttl is 0, declared 3600s",
						"role token_period is 86400s, declared 0",
					}},
				},
			},
			ConfigStateChecks: []statecheck.StateCheck{
				expectAttr("data.nhi_drift_report.all", "findings", knownvalue.ListExact([]knownvalue.Check{
					knownvalue.ObjectPartial(map[string]knownvalue.Check{
						"rule":     knownvalue.StringExact(policy.RuleEngineDrift),
						"severity": knownvalue.StringExact(string(policy.SeverityHigh)),
						"subject":  knownvalue.StringExact("identity/ci-build"),
						"observed": knownvalue.StringExact(observed),
					}),
				})),
			},
		},
	})
}

// TestAccVault_appRoleLogin: the provider as Terraform runs it (no injected engine) logs in
// with auth_login_approle and secret_id_file to a role holding exactly vault.ApplyPolicy,
// applies, and Shutdown revokes every token it logged in for.
func TestAccVault_appRoleLogin(t *testing.T) {
	if os.Getenv("NHI_TEST_ENGINE") != "vault" || os.Getenv("VAULT_ADDR") == "" {
		t.Skip("Vault engine test: set NHI_TEST_ENGINE=vault and VAULT_ADDR/VAULT_TOKEN")
	}
	root, err := api.NewClient(api.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	suffix := make([]byte, 4)
	_, _ = rand.Read(suffix)
	mount := "nhi-login-" + hex.EncodeToString(suffix)
	login := mount + "-provider"
	acctest.VaultPolicies(t, root)
	if err := root.Sys().PutPolicy(mount+"-apply", vault.ApplyPolicy(mount, mount+"-approle")); err != nil {
		t.Fatal(err)
	}
	if err := root.Sys().EnableAuthWithOptions(login, &api.EnableAuthOptions{Type: "approle"}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = root.Sys().DisableAuth(login)
		_ = root.Sys().DisableAuth(mount + "-approle")
		_ = root.Sys().Unmount(mount)
		_ = root.Sys().DeletePolicy(mount + "-apply")
	})
	if _, err := root.Logical().Write("auth/"+login+"/role/nhi", map[string]any{
		"token_policies": []string{mount + "-apply"}, "token_no_default_policy": true, "token_ttl": "5m"}); err != nil {
		t.Fatal(err)
	}
	s, err := root.Logical().Read("auth/" + login + "/role/nhi/role-id")
	if err != nil {
		t.Fatal(err)
	}
	sid, err := root.Logical().Write("auth/"+login+"/role/nhi/secret-id", map[string]any{"num_uses": 0})
	if err != nil {
		t.Fatal(err)
	}
	secretID, _ := sid.Data["secret_id"].(string)
	sidFile := filepath.Join(t.TempDir(), "secret-id")
	if err := os.WriteFile(sidFile, []byte(secretID), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := fmt.Sprintf(`
provider "nhi" {
  vault {
    mount         = %q
    approle_mount = "%s-approle"
    auth_login_approle {
      mount          = %q
      role_id        = %q
      secret_id_file = %q
    }
  }
}

resource "nhi_lifecycle_class" "ci" {
  name         = "ci"
  kind         = "ephemeral"
  max_ttl      = "1h"
  max_lifetime = "4h"
}
`, mount, mount, login, s.Data["role_id"], sidFile)
	resource.Test(t, resource.TestCase{
		ProtoV6ProviderFactories: realProviderFactories(),
		Steps: []resource.TestStep{{
			Config: cfg,
			Check: func(*terraform.State) error {
				_, err := root.Logical().Read(mount + "/data/classes/ci")
				return err
			},
		}},
	})
	// Every token of the provider's login role is revoked by Shutdown.
	live := func() int {
		list, err := root.Logical().List("auth/token/accessors")
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, a := range anySlice(list.Data["keys"]) {
			info, err := root.Logical().Write("auth/token/lookup-accessor", map[string]any{"accessor": a})
			if err == nil && info != nil && info.Data["path"] == "auth/"+login+"/login" {
				n++
			}
		}
		return n
	}
	if live() == 0 {
		t.Fatal("no live token of the login role before Shutdown: the provider did not log in with auth_login_approle")
	}
	Shutdown()
	if n := live(); n != 0 {
		t.Fatalf("%d tokens of the provider's login role still live after Shutdown", n)
	}
}
