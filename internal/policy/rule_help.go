package policy

// ruleHelp says, for every rule, what it checks and how its findings are fixed in general; a
// finding's own Remedy names the object to fix. The SARIF rendering of a report reads it for
// its rule descriptions; TestRuleHelpComplete keeps it in step with ruleTitles.
var ruleHelp = map[string]struct{ Description, Remedy string }{
	RuleInvalidNamingPattern: {"A lifecycle class's naming_pattern is not a valid RE2 regular expression, so no identity name can be checked against it.",
		"Correct the expression in the class's naming_pattern."},
	RuleClassLifetimeBelowTTL: {"A lifecycle class allows a credential lifetime (max_lifetime) shorter than its largest TTL (max_ttl), so no policy can use the full TTL.",
		"Raise the class's max_lifetime or lower its max_ttl."},
	RuleUnlimitedRenewal: {"Renewable credentials have no hard lifetime: renewals can keep a temporary credential alive forever, a long-lived secret in disguise.",
		"Set max_lifetime (or, on a class, max_renewals) so that every credential has a hard expiry."},
	RuleLifetimeBelowTTL: {"A TTL policy's max_lifetime is shorter than its ttl, so a credential ends before its first TTL runs out.",
		"Raise max_lifetime or lower ttl."},
	RuleTTLAboveClassMax: {"A TTL policy grants a TTL above its class's max_ttl, without an active approved exception.",
		"Lower the policy's ttl, or add an exception with a reason, an approver and an expiry."},
	RuleLifetimeAboveClassMax: {"A TTL policy lets a credential live (through renewals) longer than its class's max_lifetime, without an active approved exception.",
		"Set the policy's max_lifetime within the class ceiling, or add an approved exception."},
	RuleRenewalsAboveClassMax: {"A TTL policy allows more renewals than its class's max_renewals, without an active approved exception.",
		"Lower max_renewals, set renewable = false, or add an approved exception."},
	RuleTTLPolicyOnPersistent: {"A TTL policy or its identity belongs to a persistent class, whose secrets are rotated rather than minted per task.",
		"Attach TTL policies to ephemeral classes; give persistent identities an nhi_rotation_schedule."},
	RuleTTLPolicyMissing: {"An identity of an ephemeral class has no TTL policy, so nothing bounds its dynamic credentials.",
		"Set the identity's ttl_policy to an nhi_ttl_policy of its class."},
	RuleTTLPolicyClass: {"An identity uses a TTL policy that belongs to another class, whose ceilings were never checked against its own class.",
		"Choose a TTL policy of the identity's class."},
	RuleOwnerMissing: {"An identity whose class requires an owner has none: nobody is accountable for it or will offboard it.",
		"Set owner to the team or person accountable for the identity."},
	RuleNamePattern: {"An identity's name does not match its class's naming_pattern.",
		"Rename the identity to match the pattern, or move it to the class it belongs to."},
	RuleEnvironment: {"An identity sits in an environment its class does not allow, so one class's credentials cross an environment boundary.",
		"Set the identity's environment to one the class allows, or use a class meant for that environment."},
	RuleExceptionIncomplete: {"A TTL policy's exception lacks its reason or its approver, so it exempts nothing.",
		"Set exception.reason and exception.approved_by."},
	RuleExceptionExpired: {"A TTL policy's exception from its class ceilings has expired; the policy is held to the ceilings again.",
		"Bring the policy within the class ceilings, or renew the exception with a new approval."},
	RuleRotationOnEphemeral: {"A rotation schedule governs an identity of an ephemeral class, which uses dynamic credentials instead of a rotated secret.",
		"Remove the schedule and use nhi_credential, or move the identity to a persistent class."},
	RuleRotationIntervalAboveMax: {"A rotation schedule leaves more time between rotations than its class's max_rotation_interval.",
		"Rotate more often: shorten interval, or use a cron expression that fires within the ceiling."},
	RuleConsumersMissing: {"A rotation schedule lists no consumers although its class requires them, so a rotation can break a system nobody knew used the secret.",
		"List every system that uses the secret in consumers."},
	RuleOverlapNotBelowInterval: {"A rotation schedule's overlap is at least its interval, so two secrets are valid at all times.",
		"Shorten overlap below the rotation interval."},
	RuleInvalidCron: {"A rotation schedule's cron expression does not parse, so the rotation never becomes due.",
		"Correct the cron expression (5 fields, UTC)."},
	RuleRotationOverdue: {"A persistent identity's secret was not rotated within its schedule's window: the secret lives longer than declared and adds to trust debt.",
		"Run terraform apply to rotate, and find out why the scheduled run did not."},
	RuleCredentialPastHardExpiry: {"A dynamic credential still works after the hard expiry the engine granted it.",
		"Revoke the credential and find what extended it."},
	RuleCredentialAboveClassMax: {"A dynamic credential is older than its class's max_lifetime.",
		"Revoke the credential; check the engine's caps for the identity."},
	RuleRenewalsPastBudget: {"A dynamic credential was renewed more often than its TTL policy allows.",
		"Revoke the credential and find what renews it."},
	RuleCredentialNoExpiry: {"A dynamic credential has no expiry at all: a static secret that nothing will retire.",
		"Revoke the credential; every dynamic credential must expire."},
	RuleRetiredWithCredential: {"A retired identity still has a working credential or secret: offboarding left a way in.",
		"Revoke the credential or destroy the secret version; retiring must leave nothing that works."},
	RuleSharedSecret: {"Two or more identities hold the same secret, so no audit trail can tell them apart and revoking one breaks the others.",
		"Rotate each identity's secret so that none is reused."},
	RuleUnmanagedIdentity: {"An identity in the engine was not created by this provider: no class, owner or policy governs it.",
		"Import it with nhi_identity and give it a class, or remove it from the engine."},
	RuleOrphanIdentity: {"An active identity's class has no governance record, so none of its ceilings apply.",
		"Declare the class with nhi_lifecycle_class, or retire the identity."},
	RuleInactive: {"An active identity has not been used (no credential or rotated secret authenticated) for longer than its class's max_idle, or was never used since it was created that long ago: a stale identity nobody offboarded (its idle time beyond max_idle is trust debt).",
		"Retire the identity (on_destroy = \"retire\", or the nhi_offboard action) if nothing needs it; otherwise find out why its consumers stopped using it."},
	RuleEngineDrift: {"What the engine enforces for an identity (its role's token settings, say) differs from what the identity declares.",
		"Run terraform apply on the identity's configuration to restore the declared settings."},

	RuleScopeNotAllowed: {"An identity holds a scope that none of its class's allowed_scopes patterns matches.",
		"Remove the scope, use a class meant for this access, or add an approved exception."},
	RuleScopeDenied: {"An identity holds a scope that matches one of its class's denied_scopes patterns.",
		"Remove the scope (grant a narrower one), or add an approved exception."},
	RuleScopesAboveClassMax: {"An identity holds more scopes than its class's max_scopes: one leaked credential reaches too much.",
		"Split the identity's duties between identities, or add an approved exception."},
	RuleCIDRNotAllowed: {"An identity's credentials work from addresses outside its class's allowed_cidrs (or from anywhere).",
		"Set bound_cidrs to networks inside the class's allowed_cidrs."},
	RuleBlastRadiusAboveClassMax: {"An identity's blast radius (scopes times the longest a leaked credential stays usable) is above its class's max_blast_radius.",
		"Hold fewer scopes or shorten the exposure window (TTL policy lifetime; rotation interval, window and overlap), or add an approved exception."},
	RuleUnboundedExposure: {"Nothing bounds how long one of an identity's credentials stays usable: a TTL policy renews without a hard lifetime, or a rotated secret has no schedule.",
		"Give the identity's TTL policy a max_lifetime, or give its rotated secret an nhi_rotation_schedule."},
	RulePrivilegeEscalation: {"The engine grants an identity privileges beyond its declared scopes, added out of band.",
		"Run terraform apply to remove the added privileges, and find out who granted them."},
	RulePrivilegeRemoved: {"The engine no longer grants privileges that an identity declares.",
		"Run terraform apply to restore the declared privileges, or remove them from the declaration."},
}

// ruleDoc is the title, description and remedy of a rule, as describeRules records them.
type ruleDoc struct{ title, description, remedy string }

// describeRules records the title and help of the rules that a file of this package adds
// beside its own rules (review.go, target.go), in ruleTitles and ruleHelp.
func describeRules(docs map[string]ruleDoc) {
	for rule, d := range docs {
		ruleTitles[rule] = d.title
		ruleHelp[rule] = struct{ Description, Remedy string }{d.description, d.remedy}
	}
}
