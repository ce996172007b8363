package policy

import (
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Fleet is what an engine holds, as the drift rules see it: every governance record, identity,
// credential record, secret version and rotation schedule, observed at Now.
type Fleet struct {
	Now        time.Time
	Classes    []Class
	Policies   []TTLPolicy
	Identities []Identity
	Schedules  []RotationSchedule
	// Credentials are dynamic credentials; Secrets are versions of rotated secrets.
	Credentials []Credential
	Secrets     []SecretObservation
	// Unmanaged names identities found in the engine that this provider did not create.
	Unmanaged []string
	// Owners are the owner records (nhi_owner); CheckOwner reads the one each identity names.
	Owners []Owner
	// Logins are the logins the provider made on targets, as the targets hold them (target.go).
	Logins []LoginObservation
}

// SecretObservation is one version of a persistent identity's rotated secret.
type SecretObservation struct {
	Identity    string
	Version     int64
	Current     bool
	PromotedAt  time.Time
	Live        bool
	Fingerprint string
}

// Drift rule identifiers.
const (
	RuleCredentialPastHardExpiry = "credential-past-hard-expiry"
	RuleCredentialAboveClassMax  = "credential-above-class-max"
	RuleRenewalsPastBudget       = "renewals-past-budget"
	RuleCredentialNoExpiry       = "credential-no-expiry"
	RuleRetiredWithCredential    = "retired-identity-live-credential"
	RuleSharedSecret             = "shared-secret"
	RuleUnmanagedIdentity        = "unmanaged-identity"
	RuleOrphanIdentity           = "orphan-identity"
	RuleEngineDrift              = "engine-drift"
	RuleInactive                 = "inactive"
)

// Report is the drift report of a fleet.
type Report struct {
	Findings []Finding
	// TrustDebt is, per identity, the sum over its live credentials of their age beyond their
	// intended lifetime, plus how overdue its rotation and its review are, plus its idle time
	// beyond its class's max_idle (CheckIdle).
	TrustDebt map[string]time.Duration
	// Blast is, per active identity whose exposure window is known, that window and its scopes.
	Blast map[string]Blast
}

// TotalBlastRadius sums the blast radius of every identity whose blast radius is bounded, in
// scope-hours, and counts those that are unbounded (each is an unbounded-exposure finding).
func (r Report) TotalBlastRadius() (total float64, unbounded int) {
	for _, b := range r.Blast {
		if v, ok := b.Radius(); ok {
			total += v
		} else {
			unbounded++
		}
	}
	return total, unbounded
}

// TotalTrustDebt sums the trust debt of every identity, saturating rather than overflowing.
func (r Report) TotalTrustDebt() time.Duration {
	var total time.Duration
	for _, d := range r.TrustDebt {
		total = addDebt(total, d)
	}
	return total
}

// addDebt adds two non-negative durations, saturating at the longest duration.
func addDebt(a, b time.Duration) time.Duration {
	if b > 0 && a > math.MaxInt64-b {
		return math.MaxInt64
	}
	return a + b
}

// Drift evaluates every rule over a fleet in one pass over its records: the declaration rules
// again (an owner missing, an environment not allowed, an expired exception, policies above
// their class) and the rules on what the engine holds (credentials past their caps, renewals
// past budget, overdue rotations, credentials of retired identities, shared secrets, unmanaged
// and orphaned identities). Findings come sorted by subject and rule.
func Drift(f Fleet) Report {
	rep := Report{TrustDebt: map[string]time.Duration{}, Blast: map[string]Blast{}}
	classes := indexBy(f.Classes, func(c Class) string { return c.Name })
	policies := indexBy(f.Policies, func(p TTLPolicy) string { return p.Name })
	for _, p := range f.Policies {
		rep.Findings = append(rep.Findings, CheckTTLPolicy(p, classes[p.Class], f.Now)...)
	}
	schedules := indexBy(f.Schedules, func(s RotationSchedule) string { return s.Identity })
	liveSecret := map[string]bool{}
	for _, s := range f.Secrets {
		liveSecret[s.Identity] = liveSecret[s.Identity] || s.Live
	}
	owners := indexBy(f.Owners, func(o Owner) string { return o.Name })
	identities := make(map[string]*Identity, len(f.Identities))
	for i := range f.Identities {
		id := &f.Identities[i]
		identities[id.Name] = id
		class := classes[id.Class]
		if class == nil && !id.Retired() {
			rep.Findings = append(rep.Findings, Finding{Rule: RuleOrphanIdentity, Severity: SeverityMedium, Subject: subject(SubjectIdentity, id.Name),
				Observed: "class " + strconv.Quote(id.Class) + " has no governance record", Allowed: "every active identity belongs to a declared class",
				OWASP: "NHI1", Remedy: "declare the class with nhi_lifecycle_class, or retire the identity"})
		}
		if len(id.EngineDrift) > 0 {
			rep.Findings = append(rep.Findings, Finding{Rule: RuleEngineDrift, Severity: SeverityHigh, Subject: subject(SubjectIdentity, id.Name),
				Observed: strings.Join(id.EngineDrift, "; "), Allowed: "the engine enforces what the identity declares", OWASP: "NHI7",
				Remedy: "run terraform apply on the identity's configuration to restore the declared settings"})
		}
		rep.Findings = append(rep.Findings, checkPrivilegeDrift(*id)...)
		if !id.Retired() {
			var ttl *TTLPolicy
			if id.TTLPolicy != "" {
				ttl = policies[id.TTLPolicy]
			}
			rep.Findings = append(rep.Findings, CheckIdentity(*id, class, ttl)...)
			var expPtr *Exposure
			if exp, known := ExposureOf(*id, ttl, schedules[id.Name], liveSecret[id.Name], f.Now); known {
				rep.Blast[id.Name] = Blast{Exposure: exp, Scopes: len(id.Scopes)}
				rep.Findings = append(rep.Findings, checkExposure(*id, exp)...)
				expPtr = &exp
			}
			rep.Findings = append(rep.Findings, CheckPrivilege(*id, class, expPtr, f.Now)...)
			if fd, debt, ok := CheckIdle(*id, class, f.Now); ok {
				rep.Findings = append(rep.Findings, fd)
				rep.TrustDebt[id.Name] = addDebt(rep.TrustDebt[id.Name], debt)
			}
			rep.checkReviewAndOwner(*id, class, owners[id.Owner], f.Now)
		}
	}
	for _, name := range f.Unmanaged {
		rep.Findings = append(rep.Findings, Finding{Rule: RuleUnmanagedIdentity, Severity: SeverityMedium, Subject: subject(SubjectIdentity, name),
			Observed: "present in the engine, not created by this provider", Allowed: "every identity declared and governed",
			OWASP: "NHI1", Remedy: "import it with nhi_identity and give it a class, or remove it from the engine"})
	}
	for _, c := range f.Credentials {
		rep.checkCredential(c, identities[c.Identity], classes, policies, f.Now)
	}
	rep.checkSecrets(f.Secrets, identities)
	rep.Findings = append(rep.Findings, checkLogins(f.Logins, f.Credentials, identities, f.Now)...)
	last := map[string]time.Time{}
	for _, s := range f.Secrets {
		if s.Current {
			last[s.Identity] = s.PromotedAt
		}
	}
	for _, s := range f.Schedules {
		id := identities[s.Identity]
		if id == nil || id.Retired() {
			continue
		}
		rep.Findings = append(rep.Findings, CheckRotationSchedule(s, classes[id.Class], f.Now)...)
		rep.Findings = append(rep.Findings, CheckTargetRotation(s, *id)...)
		at, ok := last[s.Identity]
		if !ok {
			continue
		}
		over := CheckRotationOverdue(s, at, f.Now)
		rep.Findings = append(rep.Findings, over...)
		if len(over) > 0 {
			next, _ := s.NextRotation(at)
			rep.TrustDebt[s.Identity] = addDebt(rep.TrustDebt[s.Identity], s.Overdue(next, f.Now))
		}
	}
	sort.SliceStable(rep.Findings, func(i, j int) bool {
		a, b := rep.Findings[i], rep.Findings[j]
		if a.Subject != b.Subject {
			return a.Subject < b.Subject
		}
		if a.Rule != b.Rule {
			return a.Rule < b.Rule
		}
		return a.Observed < b.Observed
	})
	return rep
}

// UseResolution is how finely engines that record use themselves keep LastUsedAt: at most one
// write per identity (and per credential) per UseResolution, so that a hot path of
// authentications costs one write a minute, not one per use. An idle time is therefore up to
// UseResolution longer than the truth, which max_idle (days) does not notice.
const UseResolution = time.Minute

// RecordUse is the LastUsedAt to keep after a use at now of something last used at last: now
// when last is zero or at least UseResolution older (changed is true), else last unchanged.
func RecordUse(last, now time.Time) (at time.Time, changed bool) {
	if last.IsZero() || now.Sub(last) >= UseResolution {
		return now, true
	}
	return last, false
}

// IdleSince is when an identity's idle time starts: its last use, or its creation when it was
// never used; zero when neither is known.
func (i Identity) IdleSince() time.Time {
	if !i.LastUsedAt.IsZero() {
		return i.LastUsedAt
	}
	return i.CreatedAt
}

// CheckIdle is the inactivity rule (OWASP NHI1): an active identity of a class with max_idle
// that has not been used for longer than max_idle (or, never used, was created longer ago than
// that) is inactive; an identity whose last use the engine cannot tell (UseUnknown) is not
// judged. It returns the finding and the idle time beyond max_idle, which is the
// identity's trust debt for it; ok is false when the identity is not inactive.
func CheckIdle(id Identity, class *Class, now time.Time) (f Finding, debt time.Duration, ok bool) {
	since := id.IdleSince()
	if class == nil || class.MaxIdle <= 0 || id.Retired() || id.UseUnknown || since.IsZero() {
		return Finding{}, 0, false
	}
	idle := now.Sub(since)
	if idle <= class.MaxIdle {
		return Finding{}, 0, false
	}
	observed := "last used " + since.UTC().Format(time.RFC3339)
	if id.LastUsedAt.IsZero() {
		observed = "never used since it was created " + since.UTC().Format(time.RFC3339)
	}
	observed += ", idle for " + FormatDuration(idle.Truncate(time.Second))
	return Finding{Rule: RuleInactive, Severity: SeverityMedium, Subject: subject(SubjectIdentity, id.Name),
		Observed: observed, Allowed: "class " + class.Name + " allows at most " + FormatDuration(class.MaxIdle) + " without use (max_idle)",
		OWASP: "NHI1", Remedy: "retire the identity (destroy it with on_destroy = \"retire\", or run the nhi_offboard action) if nothing needs it; " +
			"otherwise find out why its consumers stopped using it"}, idle - class.MaxIdle, true
}

// checkReviewAndOwner adds the review and owner findings of an active identity, and the time
// its review is overdue to its trust debt.
func (rep *Report) checkReviewAndOwner(id Identity, class *Class, owner *Owner, now time.Time) {
	rep.Findings = append(rep.Findings, CheckReview(id, class, now)...)
	over, debt := CheckReviewOverdue(id, class, now)
	rep.Findings = append(rep.Findings, over...)
	if debt > 0 {
		rep.TrustDebt[id.Name] = addDebt(rep.TrustDebt[id.Name], debt)
	}
	rep.Findings = append(rep.Findings, CheckOwner(id, class, owner)...)
}

func (rep *Report) checkCredential(c Credential, id *Identity, classes map[string]*Class, policies map[string]*TTLPolicy, now time.Time) {
	if !c.Live(now) {
		return
	}
	sub := subject(SubjectIdentity, c.Identity)
	add := func(rule string, sev Severity, observed, allowed, owasp, remedy string) {
		rep.Findings = append(rep.Findings, Finding{Rule: rule, Severity: sev, Subject: sub, Object: "credential/" + c.ID,
			Observed: observed, Allowed: allowed, OWASP: owasp, Remedy: remedy})
	}
	revoke := "revoke credential " + c.ID
	if c.ExpiresAt.IsZero() {
		add(RuleCredentialNoExpiry, SeverityCritical, "credential "+c.ID+" has no expiry", "every dynamic credential expires", "NHI7", revoke)
	}
	if id != nil && id.Retired() {
		add(RuleRetiredWithCredential, SeverityCritical, "credential "+c.ID+" works for an identity retired at "+id.RetiredAt.UTC().Format(time.RFC3339),
			"no working credential for a retired identity", "NHI1", revoke+"; retiring must revoke every credential")
	}
	// Intended lifetime: the hard expiry the engine granted, capped by the class maximum.
	intended := c.HardExpiresAt.Sub(c.IssuedAt)
	if !c.HardExpiresAt.IsZero() && now.After(c.HardExpiresAt) {
		add(RuleCredentialPastHardExpiry, SeverityHigh, fmt.Sprintf("credential %s alive %s past its hard expiry %s", c.ID, FormatDuration(now.Sub(c.HardExpiresAt).Truncate(time.Second)), c.HardExpiresAt.UTC().Format(time.RFC3339)),
			"no credential outlives its hard expiry", "NHI7", revoke+" and find what extended it")
	}
	if id == nil {
		rep.addCredentialDebt(c, intended, now)
		return
	}
	if class := classes[id.Class]; class != nil && class.MaxLifetime > 0 {
		if age := now.Sub(c.IssuedAt); age > class.MaxLifetime {
			add(RuleCredentialAboveClassMax, SeverityHigh, "credential "+c.ID+" is "+FormatDuration(age.Truncate(time.Second))+" old",
				"class "+class.Name+" allows at most "+FormatDuration(class.MaxLifetime), "NHI7", revoke)
		}
		if intended <= 0 || intended > class.MaxLifetime {
			intended = class.MaxLifetime
		}
	}
	if p := policies[id.TTLPolicy]; p != nil {
		budget := int64(0)
		if p.Renewable {
			budget = -1
			if p.MaxRenewals != nil {
				budget = *p.MaxRenewals
			}
		}
		if budget >= 0 && c.RenewCount > budget {
			add(RuleRenewalsPastBudget, SeverityHigh, strconv.FormatInt(c.RenewCount, 10)+" renewals of credential "+c.ID,
				"ttl_policy "+p.Name+" allows "+strconv.FormatInt(budget, 10), "NHI7", revoke+" and find what renews it")
		}
	}
	rep.addCredentialDebt(c, intended, now)
}

// addCredentialDebt adds a live credential's age beyond its intended lifetime to its identity's
// trust debt; a credential with no intended lifetime is all debt.
func (rep *Report) addCredentialDebt(c Credential, intended time.Duration, now time.Time) {
	switch {
	case intended > 0:
		if excess := now.Sub(c.IssuedAt) - intended; excess > 0 {
			rep.TrustDebt[c.Identity] = addDebt(rep.TrustDebt[c.Identity], excess)
		}
	case c.ExpiresAt.IsZero():
		rep.TrustDebt[c.Identity] = addDebt(rep.TrustDebt[c.Identity], now.Sub(c.IssuedAt))
	}
}

func (rep *Report) checkSecrets(secrets []SecretObservation, identities map[string]*Identity) {
	byFingerprint := map[string][]SecretObservation{}
	for _, s := range secrets {
		if !s.Live {
			continue
		}
		if id := identities[s.Identity]; id != nil && id.Retired() {
			rep.Findings = append(rep.Findings, Finding{Rule: RuleRetiredWithCredential, Severity: SeverityCritical, Subject: subject(SubjectIdentity, s.Identity),
				Object:   "secret-version/" + strconv.FormatInt(s.Version, 10),
				Observed: "rotated secret version " + strconv.FormatInt(s.Version, 10) + " still authenticates",
				Allowed:  "no working secret for a retired identity", OWASP: "NHI1", Remedy: "destroy the secret version in the engine"})
		}
		if s.Fingerprint != "" {
			byFingerprint[s.Fingerprint] = append(byFingerprint[s.Fingerprint], s)
		}
	}
	for fp, same := range byFingerprint {
		owners := map[string]bool{}
		for _, s := range same {
			owners[s.Identity] = true
		}
		if len(owners) < 2 {
			continue
		}
		names := make([]string, 0, len(owners))
		for n := range owners {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, n := range names {
			rep.Findings = append(rep.Findings, Finding{Rule: RuleSharedSecret, Severity: SeverityCritical, Subject: subject(SubjectIdentity, n),
				Object:   "secret/" + fp,
				Observed: "secret fingerprint " + fp + " is shared by " + quoteList(names), Allowed: "one secret per identity", OWASP: "NHI9",
				Remedy: "rotate each identity's secret so that none is reused"})
		}
	}
}

// Scope selects the part of a report that a reader asked for; zero fields select everything.
type Scope struct {
	Class       string
	Owner       string
	Environment string
	MinSeverity Severity
}

// Filter keeps the findings and trust debt inside scope. Findings about a class or TTL policy
// follow the class filter and are dropped by owner and environment filters; findings about an
// identity or its rotation schedule follow that identity's attributes.
func (r Report) Filter(f Fleet, scope Scope) Report {
	identities := make(map[string]Identity, len(f.Identities))
	for _, id := range f.Identities {
		identities[id.Name] = id
	}
	policyClass := make(map[string]string, len(f.Policies))
	for _, p := range f.Policies {
		policyClass[p.Name] = p.Class
	}
	identityIn := func(name string) bool {
		id, ok := identities[name]
		if !ok { // unmanaged: known only by name
			return scope.Class == "" && scope.Owner == "" && scope.Environment == ""
		}
		return (scope.Class == "" || id.Class == scope.Class) && (scope.Owner == "" || id.Owner == scope.Owner) &&
			(scope.Environment == "" || id.Environment == scope.Environment)
	}
	in := func(fd Finding) bool {
		if !fd.Severity.AtLeast(scope.MinSeverity) {
			return false
		}
		kind, name, _ := strings.Cut(fd.Subject, "/")
		switch kind {
		case SubjectIdentity, SubjectRotationSchedule:
			return identityIn(name)
		case SubjectTTLPolicy:
			return scope.Owner == "" && scope.Environment == "" && (scope.Class == "" || policyClass[name] == scope.Class)
		case SubjectClass:
			return scope.Owner == "" && scope.Environment == "" && (scope.Class == "" || name == scope.Class)
		}
		return true
	}
	out := Report{TrustDebt: map[string]time.Duration{}, Blast: map[string]Blast{}}
	for _, fd := range r.Findings {
		if in(fd) {
			out.Findings = append(out.Findings, fd)
		}
	}
	for name, d := range r.TrustDebt {
		if identityIn(name) {
			out.TrustDebt[name] = d
		}
	}
	for name, b := range r.Blast {
		if identityIn(name) {
			out.Blast[name] = b
		}
	}
	return out
}

// About keeps the findings about one identity and its rotation schedule.
func (r Report) About(identity string) []Finding {
	var out []Finding
	for _, f := range r.Findings {
		if f.Subject == subject(SubjectIdentity, identity) || f.Subject == subject(SubjectRotationSchedule, identity) {
			out = append(out, f)
		}
	}
	return out
}
