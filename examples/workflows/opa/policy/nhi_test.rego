# conftest verify --policy policy
package main

import rego.v1

change(type, actions, before, after) := {
	"address": sprintf("%s.x", [type]),
	"type": type,
	"change": {"actions": actions, "before": before, "after": after, "after_unknown": {}},
}

test_renewable_policy_without_max_lifetime if {
	count(deny) == 1 with input as {"resource_changes": [change("nhi_ttl_policy", ["create"], null, {"renewable": true, "max_lifetime": null})]}
}

test_renewable_policy_with_max_lifetime if {
	count(deny) == 0 with input as {"resource_changes": [change("nhi_ttl_policy", ["create"], null, {"renewable": true, "max_lifetime": "2h"})]}
}

test_identity_without_owner if {
	count(deny) == 1 with input as {"resource_changes": [change("nhi_identity", ["update"], {}, {"owner": null})]}
}

test_identity_owner_known_after_apply if {
	rc := object.union(change("nhi_identity", ["create"], null, {}), {"change": {"after_unknown": {"owner": true}}})
	count(deny) == 0 with input as {"resource_changes": [rc]}
}

test_ephemeral_class_without_max_lifetime if {
	count(deny) == 1 with input as {"resource_changes": [change("nhi_lifecycle_class", ["create"], null, {"kind": "ephemeral", "max_blast_radius": 12})]}
}

test_persistent_class_without_max_lifetime if {
	count(deny) == 0 with input as {"resource_changes": [change("nhi_lifecycle_class", ["create"], null, {"kind": "persistent", "max_blast_radius": 2400})]}
}

test_delete_prod_identity if {
	before := {"name": "billing-sync", "owner": "t", "environment": "prod", "on_destroy": "delete"}
	count(deny) == 1 with input as {"resource_changes": [change("nhi_identity", ["delete"], before, null)]}
}

test_retire_prod_identity if {
	before := {"name": "billing-sync", "owner": "t", "environment": "prod", "on_destroy": "retire"}
	count(deny) == 0 with input as {"resource_changes": [change("nhi_identity", ["delete"], before, null)]}
}

test_class_without_max_blast_radius if {
	count(deny) == 1 with input as {"resource_changes": [change("nhi_lifecycle_class", ["create"], null, {"kind": "persistent"})]}
}

test_class_max_blast_radius_above_house_limit if {
	count(deny) == 1 with input as {"resource_changes": [change("nhi_lifecycle_class", ["update"], {}, {"kind": "persistent", "max_blast_radius": 5000})]}
}

test_class_max_blast_radius_within_house_limit if {
	count(deny) == 0 with input as {"resource_changes": [change("nhi_lifecycle_class", ["create"], null, {"kind": "persistent", "max_blast_radius": 2400})]}
}
