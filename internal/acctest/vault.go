package acctest

import (
	"context"
	"slices"
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
