package vault

import "strings"

// readOnlyPolicy is the Vault ACL policy of a token that can run plans, refresh-only plans and
// drift reports and can change nothing: read and list on the provider's paths, plus the token
// look-ups that Vault serves only as POST (capability "update"), which change nothing.
// {{mount}} and {{approle_mount}} stand for the provider's KV v2 and AppRole mounts.
const readOnlyPolicy = `# terraform-provider-nhi, read-only: plan, refresh and nhi_drift_report; writes nothing.
path "auth/token/lookup-self" {
  capabilities = ["read"]
}

# Governance, identity, credential and secret-version records (KV v2).
path "{{mount}}/data/*" {
  capabilities = ["read"]
}
path "{{mount}}/metadata/*" {
  capabilities = ["read", "list"]
}

# AppRole roles (token settings and privileges) and their secret-id accessors.
path "auth/{{approle_mount}}/role" {
  capabilities = ["list"]
}
path "auth/{{approle_mount}}/role/*" {
  capabilities = ["read", "list"]
}

# Identity entities and their aliases.
path "identity/entity/name/*" {
  capabilities = ["read"]
}
path "identity/entity/id" {
  capabilities = ["list"]
}

# ACL policy names, to check that every identity's scopes name one.
path "sys/policies/acl" {
  capabilities = ["list"]
}

# Credential terms: Vault looks tokens up by accessor only through POST; this reads a token's
# TTL and expiry and changes nothing.
path "auth/token/lookup-accessor" {
  capabilities = ["update"]
}
`

// ReadOnlyPolicy returns the Vault ACL policy (HCL) for a read-only token of a provider whose
// records live on the KV v2 mount mount and whose identities on the AppRole mount approle:
// enough for plans, refresh and nhi_drift_report, and nothing that writes. The README and the
// provider documentation show it for the default mounts; a test keeps them equal.
func ReadOnlyPolicy(mount, approle string) string {
	return strings.NewReplacer("{{mount}}", mount, "{{approle_mount}}", approle).Replace(readOnlyPolicy)
}
