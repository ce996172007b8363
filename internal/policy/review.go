package policy

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Review and ownership: whether someone still vouches for an identity (class review_every with
// the identity's reviewed_at and reviewed_by, moved by the pull request that attests the review)
// and whether its owner is still here (owners as records, nhi_owner). Stale and orphaned
// identities are where offboarding fails (OWASP NHI1).

// Review and owner rule identifiers.
const (
	RuleReviewOverdue      = "review-overdue"
	RuleReviewDueSoon      = "review-due-soon"
	RuleReviewInFuture     = "review-in-future"
	RuleReviewerMissing    = "reviewer-missing"
	RuleOwnerDeparted      = "owner-departed"
	RuleOwnerNotRegistered = "owner-not-registered"
)

func init() {
	describeRules(map[string]ruleDoc{
		RuleReviewOverdue: {"Review Overdue",
			"An identity's class requires a review every review_every, and the last review (reviewed_at, or the identity's creation when it was never reviewed) is older: nobody has vouched for the identity in time. The time overdue adds to trust debt.",
			"Review the identity, then move reviewed_at (and set reviewed_by) in a pull request: that change is the attestation. Retire the identity if nobody vouches for it."},
		RuleReviewDueSoon: {"Review Due Soon",
			"An identity's next review under its class's review_every falls due within 14 days.",
			"Review the identity and move reviewed_at (with reviewed_by) in a pull request before it falls due."},
		RuleReviewInFuture: {"Review Dated In The Future",
			"An identity's reviewed_at lies in the future: a review cannot be attested before it happens, and a future date would postpone the next one.",
			"Set reviewed_at to when the review took place."},
		RuleReviewerMissing: {"Reviewer Missing",
			"An identity's class requires reviews (review_every), and the identity names no reviewer (reviewed_by): the attestation has nobody behind it.",
			"Set reviewed_by to the person who reviewed the identity."},
		RuleOwnerDeparted: {"Owner Departed",
			"An identity's owner is an nhi_owner marked departed: nobody accountable is left to use, review or offboard it.",
			"Reassign the identity to an active owner, or retire it."},
		RuleOwnerNotRegistered: {"Owner Not Registered",
			"An identity's class requires its owner to be a registered nhi_owner (require_registered_owner), and the owner names none.",
			"Declare the owner with nhi_owner, or set owner to a registered, active one."},
	})
}

// ReviewNotice is how long before a review falls due the plan warns about it.
const ReviewNotice = 14 * Day

// OwnerKind is what an owner is.
type OwnerKind string

// Owner kinds.
const (
	OwnerTeam   OwnerKind = "team"
	OwnerPerson OwnerKind = "person"
)

// OwnerStatus is whether an owner is still here.
type OwnerStatus string

// Owner statuses.
const (
	OwnerActive   OwnerStatus = "active"
	OwnerDeparted OwnerStatus = "departed"
)

// Owner is a team or person accountable for identities, as a governance record.
type Owner struct {
	Name    string      `json:"name"`
	Kind    OwnerKind   `json:"kind"`
	Contact string      `json:"contact,omitempty"`
	Status  OwnerStatus `json:"status"`
}

// Validate checks an owner record before an engine stores it: a valid name (CheckName), a kind
// of team or person, a status of active or departed.
func (o Owner) Validate() error {
	if err := CheckName(o.Name); err != nil {
		return err
	}
	if o.Kind != OwnerTeam && o.Kind != OwnerPerson {
		return fmt.Errorf("owner %q has kind %q: use %q or %q", o.Name, o.Kind, OwnerTeam, OwnerPerson)
	}
	if o.Status != OwnerActive && o.Status != OwnerDeparted {
		return fmt.Errorf("owner %q has status %q: use %q or %q", o.Name, o.Status, OwnerActive, OwnerDeparted)
	}
	return nil
}

// Departed reports whether the owner has left.
func (o Owner) Departed() bool { return o.Status == OwnerDeparted }

// reviewDue is when id's next review falls due under class: review_every after its last review,
// which is reviewed_at, or its creation when it was never reviewed (an identity not created yet,
// with no creation time, counts as created at now). ok is false when the class requires no
// review.
func reviewDue(id Identity, class *Class, now time.Time) (due time.Time, ok bool) {
	if class == nil || class.ReviewEvery <= 0 {
		return time.Time{}, false
	}
	last := id.ReviewedAt
	if last.IsZero() {
		last = id.CreatedAt
	}
	if last.IsZero() {
		last = now
	}
	return last.Add(class.ReviewEvery), true
}

// lastReview says what the review clock of id started from, for findings.
func lastReview(id Identity) string {
	if id.ReviewedAt.IsZero() {
		return "never reviewed"
	}
	by := ""
	if id.ReviewedBy != "" {
		by = " by " + strconv.Quote(id.ReviewedBy)
	}
	return "last reviewed at " + id.ReviewedAt.UTC().Format(time.RFC3339) + by
}

// CheckReview checks an identity's review attestation against its class: reviewed_at may not
// lie in the future, and where the class requires reviews (review_every) reviewed_by must name
// the reviewer. A nil class checks only the date.
func CheckReview(id Identity, class *Class, now time.Time) []Finding {
	var out []Finding
	add := highFindings(&out, subject(SubjectIdentity, id.Name))
	if id.ReviewedAt.After(now) {
		add(RuleReviewInFuture, "reviewed_at", "reviewed_at "+id.ReviewedAt.UTC().Format(time.RFC3339),
			"a review at or before now ("+now.UTC().Format(time.RFC3339)+")", "NHI1", "set reviewed_at to when the review took place")
	}
	if class != nil && class.ReviewEvery > 0 && strings.TrimSpace(id.ReviewedBy) == "" {
		add(RuleReviewerMissing, "reviewed_by", "no reviewed_by",
			"class "+class.Name+" requires a review every "+FormatDuration(class.ReviewEvery)+", attested by its reviewer", "NHI1",
			"set reviewed_by to the person who reviewed the identity")
	}
	return out
}

// CheckReviewOverdue is the review-overdue finding of an active identity whose review under its
// class's review_every is past due at now, with the time overdue (its trust debt); none when the
// review is not due or the class requires none.
func CheckReviewOverdue(id Identity, class *Class, now time.Time) ([]Finding, time.Duration) {
	due, ok := reviewDue(id, class, now)
	if !ok || id.Retired() || !now.After(due) {
		return nil, 0
	}
	over := now.Sub(due)
	return []Finding{{Rule: RuleReviewOverdue, Severity: SeverityMedium, Subject: subject(SubjectIdentity, id.Name), Attribute: "reviewed_at",
		Observed: lastReview(id) + "; review due at " + due.UTC().Format(time.RFC3339) + ", overdue by " + FormatDuration(over.Truncate(time.Second)),
		Allowed:  "class " + class.Name + " requires a review every " + FormatDuration(class.ReviewEvery), OWASP: "NHI1",
		Remedy: "review the identity and move reviewed_at (with reviewed_by) in a pull request, or retire it"}}, over
}

// ReviewReminder is what the plan of an identity warns about its review at now: the
// review-overdue finding when it is past due, a review-due-soon finding when it falls due within
// ReviewNotice, nothing otherwise.
func ReviewReminder(id Identity, class *Class, now time.Time) []Finding {
	if over, _ := CheckReviewOverdue(id, class, now); len(over) > 0 {
		return over
	}
	due, ok := reviewDue(id, class, now)
	if !ok || id.Retired() || due.Sub(now) > ReviewNotice {
		return nil
	}
	return []Finding{{Rule: RuleReviewDueSoon, Severity: SeverityLow, Subject: subject(SubjectIdentity, id.Name), Attribute: "reviewed_at",
		Observed: lastReview(id) + "; review due at " + due.UTC().Format(time.RFC3339) + ", in " + FormatDuration(due.Sub(now).Truncate(time.Second)),
		Allowed:  "class " + class.Name + " requires a review every " + FormatDuration(class.ReviewEvery), OWASP: "NHI1",
		Remedy: "review the identity and move reviewed_at (with reviewed_by) in a pull request before then"}}
}

// CheckOwner checks an identity's owner against the owner records: an owner marked departed is
// an owner-departed finding whatever the class, and a class that requires a registered owner
// (require_registered_owner) makes an owner with no record (owner nil), or no owner at all, an
// owner-not-registered finding. owner is the record the identity's owner names, nil when none.
func CheckOwner(id Identity, class *Class, owner *Owner) []Finding {
	var out []Finding
	add := highFindings(&out, subject(SubjectIdentity, id.Name))
	switch {
	case owner != nil && owner.Departed():
		add(RuleOwnerDeparted, "owner", "owner "+strconv.Quote(owner.Name)+" is marked departed",
			"an active owner accountable for the identity", "NHI1", "set owner to an active nhi_owner, or retire the identity")
	case class != nil && class.RequireRegisteredOwner && owner == nil:
		obs := "owner " + strconv.Quote(id.Owner) + " names no nhi_owner record"
		if strings.TrimSpace(id.Owner) == "" {
			obs = "no owner"
		}
		add(RuleOwnerNotRegistered, "owner", obs, "class "+class.Name+" requires an active, registered owner (nhi_owner)", "NHI1",
			"declare the owner with nhi_owner and reference it (owner = nhi_owner.<label>.name, which also orders a create in the same plan), or set owner to a registered, active one")
	}
	return out
}

// Owned returns the active identities that owner owns, sorted by name.
func Owned(owner string, ids []Identity) []Identity {
	var out []Identity
	for _, id := range ids {
		if id.Owner == owner && !id.Retired() {
			out = append(out, id)
		}
	}
	slices.SortFunc(out, func(a, b Identity) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// ReachReview is Reach for the review and owner rules: the findings that class, as declared,
// would raise on its active identities (a reviewer missing or a review overdue under
// review_every, an owner that is not an active record under require_registered_owner), so that
// a tightening names them in its own plan. owners are the owner records; they are read only for
// require_registered_owner. A review dated in the future is the identity's own rule, not the
// class's reach.
func ReachReview(class Class, ids []Identity, owners []Owner, now time.Time) []Finding {
	byName := indexBy(owners, func(o Owner) string { return o.Name })
	var out []Finding
	for _, id := range ids {
		if id.Class != class.Name || id.Retired() {
			continue
		}
		for _, f := range CheckReview(id, &class, now) {
			if f.Rule != RuleReviewInFuture {
				out = append(out, f)
			}
		}
		over, _ := CheckReviewOverdue(id, &class, now)
		out = append(out, over...)
		if class.RequireRegisteredOwner {
			out = append(out, CheckOwner(id, &class, byName[id.Owner])...)
		}
	}
	return out
}
