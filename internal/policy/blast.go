package policy

import (
	"strconv"
	"strings"
	"time"
)

// Exposure is an identity's exposure window: the longest a single leaked credential of the
// identity stays usable under the current declarations.
type Exposure struct {
	// Window is the exposure window; meaningful only when Bounded.
	Window  time.Duration
	Bounded bool
	// Basis says which declaration bounds the window (or why nothing does), for findings.
	Basis string
}

// Blast is an identity's exposure window and the number of scopes a credential carries.
type Blast struct {
	Exposure
	Scopes int
}

// Radius is the blast radius in scope-hours, and whether it is bounded.
func (b Blast) Radius() (float64, bool) { return b.BlastRadius(b.Scopes) }

// BlastRadius is scopes x exposure hours ("scope-hours"), and whether it is bounded. An
// identity with no scopes reaches nothing: its blast radius is zero even when unbounded.
func (e Exposure) BlastRadius(scopes int) (float64, bool) {
	if scopes == 0 {
		return 0, true
	}
	if !e.Bounded {
		return 0, false
	}
	return float64(scopes) * e.Window.Hours(), true
}

// describe explains the blast radius of a credential with scopes under e, for findings.
func (e Exposure) describe(scopes int) string {
	r, bounded := e.BlastRadius(scopes)
	if !bounded {
		return "unbounded blast radius: " + strconv.Itoa(scopes) + " scopes with no bound on exposure (" + e.Basis + ")"
	}
	return "blast radius " + formatScopeHours(r) + ": " + strconv.Itoa(scopes) + " scopes x " + FormatDuration(e.Window) + " (" + e.Basis + ")"
}

func formatScopeHours(r float64) string {
	return strconv.FormatFloat(r, 'f', -1, 64) + " scope-hours"
}

// ExposureOf works out an identity's exposure window from what bounds its credentials: the hard
// lifetime of its TTL policy (dynamic credentials), and its rotation schedule (rotated secret):
// interval + window + overlap, or interval + window when expire_unrotated makes a secret stop
// at its due time plus the window (the overlap never outlasts that). The longest of the two
// counts. A rotated secret still live without a schedule is unbounded; an identity with
// neither a policy nor a live secret has no credential to leak (zero). known is false when the
// identity names a TTL policy that ttl does not supply, or its schedule cannot be evaluated.
func ExposureOf(id Identity, ttl *TTLPolicy, sched *RotationSchedule, liveSecret bool, now time.Time) (exp Exposure, known bool) {
	if id.TTLPolicy != "" && ttl == nil {
		return Exposure{}, false
	}
	exp = Exposure{Bounded: true, Basis: "no credential: no TTL policy and no rotated secret"}
	var bases []string
	if ttl != nil {
		life, bounded := ttl.Lifetime()
		if !bounded {
			return Exposure{Basis: "ttl_policy " + ttl.Name + " renews without max_lifetime or max_renewals"}, true
		}
		exp.Window = life
		bases = append(bases, "ttl_policy "+ttl.Name+" hard lifetime "+FormatDuration(life))
	}
	switch {
	case sched != nil:
		interval, err := sched.RotationInterval(now)
		if err != nil {
			return Exposure{}, false
		}
		w := addDebt(interval, sched.Window)
		basis := "rotation interval " + FormatDuration(interval) + " + window " + FormatDuration(sched.Window)
		if sched.ExpireUnrotated {
			basis = "expire_unrotated: " + basis
		} else {
			w = addDebt(w, sched.Overlap)
			basis += " + overlap " + FormatDuration(sched.Overlap)
		}
		if w > exp.Window {
			exp.Window = w
		}
		bases = append(bases, basis)
	case liveSecret:
		return Exposure{Basis: "a rotated secret is live and no rotation schedule bounds it"}, true
	}
	if len(bases) > 0 {
		exp.Basis = strings.Join(bases, "; ")
	}
	return exp, true
}

// checkExposure is the finding on an identity whose exposure window nothing bounds.
func checkExposure(id Identity, exp Exposure) []Finding {
	if exp.Bounded {
		return nil
	}
	return []Finding{{Rule: RuleUnboundedExposure, Severity: SeverityHigh, Subject: subject(SubjectIdentity, id.Name),
		Observed: "unbounded exposure window: " + exp.Basis,
		Allowed:  "every credential has a bounded life: a TTL policy's hard lifetime, or a rotation schedule", OWASP: "NHI7",
		Remedy: "give the identity's TTL policy a max_lifetime, or give its rotated secret an nhi_rotation_schedule"}}
}
