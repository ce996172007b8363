package policy

import (
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Privilege rule identifiers.
const (
	RuleScopeNotAllowed          = "scope-not-allowed"
	RuleScopeDenied              = "scope-denied"
	RuleScopesAboveClassMax      = "scopes-above-class-max"
	RuleCIDRNotAllowed           = "cidr-not-allowed"
	RuleBlastRadiusAboveClassMax = "blast-radius-above-class-max"
	RuleUnboundedExposure        = "unbounded-exposure"
	RulePrivilegeEscalation      = "privilege-escalation"
	RulePrivilegeRemoved         = "privilege-removed"
)

func init() {
	for rule, title := range map[string]string{
		RuleScopeNotAllowed:          "Scope Not Allowed",
		RuleScopeDenied:              "Scope Denied",
		RuleScopesAboveClassMax:      "Scopes Above Class Maximum",
		RuleCIDRNotAllowed:           "Bound CIDR Not Allowed",
		RuleBlastRadiusAboveClassMax: "Blast Radius Above Class Maximum",
		RuleUnboundedExposure:        "Unbounded Exposure Window",
		RulePrivilegeEscalation:      "Privilege Escalation",
		RulePrivilegeRemoved:         "Privilege Removed",
	} {
		ruleTitles[rule] = title
	}
}

// maxScopeLen bounds scopes and scope patterns; scopes end up in engine paths (Vault policy names).
const maxScopeLen = 128

// scopeChar reports whether c may appear in a scope: lower-case letters, digits, '.', '_', ':'
// and '-'. Vault stores ACL policy names in lower case, so an upper-case scope could never
// match what the engine reads back.
func scopeChar(c byte) bool {
	return 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '.' || c == '_' || c == ':' || c == '-'
}

// CheckScope validates the syntax of a scope: 1 to 128 lower-case letters, digits, '.', '_', ':'
// or '-', starting with a letter or digit.
func CheckScope(s string) error {
	return checkScopeSyntax(s, false)
}

// CheckScopePattern validates a scope glob pattern: a scope in which '*' matches any run of
// characters and '?' any one character.
func CheckScopePattern(p string) error {
	return checkScopeSyntax(p, true)
}

func checkScopeSyntax(s string, glob bool) error {
	what := "scope"
	if glob {
		what = "scope pattern"
	}
	if s == "" || len(s) > maxScopeLen {
		return fmt.Errorf("%s %q must be 1 to %d characters long", what, s, maxScopeLen)
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case glob && (c == '*' || c == '?'):
		case scopeChar(c) && (i > 0 || glob || c != '.' && c != '_' && c != ':' && c != '-'):
		default:
			allowed := "lower-case letters, digits, '.', '_', ':' and '-', starting with a letter or digit"
			if glob {
				allowed = "lower-case letters, digits, '.', '_', ':', '-', and the wildcards '*' and '?'"
			}
			return fmt.Errorf("%s %q has %q at position %d: use %s", what, s, s[i], i+1, allowed)
		}
	}
	return nil
}

// MatchScope reports whether scope matches the glob pattern in full: '*' matches any run of
// characters (also none), '?' exactly one; every other character matches itself. It runs in
// O(len(pattern)*len(scope)) at worst, whatever the pattern.
func MatchScope(pattern, scope string) bool {
	p, s := 0, 0
	star, mark := -1, 0 // the last '*' seen and the scope position it is trying
	for s < len(scope) {
		switch {
		case p < len(pattern) && pattern[p] == '*': // a wildcard, even where the scope has a '*'
			star, mark = p, s
			p++
		case p < len(pattern) && (pattern[p] == '?' || pattern[p] == scope[s]):
			p++
			s++
		case star >= 0: // let the last '*' take one more character
			mark++
			p, s = star+1, mark
		default:
			return false
		}
	}
	for p < len(pattern) && pattern[p] == '*' {
		p++
	}
	return p == len(pattern)
}

// matchAny returns the first pattern that scope matches, and whether one does.
func matchAny(patterns []string, scope string) (string, bool) {
	for _, p := range patterns {
		if MatchScope(p, scope) {
			return p, true
		}
	}
	return "", false
}

// ParseCIDR parses a network in prefix notation ("10.0.0.0/8", "2001:db8::/32"); host bits
// must be zero, so that what is declared is exactly what an engine reads back.
func ParseCIDR(s string) (netip.Prefix, error) {
	p, err := netip.ParsePrefix(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("%q is not a CIDR block such as 10.0.0.0/8: %v", s, err)
	}
	if p.Masked() != p {
		return netip.Prefix{}, fmt.Errorf("%q has host bits set: write it as %s", s, p.Masked())
	}
	return p, nil
}

// NormalizeCIDR turns an engine's spelling of a network (a bare address means a single host)
// into the canonical prefix notation that ParseCIDR accepts; anything unparsable is returned
// as it is, so that a comparison sees it as different.
func NormalizeCIDR(s string) string {
	if a, err := netip.ParseAddr(s); err == nil {
		return netip.PrefixFrom(a, a.BitLen()).String()
	}
	if p, err := netip.ParsePrefix(s); err == nil {
		return p.Masked().String()
	}
	return s
}

// cidrWithin reports whether network inner lies entirely inside outer.
func cidrWithin(inner, outer netip.Prefix) bool {
	return inner.Addr().BitLen() == outer.Addr().BitLen() && outer.Bits() <= inner.Bits() && outer.Contains(inner.Addr())
}

// CheckPrivilege checks an identity's privileges against its class: scopes allowed, denied and
// counted, bound CIDRs inside the class's networks, and, when exp is not nil, the blast radius
// under the class ceiling. An active exception exempts the identity from these ceilings; an
// incomplete or expired one is a finding itself. A nil class checks only the exception.
func CheckPrivilege(id Identity, class *Class, exp *Exposure, now time.Time) []Finding {
	sub := subject(SubjectIdentity, id.Name)
	out := checkException(id.Exception, sub, now)
	if class == nil || ExceptionActive(id.Exception, now) {
		return out
	}
	// object names the scope or network a finding is about, so that findings on two of them
	// stay apart (Finding.Object).
	add := func(object, rule, attr, observed, allowed, owasp, remedy string) {
		out = append(out, Finding{Rule: rule, Severity: SeverityHigh, Subject: sub, Attribute: attr, Object: object,
			Observed: observed, Allowed: allowed, OWASP: owasp, Remedy: remedy})
	}
	ceiling := "class " + class.Name + " "
	for _, s := range id.Scopes {
		if p, denied := matchAny(class.DeniedScopes, s); denied {
			add("scope/"+s, RuleScopeDenied, "scopes", "scope "+strconv.Quote(s)+" matches denied pattern "+strconv.Quote(p),
				ceiling+"denies scopes matching "+quoteList(class.DeniedScopes), "NHI5",
				"remove the scope (grant a narrower one), or add an approved exception")
			continue
		}
		if _, ok := matchAny(class.AllowedScopes, s); len(class.AllowedScopes) > 0 && !ok {
			add("scope/"+s, RuleScopeNotAllowed, "scopes", "scope "+strconv.Quote(s),
				ceiling+"allows scopes matching "+quoteList(class.AllowedScopes), "NHI5",
				"remove the scope, or use a class meant for this access, or add an approved exception")
		}
	}
	if class.MaxScopes > 0 && int64(len(id.Scopes)) > class.MaxScopes {
		add("", RuleScopesAboveClassMax, "scopes", strconv.Itoa(len(id.Scopes))+" scopes",
			ceiling+"allows at most "+strconv.FormatInt(class.MaxScopes, 10), "NHI5",
			"split the identity's duties between identities, or add an approved exception")
	}
	checkCIDRs(id, class, add)
	if exp != nil && class.MaxBlastRadius > 0 && len(id.Scopes) > 0 {
		if r, bounded := exp.BlastRadius(len(id.Scopes)); !bounded || r > class.MaxBlastRadius {
			add("", RuleBlastRadiusAboveClassMax, "scopes", exp.describe(len(id.Scopes)),
				ceiling+"allows a blast radius of at most "+formatScopeHours(class.MaxBlastRadius), "NHI5",
				"hold fewer scopes, or shorten the exposure window (TTL policy lifetime, rotation interval, window and overlap), or add an approved exception")
		}
	}
	return out
}

// checkCIDRs is the allowed_cidrs rule: every bound CIDR inside one of the class's networks, and
// none missing when the class sets them; findings go through add.
func checkCIDRs(id Identity, class *Class, add func(object, rule, attr, observed, allowed, owasp, remedy string)) {
	if len(class.AllowedCIDRs) == 0 {
		return
	}
	allowed := "class " + class.Name + " allows credentials bound within " + quoteList(class.AllowedCIDRs)
	if len(id.BoundCIDRs) == 0 {
		add("", RuleCIDRNotAllowed, "bound_cidrs", "no bound_cidrs: credentials work from any address", allowed, "NHI8",
			"set bound_cidrs to the networks the identity runs in")
		return
	}
	var nets []netip.Prefix
	for _, c := range class.AllowedCIDRs {
		if p, err := ParseCIDR(c); err == nil {
			nets = append(nets, p)
		}
	}
	for _, c := range id.BoundCIDRs {
		p, err := ParseCIDR(c)
		if err == nil && slices.ContainsFunc(nets, func(n netip.Prefix) bool { return cidrWithin(p, n) }) {
			continue
		}
		add("cidr/"+c, RuleCIDRNotAllowed, "bound_cidrs", "bound_cidrs "+strconv.Quote(c), allowed, "NHI8",
			"narrow bound_cidrs to networks inside the class's allowed_cidrs")
	}
}

// checkException is the rule on any exception: complete (reason and approver) and unexpired.
func checkException(e *Exception, sub string, now time.Time) []Finding {
	if e == nil {
		return nil
	}
	var out []Finding
	add := func(rule, attr, observed, allowed, owasp, remedy string) {
		out = append(out, Finding{Rule: rule, Severity: SeverityHigh, Subject: sub, Attribute: attr,
			Observed: observed, Allowed: allowed, OWASP: owasp, Remedy: remedy})
	}
	if strings.TrimSpace(e.Reason) == "" {
		add(RuleExceptionIncomplete, "exception.reason", "no reason", "an exception states its reason", "", "set exception.reason")
	}
	if strings.TrimSpace(e.ApprovedBy) == "" {
		add(RuleExceptionIncomplete, "exception.approved_by", "no approver", "an exception names who approved it", "", "set exception.approved_by")
	}
	if !now.Before(e.ExpiresAt) {
		add(RuleExceptionExpired, "exception.expires_at", "exception expired at "+e.ExpiresAt.UTC().Format(time.RFC3339),
			"an exception that has not expired (now "+now.UTC().Format(time.RFC3339)+")", "NHI7",
			"bring the object within the class ceilings, or renew the exception with a new approval")
	}
	return out
}

// checkPrivilegeDrift turns what an engine grants beyond the declaration into a high
// privilege-escalation finding, and declared privileges it does not grant into a medium one.
func checkPrivilegeDrift(id Identity) []Finding {
	var out []Finding
	sub := subject(SubjectIdentity, id.Name)
	if len(id.PrivilegesAdded) > 0 {
		out = append(out, Finding{Rule: RulePrivilegeEscalation, Severity: SeverityHigh, Subject: sub, Attribute: "scopes",
			Observed: "the engine grants beyond the declaration: " + strings.Join(id.PrivilegesAdded, "; "),
			Allowed:  "exactly the declared scopes " + scopeList(id.Scopes), OWASP: "NHI5",
			Remedy: "run terraform apply to remove the added privileges, and find out who granted them"})
	}
	if len(id.PrivilegesRemoved) > 0 {
		out = append(out, Finding{Rule: RulePrivilegeRemoved, Severity: SeverityMedium, Subject: sub, Attribute: "scopes",
			Observed: "the engine no longer grants: " + strings.Join(id.PrivilegesRemoved, "; "),
			Allowed:  "exactly the declared scopes " + scopeList(id.Scopes), OWASP: "NHI5",
			Remedy: "run terraform apply to restore the declared privileges, or remove them from the declaration"})
	}
	return out
}

func scopeList(scopes []string) string {
	if len(scopes) == 0 {
		return "(none)"
	}
	return quoteList(scopes)
}

// CheckGrant decides whether a credential that carries scopes and is bound to boundCIDRs grants
// scope to a caller at caller: the scope must be one it carries and, when it is bound, the
// caller's address must be valid and inside one of the networks. Engines call it after they
// authenticated the secret, so that both decide alike.
func CheckGrant(scopes, boundCIDRs []string, scope string, caller netip.Addr) error {
	if !slices.Contains(scopes, scope) {
		return fmt.Errorf("the credential does not grant scope %q (it grants %s)", scope, scopeList(scopes))
	}
	if len(boundCIDRs) == 0 {
		return nil
	}
	if !caller.IsValid() {
		return fmt.Errorf("the credential is bound to %s and no caller address was given", strings.Join(boundCIDRs, ", "))
	}
	for _, c := range boundCIDRs {
		if p, err := netip.ParsePrefix(NormalizeCIDR(c)); err == nil && p.Contains(caller.Unmap()) {
			return nil
		}
	}
	return fmt.Errorf("the credential is bound to %s, not to the caller's address %s", strings.Join(boundCIDRs, ", "), caller)
}
