# A second gate on the plan, after the provider's own plan-time checks: house rules that are
# stricter than the lifecycle classes, evaluated on `terraform show -json plan.out`.
#
#   conftest test --policy policy plan.json
package main

import rego.v1

# The resource changes of a type that create or update it (replacements included).
writes(type) := [rc |
	some rc in input.resource_changes
	rc.type == type
	some action in rc.change.actions
	action in {"create", "update"}
]

# unset holds when the planned value of key is null or empty, and not merely unknown until apply.
unset(rc, key) if {
	not rc.change.after_unknown[key]
	object.get(rc.change.after, key, null) in {null, ""}
}

deny contains msg if {
	some rc in writes("nhi_ttl_policy")
	rc.change.after.renewable == true
	unset(rc, "max_lifetime")
	msg := sprintf("%s: renewable without max_lifetime: set a hard expiry so renewals cannot keep a credential alive (NHI7)", [rc.address])
}

deny contains msg if {
	some rc in writes("nhi_identity")
	unset(rc, "owner")
	msg := sprintf("%s: no owner: every identity needs an accountable team (NHI1)", [rc.address])
}

deny contains msg if {
	some rc in writes("nhi_lifecycle_class")
	rc.change.after.kind == "ephemeral"
	unset(rc, "max_lifetime")
	msg := sprintf("%s: ephemeral class without max_lifetime: its credentials need a hard expiry (NHI7)", [rc.address])
}

deny contains msg if {
	some rc in input.resource_changes
	rc.type == "nhi_identity"
	"delete" in rc.change.actions
	rc.change.before.on_destroy == "delete"
	rc.change.before.environment == "prod"
	msg := sprintf("%s: deletes prod identity %q and its audit record (on_destroy = \"delete\"): use on_destroy = \"retire\" (NHI1)", [rc.address, rc.change.before.name])
}

# The house ceiling on blast radius, in scope-hours: how much access one leaked credential may
# reach (its identity's scopes times its exposure window in hours). One scope whose secret is
# rotated every 90 days with a day's window and an hour's overlap is 2209. Every class must set
# max_blast_radius, at most this; the provider then refuses, at plan, every identity of the class
# above it.
max_blast_radius := 2400

deny contains msg if {
	some rc in writes("nhi_lifecycle_class")
	unset(rc, "max_blast_radius")
	msg := sprintf("%s: no max_blast_radius: cap the access one leaked credential reaches, at most %v scope-hours (NHI5)", [rc.address, max_blast_radius])
}

deny contains msg if {
	some rc in writes("nhi_lifecycle_class")
	r := rc.change.after.max_blast_radius
	is_number(r)
	r > max_blast_radius
	msg := sprintf("%s: max_blast_radius %v is above the house limit of %v scope-hours (NHI5)", [rc.address, r, max_blast_radius])
}
