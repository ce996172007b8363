package policy

import (
	"fmt"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Rule identifiers. Each rule is written once, here, and used at plan time, at refresh and in
// drift reports alike.
const (
	RuleInvalidNamingPattern  = "invalid-naming-pattern"
	RuleClassLifetimeBelowTTL = "class-lifetime-below-ttl"
	RuleUnlimitedRenewal      = "unlimited-renewal"
	RuleLifetimeBelowTTL      = "lifetime-below-ttl"
	RuleTTLAboveClassMax      = "ttl-above-class-max"
	RuleLifetimeAboveClassMax = "lifetime-above-class-max"
	RuleRenewalsAboveClassMax = "renewals-above-class-max"
	RuleTTLPolicyOnPersistent = "ttl-policy-on-persistent"
	RuleTTLPolicyMissing      = "ttl-policy-missing"
	RuleTTLPolicyClass        = "ttl-policy-class-mismatch"
	RuleOwnerMissing          = "owner-missing"
	RuleNamePattern           = "name-pattern-mismatch"
	RuleEnvironment           = "environment-not-allowed"
	RuleExceptionIncomplete   = "exception-incomplete"
	RuleExceptionExpired      = "exception-expired"

	RuleRotationOnEphemeral      = "rotation-on-ephemeral"
	RuleRotationIntervalAboveMax = "rotation-interval-above-class-max"
	RuleConsumersMissing         = "consumers-missing"
	RuleOverlapNotBelowInterval  = "overlap-not-below-interval"
	RuleInvalidCron              = "invalid-cron"
	RuleRotationOverdue          = "rotation-overdue"
)

var ruleTitles = map[string]string{
	RuleInvalidNamingPattern:  "Invalid Naming Pattern",
	RuleClassLifetimeBelowTTL: "Class Lifetime Below TTL",
	RuleUnlimitedRenewal:      "Unlimited Renewal",
	RuleLifetimeBelowTTL:      "Lifetime Below TTL",
	RuleTTLAboveClassMax:      "TTL Above Class Maximum",
	RuleLifetimeAboveClassMax: "Lifetime Above Class Maximum",
	RuleRenewalsAboveClassMax: "Renewals Above Class Maximum",
	RuleTTLPolicyOnPersistent: "TTL Policy On Persistent Identity",
	RuleTTLPolicyMissing:      "TTL Policy Missing",
	RuleTTLPolicyClass:        "TTL Policy Of Another Class",
	RuleOwnerMissing:          "Owner Missing",
	RuleNamePattern:           "Name Does Not Match Naming Pattern",
	RuleEnvironment:           "Environment Not Allowed",
	RuleExceptionIncomplete:   "Exception Incomplete",
	RuleExceptionExpired:      "Exception Expired",

	RuleRotationOnEphemeral:      "Rotation Schedule On Ephemeral Identity",
	RuleRotationIntervalAboveMax: "Rotation Interval Above Class Maximum",
	RuleConsumersMissing:         "Consumers Missing",
	RuleOverlapNotBelowInterval:  "Overlap Not Shorter Than Interval",
	RuleInvalidCron:              "Invalid Cron Expression",
	RuleRotationOverdue:          "Rotation Overdue",

	RuleCredentialPastHardExpiry: "Credential Past Hard Expiry",
	RuleCredentialAboveClassMax:  "Credential Older Than Class Maximum",
	RuleRenewalsPastBudget:       "Renewals Past Budget",
	RuleCredentialNoExpiry:       "Credential Without Expiry",
	RuleRetiredWithCredential:    "Retired Identity With Live Credential",
	RuleSharedSecret:             "Secret Shared Between Identities",
	RuleUnmanagedIdentity:        "Unmanaged Identity",
	RuleOrphanIdentity:           "Orphaned Identity",
	RuleEngineDrift:              "Engine Settings Drifted",
	RuleInactive:                 "Inactive Identity",
}

// CheckClass checks a lifecycle class on its own.
func CheckClass(c Class) []Finding {
	var out []Finding
	sub := subject(SubjectClass, c.Name)
	if c.NamingPattern != "" {
		if _, err := CompileNamingPattern(c.NamingPattern); err != nil {
			out = append(out, Finding{Rule: RuleInvalidNamingPattern, Severity: SeverityHigh, Subject: sub, Attribute: "naming_pattern",
				Observed: strconv.Quote(c.NamingPattern), Allowed: "an RE2 regular expression", Remedy: "correct the expression: " + err.Error()})
		}
	}
	if c.MaxLifetime > 0 && c.MaxTTL > 0 && c.MaxLifetime < c.MaxTTL {
		out = append(out, Finding{Rule: RuleClassLifetimeBelowTTL, Severity: SeverityHigh, Subject: sub, Attribute: "max_lifetime",
			Observed: "max_lifetime " + FormatDuration(c.MaxLifetime), Allowed: "at least max_ttl " + FormatDuration(c.MaxTTL),
			Remedy: "raise max_lifetime or lower max_ttl"})
	}
	if c.Kind == KindEphemeral && c.MaxLifetime == 0 && c.MaxRenewals == nil {
		out = append(out, Finding{Rule: RuleUnlimitedRenewal, Severity: SeverityHigh, Subject: sub, Attribute: "max_lifetime",
			Observed: "no max_lifetime and no max_renewals", Allowed: "an ephemeral class caps credential lifetime or renewals",
			OWASP: "NHI7", Remedy: "set max_lifetime (or max_renewals) so temporary credentials cannot live forever"})
	}
	return out
}

// ExceptionActive reports whether e exempts its policy from class ceilings at now.
func ExceptionActive(e *Exception, now time.Time) bool {
	return e != nil && strings.TrimSpace(e.Reason) != "" && strings.TrimSpace(e.ApprovedBy) != "" && now.Before(e.ExpiresAt)
}

// CheckTTLPolicy checks a TTL policy on its own and, when class is not nil, against its class.
func CheckTTLPolicy(p TTLPolicy, class *Class, now time.Time) []Finding {
	var out []Finding
	sub := subject(SubjectTTLPolicy, p.Name)
	add := highFindings(&out, sub)
	if p.MaxLifetime > 0 && p.MaxLifetime < p.TTL {
		add(RuleLifetimeBelowTTL, "max_lifetime", "max_lifetime "+FormatDuration(p.MaxLifetime),
			"at least ttl "+FormatDuration(p.TTL), "", "raise max_lifetime or lower ttl")
	}
	if p.Renewable && p.MaxLifetime == 0 {
		add(RuleUnlimitedRenewal, "renewable", "renewable with no max_lifetime",
			"renewable credentials need a hard max_lifetime", "NHI7", "set max_lifetime, or set renewable = false")
	}
	out = append(out, checkException(p.Exception, sub, now)...)
	if class == nil {
		return out
	}
	if class.Kind == KindPersistent {
		add(RuleTTLPolicyOnPersistent, "class", "class "+class.Name+" is persistent",
			"TTL policies govern dynamic credentials of ephemeral classes", "NHI7",
			"attach the policy to an ephemeral class; persistent identities use a rotation schedule")
	}
	if ExceptionActive(p.Exception, now) {
		return out
	}
	ceiling := "class " + class.Name + " allows "
	if class.MaxTTL > 0 && p.TTL > class.MaxTTL {
		add(RuleTTLAboveClassMax, "ttl", "ttl "+FormatDuration(p.TTL), ceiling+"at most "+FormatDuration(class.MaxTTL), "NHI7",
			"lower ttl, or add an approved exception")
	}
	if class.MaxLifetime > 0 {
		life, bounded := p.Lifetime()
		if !bounded || life > class.MaxLifetime {
			obs := "unbounded lifetime"
			if bounded {
				obs = "lifetime " + FormatDuration(life)
			}
			add(RuleLifetimeAboveClassMax, "max_lifetime", obs, ceiling+"a lifetime of at most "+FormatDuration(class.MaxLifetime), "NHI7",
				"set max_lifetime within the class ceiling, or add an approved exception")
		}
	}
	if class.MaxRenewals != nil && p.Renewable && (p.MaxRenewals == nil || *p.MaxRenewals > *class.MaxRenewals) {
		obs := "unlimited renewals"
		if p.MaxRenewals != nil {
			obs = strconv.FormatInt(*p.MaxRenewals, 10) + " renewals"
		}
		add(RuleRenewalsAboveClassMax, "max_renewals", obs, ceiling+"at most "+strconv.FormatInt(*class.MaxRenewals, 10)+" renewals", "NHI7",
			"lower max_renewals, set renewable = false, or add an approved exception")
	}
	return out
}

// Lifetime is the longest a credential under p can live, and whether that is bounded at all.
func (p TTLPolicy) Lifetime() (time.Duration, bool) {
	switch {
	case p.MaxLifetime > 0:
		return p.MaxLifetime, true
	case !p.Renewable:
		return p.TTL, true
	case p.MaxRenewals != nil:
		if p.TTL > 0 && *p.MaxRenewals >= int64(math.MaxInt64/p.TTL) {
			return time.Duration(math.MaxInt64), true // longer than any ceiling; avoids overflow
		}
		return p.TTL * time.Duration(*p.MaxRenewals+1), true
	default:
		return 0, false
	}
}

// CheckIdentity checks an identity against its class and, when it has one, its TTL policy.
// A nil class skips the class rules; a nil policy with a policy name skips the policy rules.
func CheckIdentity(id Identity, class *Class, ttl *TTLPolicy) []Finding {
	var out []Finding
	sub := subject(SubjectIdentity, id.Name)
	add := func(rule string, sev Severity, attr, observed, allowed, owasp, remedy string) {
		out = append(out, Finding{Rule: rule, Severity: sev, Subject: sub, Attribute: attr,
			Observed: observed, Allowed: allowed, OWASP: owasp, Remedy: remedy})
	}
	if class == nil {
		return out
	}
	ceiling := "class " + class.Name + " "
	switch {
	case class.Kind == KindEphemeral && id.TTLPolicy == "":
		add(RuleTTLPolicyMissing, SeverityHigh, "ttl_policy", "no ttl_policy", ceiling+"is ephemeral: its identities need a TTL policy",
			"NHI7", "set ttl_policy to an nhi_ttl_policy of class "+class.Name)
	case class.Kind == KindPersistent && id.TTLPolicy != "":
		add(RuleTTLPolicyOnPersistent, SeverityHigh, "ttl_policy", "ttl_policy "+id.TTLPolicy,
			ceiling+"is persistent: its secret is rotated, not minted per task", "NHI7",
			"remove ttl_policy and give the identity an nhi_rotation_schedule, or move it to an ephemeral class")
	}
	if ttl != nil && ttl.Class != class.Name {
		add(RuleTTLPolicyClass, SeverityHigh, "ttl_policy", "ttl_policy "+ttl.Name+" belongs to class "+ttl.Class,
			"a TTL policy of class "+class.Name, "", "choose a TTL policy of class "+class.Name)
	}
	if class.RequireOwner && strings.TrimSpace(id.Owner) == "" {
		add(RuleOwnerMissing, SeverityHigh, "owner", "no owner", ceiling+"requires an owner", "NHI1",
			"set owner to the team or person accountable for this identity")
	}
	if class.NamingPattern != "" {
		if re, err := CompileNamingPattern(class.NamingPattern); err == nil && !re.MatchString(id.Name) {
			add(RuleNamePattern, SeverityHigh, "name", "name "+strconv.Quote(id.Name), ceiling+"requires names matching "+strconv.Quote(class.NamingPattern),
				"", "rename the identity to match the pattern")
		}
	}
	if len(class.Environments) > 0 && !slices.Contains(class.Environments, id.Environment) {
		obs := "environment " + strconv.Quote(id.Environment)
		if id.Environment == "" {
			obs = "no environment"
		}
		add(RuleEnvironment, SeverityHigh, "environment", obs, ceiling+"allows "+quoteList(class.Environments), "NHI8",
			"set environment to one the class allows, or use a class meant for this environment")
	}
	return out
}

// CompileNamingPattern compiles a class's naming pattern; it must match a whole name. The
// pattern must compile on its own, so that it cannot break out of the anchoring group.
func CompileNamingPattern(pattern string) (*regexp.Regexp, error) {
	if _, err := regexp.Compile(pattern); err != nil {
		return nil, err
	}
	return regexp.Compile(`^(?:` + pattern + `)$`)
}

// CheckName validates the syntax of an object name: 1 to 128 letters, digits, '.', '_' or '-',
// starting with a letter or digit. Names end up in engine paths, so nothing else is allowed.
func CheckName(name string) error {
	if name == "" || len(name) > 128 {
		return fmt.Errorf("name %q must be 1 to 128 characters long", name)
	}
	for i, r := range name {
		alnum := (r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z') || (r >= '0' && r <= '9')
		if alnum || (i > 0 && (r == '-' || r == '_' || r == '.')) {
			continue
		}
		return fmt.Errorf("name %q has %q at position %d: use letters, digits, '.', '_' and '-', starting with a letter or digit", name, r, i+1)
	}
	return nil
}

func quoteList(xs []string) string {
	q := make([]string, len(xs))
	for i, x := range xs {
		q[i] = strconv.Quote(x)
	}
	return strings.Join(q, ", ")
}

// Reach returns the findings that class, as declared, would raise on the active identities and
// the TTL policies that belong to it, so that a tightening shows its reach before it is applied.
// Privilege ceilings count too: scopes, bound CIDRs and the blast radius, whose exposure window
// comes from the identity's TTL policy or rotation schedule (schedules may be nil).
func Reach(class Class, ids []Identity, policies []TTLPolicy, schedules []RotationSchedule, now time.Time) []Finding {
	var out []Finding
	byName := indexBy(policies, func(p TTLPolicy) string { return p.Name })
	bySchedule := indexBy(schedules, func(s RotationSchedule) string { return s.Identity })
	for _, p := range policies {
		if p.Class == class.Name {
			out = append(out, CheckTTLPolicy(p, &class, now)...)
		}
	}
	for _, id := range ids {
		if id.Class == class.Name && !id.Retired() {
			ttl := byName[id.TTLPolicy]
			out = append(out, CheckIdentity(id, &class, ttl)...)
			var expPtr *Exposure
			if exp, known := ExposureOf(id, ttl, bySchedule[id.Name], false, now); known {
				expPtr = &exp
			}
			if f, _, idle := CheckIdle(id, &class, now); idle {
				out = append(out, f)
			}
			// The exception rules are the identity's own, not the class's reach.
			for _, f := range CheckPrivilege(id, &class, expPtr, now) {
				if f.Rule != RuleExceptionIncomplete && f.Rule != RuleExceptionExpired {
					out = append(out, f)
				}
			}
		}
	}
	return out
}
