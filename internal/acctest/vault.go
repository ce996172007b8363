package acctest

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"

	"github.com/hashicorp/vault/api"
)

// FixtureScopes are the scopes the shared test fixtures give identities. On Vault a scope is
// an ACL policy that must exist, so tests against Vault write these first (VaultPolicies).
var FixtureScopes = []string{
	"read:artifacts", "write:releases", "write:cache", "read:kv", "ci-read", "ci-write", "ci-admin", "billing-read", "billing-write", "kv-read",
}

// fixturePolicy grants nothing: the fixtures' scopes only need to exist.
const fixturePolicy = `path "nhi-fixture/nothing" { capabilities = ["deny"] }`

// VaultPolicies writes an ACL policy named after each of names (FixtureScopes when none) that
// grants nothing, unless one of that name exists. Policies are global to the server; tests on
// one server share them, and they are left in place.
func VaultPolicies(t testing.TB, c *api.Client, names ...string) {
	t.Helper()
	if len(names) == 0 {
		names = FixtureScopes
	}
	ctx := context.Background()
	have, err := c.Sys().ListPoliciesWithContext(ctx)
	if err != nil {
		t.Fatalf("listing Vault's ACL policies: %v", err)
	}
	for _, n := range names {
		if slices.Contains(have, n) {
			continue
		}
		if err := c.Sys().PutPolicyWithContext(ctx, n, fixturePolicy); err != nil {
			t.Fatalf("writing Vault ACL policy %q: %v", n, err)
		}
	}
}

// VaultToken writes the ACL policy name with the HCL policy and returns a token (15 minutes)
// holding exactly that policy, without Vault's default policy; the policy is deleted when the
// test ends.
func VaultToken(t testing.TB, c *api.Client, name, policy string) string {
	t.Helper()
	ctx := context.Background()
	if err := c.Sys().PutPolicyWithContext(ctx, name, policy); err != nil {
		t.Fatalf("writing Vault ACL policy %q: %v", name, err)
	}
	t.Cleanup(func() { _ = c.Sys().DeletePolicyWithContext(context.Background(), name) })
	tok, err := c.Auth().Token().CreateWithContext(ctx, &api.TokenCreateRequest{Policies: []string{name}, NoDefaultPolicy: true, TTL: "15m"})
	if err != nil {
		t.Fatalf("creating a token with policy %q: %v", name, err)
	}
	return tok.Auth.ClientToken
}

var vaultAudit struct {
	once sync.Once
	path string
	err  error
}

// VaultAuditLog enables, once per test process, a file audit device on the Vault at VAULT_ADDR
// (with VAULT_TOKEN, which must be allowed to enable audit devices: a dev server's root token)
// and returns the path of its log, for engines that read last use from it
// (vault.Config.AuditLogPath). The device stays enabled, and its file in place, as long as the
// server runs: Vault refuses every request when its only audit device cannot write, so neither
// is removed while another test may still be running. scripts/vault-dev starts a server per
// run, so a device outlives no run.
func VaultAuditLog(t testing.TB) string {
	t.Helper()
	vaultAudit.once.Do(func() {
		c, err := api.NewClient(api.DefaultConfig())
		if err != nil {
			vaultAudit.err = err
			return
		}
		name := fmt.Sprintf("nhi-test-%d", os.Getpid())
		path := filepath.Join(os.TempDir(), name+"-audit.log")
		vaultAudit.err = c.Sys().EnableAuditWithOptionsWithContext(context.Background(), name,
			&api.EnableAuditOptions{Type: "file", Options: map[string]string{"file_path": path}})
		vaultAudit.path = path
	})
	if vaultAudit.err != nil {
		t.Fatalf("enabling a file audit device on %s: %v", os.Getenv("VAULT_ADDR"), vaultAudit.err)
	}
	return vaultAudit.path
}
