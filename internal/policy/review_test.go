package policy

import (
	"slices"
	"testing"
	"time"
)

func TestCheckReview(t *testing.T) {
	reviewed := &Class{Name: "svc", Kind: KindPersistent, ReviewEvery: 90 * Day}
	tests := []struct {
		name  string
		id    Identity
		class *Class
		want  []string
	}{
		{"no class, no review", Identity{Name: "a"}, nil, nil},
		{"class without review_every needs no reviewer", Identity{Name: "a"}, &Class{Name: "svc"}, nil},
		{"review attested", Identity{Name: "a", ReviewedAt: testNow.Add(-Day), ReviewedBy: "alice"}, reviewed, nil},
		{"review at now is not in the future", Identity{Name: "a", ReviewedAt: testNow, ReviewedBy: "alice"}, reviewed, nil},
		{"reviewer missing", Identity{Name: "a", ReviewedAt: testNow.Add(-Day)}, reviewed, []string{at(RuleReviewerMissing, "reviewed_by")}},
		{"blank reviewer", Identity{Name: "a", ReviewedBy: "  "}, reviewed, []string{at(RuleReviewerMissing, "reviewed_by")}},
		{"future review", Identity{Name: "a", ReviewedAt: testNow.Add(time.Second), ReviewedBy: "alice"}, reviewed,
			[]string{at(RuleReviewInFuture, "reviewed_at")}},
		{"future review without class", Identity{Name: "a", ReviewedAt: testNow.Add(Day)}, nil, []string{at(RuleReviewInFuture, "reviewed_at")}},
		{"both", Identity{Name: "a", ReviewedAt: testNow.Add(Day)}, reviewed,
			[]string{at(RuleReviewInFuture, "reviewed_at"), at(RuleReviewerMissing, "reviewed_by")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assertFindings(t, CheckReview(tt.id, tt.class, testNow), "identity/a", tt.want...)
		})
	}
}

func TestReviewOverdueAndReminder(t *testing.T) {
	class := &Class{Name: "svc", Kind: KindPersistent, ReviewEvery: 90 * Day}
	created := testNow.Add(-200 * Day)
	tests := []struct {
		name     string
		id       Identity
		class    *Class
		debt     time.Duration
		reminder []string // the plan's reminder, as rule@attribute
	}{
		{"no review_every", Identity{Name: "a", CreatedAt: created}, &Class{Name: "svc"}, 0, nil},
		{"no class", Identity{Name: "a", CreatedAt: created}, nil, 0, nil},
		{"reviewed recently", Identity{Name: "a", CreatedAt: created, ReviewedAt: testNow.Add(-10 * Day), ReviewedBy: "alice"}, class, 0, nil},
		{"due in exactly 14 days", Identity{Name: "a", CreatedAt: created, ReviewedAt: testNow.Add(-76 * Day), ReviewedBy: "alice"}, class, 0,
			[]string{at(RuleReviewDueSoon, "reviewed_at")}},
		{"due in 14 days and a second", Identity{Name: "a", CreatedAt: created, ReviewedAt: testNow.Add(-76*Day + time.Second), ReviewedBy: "alice"}, class, 0, nil},
		{"due now is not overdue yet", Identity{Name: "a", CreatedAt: created, ReviewedAt: testNow.Add(-90 * Day), ReviewedBy: "alice"}, class, 0,
			[]string{at(RuleReviewDueSoon, "reviewed_at")}},
		{"overdue by 10 days", Identity{Name: "a", CreatedAt: created, ReviewedAt: testNow.Add(-100 * Day), ReviewedBy: "alice"}, class, 10 * Day,
			[]string{at(RuleReviewOverdue, "reviewed_at")}},
		{"never reviewed: due review_every after creation", Identity{Name: "a", CreatedAt: created}, class, 110 * Day,
			[]string{at(RuleReviewOverdue, "reviewed_at")}},
		{"not created yet counts from now", Identity{Name: "a"}, class, 0, nil},
		{"retired identities need no review", Identity{Name: "a", CreatedAt: created, Status: StatusRetired, RetiredAt: testNow}, class, 0, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			over, debt := CheckReviewOverdue(tt.id, tt.class, testNow)
			if debt != tt.debt {
				t.Errorf("debt = %s, want %s", debt, tt.debt)
			}
			if (debt > 0) != (len(over) == 1) {
				t.Errorf("overdue findings %v with debt %s", over, debt)
			}
			assertFindings(t, ReviewReminder(tt.id, tt.class, testNow), "identity/a", tt.reminder...)
		})
	}
}

func TestCheckOwner(t *testing.T) {
	active := &Owner{Name: "team-a", Kind: OwnerTeam, Status: OwnerActive}
	departed := &Owner{Name: "bob", Kind: OwnerPerson, Status: OwnerDeparted}
	registered := &Class{Name: "svc", RequireRegisteredOwner: true}
	plain := &Class{Name: "svc"}
	tests := []struct {
		name  string
		id    Identity
		class *Class
		owner *Owner
		want  []string
	}{
		{"unregistered owner, class does not care", Identity{Name: "a", Owner: "x"}, plain, nil, nil},
		{"no class", Identity{Name: "a", Owner: "x"}, nil, nil, nil},
		{"active registered owner", Identity{Name: "a", Owner: "team-a"}, registered, active, nil},
		{"unregistered owner", Identity{Name: "a", Owner: "x"}, registered, nil, []string{at(RuleOwnerNotRegistered, "owner")}},
		{"no owner", Identity{Name: "a"}, registered, nil, []string{at(RuleOwnerNotRegistered, "owner")}},
		{"departed owner, registration required", Identity{Name: "a", Owner: "bob"}, registered, departed, []string{at(RuleOwnerDeparted, "owner")}},
		{"departed owner, registration not required", Identity{Name: "a", Owner: "bob"}, plain, departed, []string{at(RuleOwnerDeparted, "owner")}},
		{"departed owner, no class", Identity{Name: "a", Owner: "bob"}, nil, departed, []string{at(RuleOwnerDeparted, "owner")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assertFindings(t, CheckOwner(tt.id, tt.class, tt.owner), "identity/a", tt.want...)
		})
	}
}

func TestOwned(t *testing.T) {
	ids := []Identity{{Name: "d", Owner: "bob"}, {Name: "b", Owner: "alice"}, {Name: "c", Owner: "bob", Status: StatusRetired}, {Name: "a", Owner: "bob"}}
	var got []string
	for _, id := range Owned("bob", ids) {
		got = append(got, id.Name)
	}
	if !slices.Equal(got, []string{"a", "d"}) {
		t.Errorf("Owned(bob) = %v, want [a d] (active ones only, sorted)", got)
	}
	if got := Owned("carol", ids); got != nil {
		t.Errorf("Owned(carol) = %v, want none", got)
	}
}

// TestDriftReviewAndOwner: the drift report carries review-overdue with its trust debt and
// owner-departed on exactly the departed owner's active identities.
func TestDriftReviewAndOwner(t *testing.T) {
	created := testNow.Add(-100 * Day)
	f := Fleet{
		Now:     testNow,
		Classes: []Class{{Name: "svc", Kind: KindPersistent, ReviewEvery: 30 * Day}, {Name: "reg", Kind: KindPersistent, RequireRegisteredOwner: true}},
		Owners:  []Owner{{Name: "bob", Kind: OwnerPerson, Status: OwnerDeparted}, {Name: "team-a", Kind: OwnerTeam, Status: OwnerActive}},
		Identities: []Identity{
			{Name: "overdue", Class: "svc", Owner: "team-a", Status: StatusActive, CreatedAt: created, ReviewedAt: testNow.Add(-40 * Day), ReviewedBy: "alice"},
			{Name: "fresh", Class: "svc", Owner: "team-a", Status: StatusActive, CreatedAt: created, ReviewedAt: testNow.Add(-Day), ReviewedBy: "alice"},
			{Name: "bobs", Class: "reg", Owner: "bob", Status: StatusActive, CreatedAt: created},
			{Name: "bobs-retired", Class: "reg", Owner: "bob", Status: StatusRetired, CreatedAt: created, RetiredAt: testNow},
			{Name: "nobodys", Class: "reg", Owner: "carol", Status: StatusActive, CreatedAt: created},
		},
	}
	rep := Drift(f)
	rules := map[string][]string{}
	for _, fd := range rep.Findings {
		rules[fd.Subject] = append(rules[fd.Subject], fd.Rule)
	}
	want := map[string][]string{
		"identity/overdue": {RuleReviewOverdue},
		"identity/bobs":    {RuleOwnerDeparted},
		"identity/nobodys": {RuleOwnerNotRegistered},
	}
	for sub, w := range want {
		if !slices.Equal(rules[sub], w) {
			t.Errorf("%s: rules %v, want %v", sub, rules[sub], w)
		}
	}
	for _, sub := range []string{"identity/fresh", "identity/bobs-retired"} {
		if len(rules[sub]) > 0 {
			t.Errorf("%s: rules %v, want none", sub, rules[sub])
		}
	}
	if got := rep.TrustDebt["overdue"]; got != 10*Day {
		t.Errorf("trust debt of overdue = %s, want 240h (10 days overdue)", got)
	}
	if got := rep.TotalTrustDebt(); got != 10*Day {
		t.Errorf("total trust debt = %s, want 240h", got)
	}
}

// TestReachReview: a class that starts requiring reviews and registered owners names every
// active identity of its own it would leave out of compliance, and nothing else.
func TestReachReview(t *testing.T) {
	class := Class{Name: "svc", Kind: KindPersistent, ReviewEvery: 30 * Day, RequireRegisteredOwner: true}
	created := testNow.Add(-10 * Day)
	owners := []Owner{{Name: "team-a", Kind: OwnerTeam, Status: OwnerActive}, {Name: "bob", Kind: OwnerPerson, Status: OwnerDeparted}}
	ids := []Identity{
		{Name: "ok", Class: "svc", Owner: "team-a", Status: StatusActive, CreatedAt: created, ReviewedAt: testNow.Add(-Day), ReviewedBy: "alice"},
		{Name: "unreviewed", Class: "svc", Owner: "team-a", Status: StatusActive, CreatedAt: created},
		{Name: "stale", Class: "svc", Owner: "team-a", Status: StatusActive, CreatedAt: created, ReviewedAt: testNow.Add(-31 * Day), ReviewedBy: "alice"},
		{Name: "future", Class: "svc", Owner: "team-a", Status: StatusActive, CreatedAt: created, ReviewedAt: testNow.Add(Day), ReviewedBy: "alice"},
		{Name: "bobs", Class: "svc", Owner: "bob", Status: StatusActive, CreatedAt: created, ReviewedAt: testNow, ReviewedBy: "alice"},
		{Name: "ghost", Class: "svc", Owner: "nobody", Status: StatusActive, CreatedAt: created, ReviewedAt: testNow, ReviewedBy: "alice"},
		{Name: "retired", Class: "svc", Owner: "bob", Status: StatusRetired, CreatedAt: created},
		{Name: "other", Class: "ci", Owner: "bob", Status: StatusActive, CreatedAt: created},
	}
	want := []string{
		"identity/unreviewed " + RuleReviewerMissing,
		"identity/stale " + RuleReviewOverdue,
		"identity/bobs " + RuleOwnerDeparted,
		"identity/ghost " + RuleOwnerNotRegistered,
	}
	if got := subjectsOf(ReachReview(class, ids, owners, testNow)); !slices.Equal(got, want) {
		t.Fatalf("ReachReview = %v, want %v", got, want)
	}
	if got := ReachReview(Class{Name: "svc", Kind: KindPersistent}, ids, nil, testNow); len(got) != 0 {
		t.Fatalf("a class without review or owner rules reaches %v, want nothing", subjectsOf(got))
	}
}
