# Shared by scripts/crash-test and scripts/ha-apply-test (sourced, not run): Terraform with the
# provider built in .bin, bounded steps, timing, and the ACL policy the trials' identities carry
# on Vault. The sourcing script sets root, terraform and step_timeout first.

# use_dev_provider WORK: points Terraform at the provider in $root/.bin (dev_overrides) for the
# rest of the script, with no logging.
use_dev_provider() {
  cat >"$1/dev.tfrc" <<TFRC
provider_installation {
  dev_overrides {
    "registry.terraform.io/nhigov/nhi" = "$root/.bin"
  }
  direct {}
}
TFRC
  export TF_CLI_CONFIG_FILE="$1/dev.tfrc"
  export TF_IN_AUTOMATION=1
  unset TF_LOG TF_LOG_PROVIDER NHI_LOCAL_PATH 2>/dev/null || true
}

# write_scope_policy ADDR: on Vault a scope is an ACL policy that must exist: writes the one the
# trials' identities carry (granting nothing), as the Go tests' acctest.VaultPolicies does.
write_scope_policy() {
  curl -sSf -o /dev/null ${VAULT_CACERT:+--cacert "$VAULT_CACERT"} -H "X-Vault-Token: $VAULT_TOKEN" -X PUT \
    -d '{"policy":"path \"nhi-fixture/nothing\" { capabilities = [\"deny\"] }"}' \
    "$1/v1/sys/policies/acl/read:artifacts"
}

# random_mount PREFIX: a fresh mount name for one trial.
random_mount() { echo "$1-$(od -An -N4 -tx1 /dev/urandom | tr -d ' \n')"; }

tf() { timeout --kill-after=10 "$step_timeout" "$terraform" "$@"; }
now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.2f", b - a }'; }
