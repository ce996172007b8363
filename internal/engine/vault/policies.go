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

# Governance (classes, TTL policies, owners, rotation schedules), identity, credential and secret-version records (KV v2).
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

# Targets (nhi_target): their connection configuration in the database secrets engine, and
# the current password of each target's inspector login (no privilege on the target; it reads
# the target's roles back for the drift checks).
path "{{mount}}-database/config/*" {
  capabilities = ["read"]
}
path "{{mount}}-database/static-creds/_inspect.*" {
  capabilities = ["read"]
}
`

// applyPolicy is the Vault ACL policy of the token that applies: everything readOnlyPolicy
// allows, plus the writes of the engine on its own mounts, identity entities and the tokens of
// its identities. The first write creates the two mounts when absent (ensureMounts), which
// takes the sys/mounts and sys/auth paths below (enabling an auth method needs "sudo"); an
// operator who creates both mounts beforehand can drop those two blocks.
const applyPolicy = `# terraform-provider-nhi, apply: everything the read-only policy allows, plus the provider's writes.
path "auth/token/lookup-self" {
  capabilities = ["read"]
}
# Renewal and revocation of the provider's own login token (auth_login_* blocks).
path "auth/token/renew-self" {
  capabilities = ["update"]
}
path "auth/token/revoke-self" {
  capabilities = ["update"]
}

# Lazy creation of the provider's mounts on the first write (drop when they exist).
path "sys/mounts" {
  capabilities = ["read"]
}
path "sys/mounts/{{mount}}" {
  capabilities = ["create", "update", "read"]
}
path "sys/auth" {
  capabilities = ["read"]
}
path "sys/auth/{{approle_mount}}" {
  capabilities = ["create", "update", "read", "sudo"]
}

# Governance (classes, TTL policies, owners, rotation schedules), identity, credential and secret-version records (KV v2).
path "{{mount}}/config" {
  capabilities = ["read"]
}
path "{{mount}}/data/*" {
  capabilities = ["create", "read", "update", "delete"]
}
path "{{mount}}/metadata/*" {
  capabilities = ["create", "read", "update", "delete", "list"]
}
path "{{mount}}/destroy/*" {
  capabilities = ["update"]
}

# AppRole roles of the identities, their role-ids and secret-ids.
path "auth/{{approle_mount}}/role" {
  capabilities = ["list"]
}
path "auth/{{approle_mount}}/role/*" {
  capabilities = ["create", "read", "update", "delete", "list"]
}
path "auth/{{approle_mount}}/tidy/secret-id" {
  capabilities = ["update"]
}

# Identity entities and their aliases.
path "identity/entity" {
  capabilities = ["create", "update"]
}
path "identity/entity/name/*" {
  capabilities = ["create", "read", "update", "delete"]
}
path "identity/entity/id" {
  capabilities = ["list"]
}
path "identity/entity/id/*" {
  capabilities = ["read", "update", "delete"]
}
path "identity/entity-alias" {
  capabilities = ["create", "update"]
}
path "identity/entity-alias/id/*" {
  capabilities = ["read", "update", "delete"]
}

# ACL policy names, to check that every identity's scopes name one.
path "sys/policies/acl" {
  capabilities = ["list"]
}

# Credential terms, renewal and revocation of the identities' tokens (POST look-ups).
path "auth/token/lookup-accessor" {
  capabilities = ["update"]
}
path "auth/token/lookup" {
  capabilities = ["update"]
}
path "auth/token/renew" {
  capabilities = ["update"]
}
path "auth/token/revoke-accessor" {
  capabilities = ["update"]
}

# Targets (nhi_target): the database secrets engine, enabled on the first target write, with
# one connection configuration per target.
path "sys/mounts/{{mount}}-database" {
  capabilities = ["create", "update", "read"]
}
path "{{mount}}-database/config/*" {
  capabilities = ["create", "read", "update", "delete"]
}
# The dynamic roles of each identity on a target (one per distinct terms) and their logins
# (leases).
path "{{mount}}-database/roles/*" {
  capabilities = ["create", "read", "update", "delete", "list"]
}
path "{{mount}}-database/creds/*" {
  capabilities = ["read"]
}
# The inspector login of each target: its static role and its password.
path "{{mount}}-database/static-roles/_inspect.*" {
  capabilities = ["create", "read", "update", "delete"]
}
path "{{mount}}-database/static-creds/_inspect.*" {
  capabilities = ["read"]
}
# The static roles earlier versions made for alternating rotated logins: deleted on their
# identity's next staging, retire or delete.
path "{{mount}}-database/static-roles/_rotated.*" {
  capabilities = ["delete"]
}
# Renewal and revocation of the leases of that mount only: the lease id is in the path.
path "sys/leases/renew/{{mount}}-database/creds/*" {
  capabilities = ["update"]
}
path "sys/leases/revoke/{{mount}}-database/creds/*" {
  capabilities = ["update"]
}
`

// ApplyPolicy returns the Vault ACL policy (HCL) for the token that applies, for a provider
// whose records live on the KV v2 mount mount and whose identities on the AppRole mount
// approle. docs/guides/vault.md shows it for the default mounts; a test keeps them equal, and
// the Vault acceptance suite runs with a token that holds exactly this policy.
func ApplyPolicy(mount, approle string) string {
	return fillMounts(applyPolicy, mount, approle)
}

// ReadOnlyPolicy returns the Vault ACL policy (HCL) for a read-only token of a provider whose
// records live on the KV v2 mount mount and whose identities on the AppRole mount approle:
// enough for plans, refresh and nhi_drift_report, and nothing that writes. The README, the
// provider documentation and docs/guides/vault.md show it for the default mounts; a test keeps
// them equal.
func ReadOnlyPolicy(mount, approle string) string {
	return fillMounts(readOnlyPolicy, mount, approle)
}

func fillMounts(policy, mount, approle string) string {
	return strings.NewReplacer("{{mount}}", mount, "{{approle_mount}}", approle).Replace(policy)
}
