package policy

import (
	"slices"
	"strings"
	"time"
)

// Target drift rule identifiers (issue 16): what a target (a PostgreSQL database) holds for the
// logins the provider made there. Roles granted beyond a credential's scopes are a
// privilege-escalation finding like any other privilege added out of band.
const (
	RuleOrphanedLogin          = "orphaned-target-login"
	RuleLoginValidityAboveHard = "target-login-validity-above-expiry"
	// RuleOverlapNeedsAlternating: one PostgreSQL login holds one password, so an overlap (the
	// previous password still working) needs two logins taking turns.
	RuleOverlapNeedsAlternating = "target-overlap-needs-alternating"
	// RuleAlternatingWithoutTarget: alternating logins exist only on a target.
	RuleAlternatingWithoutTarget = "alternating-without-target"
	// RulePasswordChanged: the login of a persistent identity's rotated secret holds another
	// password than the current secret: changed on the target outside the provider.
	RulePasswordChanged = "target-password-changed"
	// RulePasswordUnchecked: that comparison was not possible; the engine says why
	// (PasswordUnchecked).
	RulePasswordUnchecked = "target-password-unchecked"
	// RuleTargetUnchecked: the engine could not reach a target, so the logins there of the
	// identities on it were not checked.
	RuleTargetUnchecked = "target-unchecked"
)

// StrategyAlternating rotates the password of an identity on a target across two logins that
// take turns: the new password goes to the login not in use, which becomes current, and the
// other stops logging in when the overlap ends.
const StrategyAlternating = "alternating"

func init() {
	describeRules(map[string]ruleDoc{
		RuleOrphanedLogin: {"Orphaned Target Login",
			"A target holds a login the provider made for a credential that is no longer live (revoked, expired, or unknown): an offboarding that left a working account behind, or one that could be made to work again.",
			"Drop the login on the target (DROP ROLE), and find out why its revocation did not."},
		RuleLoginValidityAboveHard: {"Target Login Valid Beyond Expiry",
			"A target login's VALID UNTIL is later than its credential's hard expiry, or infinity: the database keeps it working past the lifetime the TTL policy allows.",
			"Revoke the credential (which drops the login), or set VALID UNTIL back to the credential's expiry on the target."},
		RuleOverlapNeedsAlternating: {"Target Overlap Without Alternating Logins",
			"A rotation schedule asks for an overlap on an identity whose secret is the password of a login on a target: one login holds one password, so the previous one cannot stay valid.",
			`Set strategy = "alternating" (two logins taking turns), or set overlap to 0.`},
		RuleAlternatingWithoutTarget: {"Alternating Logins Without Target",
			"A rotation schedule asks for alternating logins for an identity that has no target: there are no logins to alternate.",
			"Remove strategy, or give the identity a target."},
		RulePasswordChanged: {"Target Password Changed Out Of Band",
			"The login of a persistent identity's rotated secret holds a password other than the current secret: someone changed it on the target, outside the provider, so the secret's consumers and its rotation no longer control the account.",
			"Find out who changed it; then rotate (nhi_rotate, or the next scheduled rotation) to put a password the provider controls back."},
		RulePasswordUnchecked: {"Target Password Not Checkable",
			"Whether the login of a persistent identity's rotated secret still holds the current secret cannot be checked, and the finding says why: the engine reads the target as a user that may not read password verifiers (pg_authid): the admin user on the local engine when it is no superuser, and always on Vault, whose inspector login holds no privilege since Vault alone holds the admin password; or the login's stored verifier is not SCRAM-SHA-256.",
			"On the local engine, give the target's admin user the right to read pg_authid (a superuser); on Vault this cannot be checked. A verifier that is not SCRAM-SHA-256 was set outside the provider: rotate the secret. Otherwise accept that this drift is not checked."},
		RuleTargetUnchecked: {"Target Not Checked",
			"The engine could not reach the target of an identity (it is down, or its connection or credentials fail), so the logins the provider made there were not checked for drift: orphaned logins, validity past expiry, roles added out of band and changed passwords stay unseen until it answers.",
			"Bring the target back or fix its connection (nhi_target), then refresh or run the drift report again."},
	})
}

// PasswordUnchecked says why the password of a rotated login could not be compared with the
// current secret: the engine observes it (LoginObservation.PasswordUnchecked), and the
// target-password-unchecked finding says it, with the remedy that fits (passwordUncheckedText).
type PasswordUnchecked string

const (
	// PasswordVerifierHidden: the engine reads the target as its admin user, who may not read
	// password verifiers (pg_authid): the local engine's admin user is no superuser.
	PasswordVerifierHidden PasswordUnchecked = "verifier-hidden"
	// PasswordNotSCRAM: the login's stored verifier is not SCRAM-SHA-256 (the provider sets only
	// SCRAM-SHA-256 ones).
	PasswordNotSCRAM PasswordUnchecked = "verifier-not-scram"
)

// passwordUncheckedText is why each PasswordUnchecked leaves the password unchecked, and the
// remedy.
var passwordUncheckedText = map[PasswordUnchecked]struct{ why, remedy string }{
	PasswordVerifierHidden: {"the target's admin user may not read password verifiers (pg_authid)",
		"let the target's admin user read pg_authid (a superuser), or accept that this is not checked"},
	PasswordNotSCRAM: {"its stored verifier is not SCRAM-SHA-256, which the provider never sets",
		"find out who set the password, then rotate the secret (a SCRAM-SHA-256 verifier)"},
}

// LoginObservation is a login that a target holds and that the provider made: its comment names
// the identity it was made for, and the credential when the login is that credential's alone
// (Credential is empty for a login of a Vault dynamic role). Credentials are matched to logins
// by name (Credential.Username).
type LoginObservation struct {
	Target     string
	Name       string
	Identity   string
	Credential string
	// ValidUntil is the login's expiry; zero with Infinite false means none is set, which
	// PostgreSQL treats as never expiring.
	ValidUntil time.Time
	Infinite   bool
	// Roles are the roles the target grants the login.
	Roles []string
	// Rotated marks the current login of a persistent identity's rotated secret, which is no
	// credential: PasswordUnchecked says why its stored verifier could not be compared with the
	// current secret (empty when it was), PasswordMatches what the comparison found. Its Roles
	// are those of RolesHolder, the role the identity's scopes are granted to (the login, or the
	// group role of alternating logins).
	Rotated, PasswordMatches bool
	PasswordUnchecked        PasswordUnchecked
	RolesHolder              string
	// Member marks one of the two alternating logins of a persistent identity's rotated secret:
	// it holds the identity's scopes through its group role RolesHolder, and any other role in
	// Roles was granted out of band.
	Member bool
	// Unchecked, when set, says why Target could not be checked (it did not answer): no login
	// was read there, for Identity or, when that is empty, for every identity on the target.
	Unchecked string
}

// checkLogins judges the provider's logins on targets against the live credentials they were
// made for: a login without a live credential is orphaned (NHI1); one whose VALID UNTIL passes
// its credential's hard expiry, or never comes, outlives its lifetime (NHI7); one granted roles
// beyond its credential's scopes holds privileges added out of band (NHI5, high).
func checkLogins(logins []LoginObservation, creds []Credential, identities map[string]*Identity, now time.Time) []Finding {
	live := loginCredentials(creds, now)
	var out []Finding
	for _, l := range logins {
		add := func(rule string, sev Severity, observed, allowed, owasp, remedy string) {
			out = append(out, Finding{Rule: rule, Severity: sev, Subject: subject(SubjectIdentity, l.Identity), Object: "login/" + l.Name,
				Observed: observed, Allowed: allowed, OWASP: owasp, Remedy: remedy})
		}
		if l.Unchecked != "" {
			out = append(out, checkUnchecked(l, identities)...)
			continue
		}
		where := "login " + l.Name + " on target " + l.Target
		if l.Member {
			if extra := beyond(l.Roles, []string{l.RolesHolder}); len(extra) > 0 {
				out = append(out, Finding{Rule: RulePrivilegeEscalation, Severity: SeverityHigh, Subject: subject(SubjectIdentity, l.Identity),
					Attribute: "scopes", Object: "login/" + l.Name,
					Observed: where + " (an alternating login of the rotated secret) is granted beyond its group role: " + strings.Join(extra, ", "),
					Allowed:  "only its group role " + l.RolesHolder + ", which holds the identity's scopes", OWASP: "NHI5",
					Remedy: "revoke " + strings.Join(extra, ", ") + " from " + l.Name + " on the target (REVOKE), and find out who granted it"})
			}
			continue
		}
		if l.Rotated {
			if id := identities[l.Identity]; id != nil {
				if extra := beyond(l.Roles, id.Scopes); len(extra) > 0 {
					out = append(out, Finding{Rule: RulePrivilegeEscalation, Severity: SeverityHigh, Subject: subject(SubjectIdentity, l.Identity),
						Attribute: "scopes", Object: "login/" + l.Name,
						Observed: "role " + l.RolesHolder + " on target " + l.Target + " (the rotated secret's) is granted beyond the identity's scopes: " + strings.Join(extra, ", "),
						Allowed:  "exactly the scopes " + scopeList(id.Scopes), OWASP: "NHI5",
						Remedy: "run terraform apply on the identity, which grants its rotated secret's login exactly its scopes again, and find out who granted " + strings.Join(extra, ", ")})
				}
			}
			switch {
			case l.PasswordUnchecked != "":
				text, ok := passwordUncheckedText[l.PasswordUnchecked]
				if !ok {
					text.why, text.remedy = string(l.PasswordUnchecked), "accept that this is not checked"
				}
				add(RulePasswordUnchecked, SeverityLow, "the password of "+where+" cannot be compared with the current secret: "+text.why,
					"a check that the login holds the current secret", "", text.remedy)
			case !l.PasswordMatches:
				add(RulePasswordChanged, SeverityHigh, where+" holds a password other than the identity's current secret",
					"only the provider changes the password of "+where, "NHI7", "find out who changed it, then rotate the secret")
			}
			continue
		}
		c, ok := live[loginKey(l.Target, l.Name)]
		if !ok {
			gone := "its credential " + l.Credential + " is not live"
			if l.Credential == "" {
				gone = "no live credential is recorded with its name"
			}
			add(RuleOrphanedLogin, SeverityHigh, where+" remains; "+gone,
				"no login outlives its credential", "NHI1", "drop "+where+" (DROP ROLE)")
			continue
		}
		switch {
		case l.Infinite:
			add(RuleLoginValidityAboveHard, SeverityHigh, where+" is VALID UNTIL infinity", "at most the credential's hard expiry "+c.HardExpiresAt.UTC().Format(time.RFC3339),
				"NHI7", "revoke credential "+c.ID+", or set the login's VALID UNTIL back")
		case l.ValidUntil.IsZero():
			add(RuleLoginValidityAboveHard, SeverityHigh, where+" has no VALID UNTIL (never expires)", "at most the credential's hard expiry "+c.HardExpiresAt.UTC().Format(time.RFC3339),
				"NHI7", "revoke credential "+c.ID+", or set the login's VALID UNTIL back")
		case l.ValidUntil.After(c.HardExpiresAt.Add(loginClockSlack)):
			add(RuleLoginValidityAboveHard, SeverityHigh, where+" is VALID UNTIL "+l.ValidUntil.UTC().Format(time.RFC3339),
				"at most the credential's hard expiry "+c.HardExpiresAt.UTC().Format(time.RFC3339), "NHI7", "revoke credential "+c.ID+", or set the login's VALID UNTIL back")
		}
		if extra := beyond(l.Roles, c.Scopes); len(extra) > 0 {
			out = append(out, Finding{Rule: RulePrivilegeEscalation, Severity: SeverityHigh, Subject: subject(SubjectIdentity, l.Identity),
				Attribute: "scopes", Object: "login/" + l.Name,
				Observed: where + " is granted beyond its credential's scopes: " + strings.Join(extra, ", "),
				Allowed:  "exactly the scopes " + scopeList(c.Scopes), OWASP: "NHI5",
				Remedy: "revoke credential " + c.ID + " (which drops the login), and find out who granted " + strings.Join(extra, ", ")})
		}
	}
	return out
}

// loginCredentials indexes the credentials live at now that are logins, by loginKey.
func loginCredentials(creds []Credential, now time.Time) map[string]Credential {
	live := make(map[string]Credential, len(creds))
	for _, c := range creds {
		if c.Live(now) && c.Username != "" {
			live[loginKey(c.Target, c.Username)] = c
		}
	}
	return live
}

func loginKey(target, name string) string { return target + "\x00" + name }

// LoginRepair is what an engine does to one of its logins on a target to put it back as the
// credentials say (RepairLogins): drop it, or else set its VALID UNTIL to ValidUntil.
type LoginRepair struct {
	Target, Name string
	Drop         bool
	ValidUntil   time.Time
}

// RepairLogins is the repair of the drift checkLogins finds on logins an engine made for
// credentials (rotated logins and alternating members are no credentials', and an unreachable
// target tells nothing: they are left out): a login whose credential is
// not live at now is dropped (an orphan, NHI1); one VALID UNTIL past its credential's hard expiry,
// or never expiring, is set back to that hard expiry (NHI7), which no renewal passes. Roles
// granted by hand are not repaired here: closing the credential drops the login with them.
func RepairLogins(logins []LoginObservation, creds []Credential, now time.Time) []LoginRepair {
	live := loginCredentials(creds, now)
	var out []LoginRepair
	for _, l := range logins {
		if l.Rotated || l.Member || l.Unchecked != "" {
			continue
		}
		c, ok := live[loginKey(l.Target, l.Name)]
		switch {
		case !ok:
			out = append(out, LoginRepair{Target: l.Target, Name: l.Name, Drop: true})
		case validityBeyond(l, c):
			out = append(out, LoginRepair{Target: l.Target, Name: l.Name, ValidUntil: c.HardExpiresAt})
		}
	}
	return out
}

// checkUnchecked is the medium target-unchecked finding of an unreachable target, about l's
// identity or, for the fleet, about each active identity on the target.
func checkUnchecked(l LoginObservation, identities map[string]*Identity) []Finding {
	names := []string{l.Identity}
	if l.Identity == "" {
		names = names[:0]
		for name, id := range identities {
			if id.Target == l.Target && !id.Retired() {
				names = append(names, name)
			}
		}
		slices.Sort(names)
	}
	out := make([]Finding, 0, len(names))
	for _, name := range names {
		out = append(out, Finding{Rule: RuleTargetUnchecked, Severity: SeverityMedium, Subject: subject(SubjectIdentity, name), Object: "target/" + l.Target,
			Observed: "target " + l.Target + " could not be checked: " + l.Unchecked, Allowed: "a target whose logins the engine can read back",
			Remedy: "bring target " + l.Target + " back or fix its connection (nhi_target), then refresh"})
	}
	return out
}

// validityBeyond tells whether login l is valid past its credential c's hard expiry (beyond the
// clock slack), or forever.
func validityBeyond(l LoginObservation, c Credential) bool {
	return l.Infinite || l.ValidUntil.IsZero() || l.ValidUntil.After(c.HardExpiresAt.Add(loginClockSlack))
}

// loginClockSlack is how much later than a credential's hard expiry its login may be valid: the
// engine that sets VALID UNTIL (Vault) does so from its own clock, a few seconds after the lease.
const loginClockSlack = time.Minute

// CheckTargetRotation checks a rotation schedule against its identity's target: an overlap
// needs alternating logins there, and alternating logins need a target.
func CheckTargetRotation(s RotationSchedule, id Identity) []Finding {
	var out []Finding
	add := highFindings(&out, subject(SubjectRotationSchedule, s.Identity))
	switch {
	case id.Target != "" && s.Overlap > 0 && s.Strategy != StrategyAlternating:
		add(RuleOverlapNeedsAlternating, "overlap", "overlap "+FormatDuration(s.Overlap)+" on identity "+id.Name+", whose secret is one login's password on target "+id.Target,
			"an overlap only with strategy = \"alternating\" (two logins taking turns)", "NHI7", `set strategy = "alternating", or overlap = "0s"`)
	case id.Target == "" && s.Strategy == StrategyAlternating:
		add(RuleAlternatingWithoutTarget, "strategy", "strategy = \"alternating\" on identity "+id.Name+", which has no target",
			"alternating logins only for an identity with a target", "", "remove strategy, or set the identity's target")
	}
	return out
}

// beyond lists the roles that are not among scopes.
func beyond(roles, scopes []string) []string {
	var out []string
	for _, r := range roles {
		if !slices.Contains(scopes, r) {
			out = append(out, r)
		}
	}
	return out
}
