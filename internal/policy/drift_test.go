package policy

import (
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

// cleanFleet is a small fleet that breaks no rule: an ephemeral identity with a live, an expired
// and a renewed credential; a retired one whose credential was revoked; two persistent
// identities rotated on time, by interval and by cron. Each call returns fresh slices.
func cleanFleet() Fleet {
	now := testNow
	return Fleet{
		Now: now,
		Classes: []Class{
			{Name: "ci", Kind: KindEphemeral, MaxTTL: time.Hour, MaxLifetime: Day, MaxRenewals: ptr(int64(10)),
				RequireOwner: true, Environments: []string{"staging", "prod"}},
			{Name: "svc", Kind: KindPersistent, MaxRotationInterval: 30 * Day, RequireOwner: true, RequireConsumers: true},
		},
		Policies: []TTLPolicy{
			{Name: "ci-short", Class: "ci", TTL: 30 * time.Minute, MaxLifetime: 12 * time.Hour, Renewable: true, MaxRenewals: ptr(int64(5))},
		},
		Identities: []Identity{
			{Name: "ci-build", Class: "ci", Owner: "platform", Environment: "prod", TTLPolicy: "ci-short", Status: StatusActive},
			{Name: "ci-old", Class: "ci", Owner: "platform", Environment: "prod", TTLPolicy: "ci-short", Status: StatusRetired, RetiredAt: now.Add(-2 * Day)},
			{Name: "svc-api", Class: "svc", Owner: "payments", Environment: "prod", Status: StatusActive},
			{Name: "svc-db", Class: "svc", Owner: "payments", Environment: "prod", Status: StatusActive},
		},
		Schedules: []RotationSchedule{
			{Identity: "svc-api", Interval: 7 * Day, Window: time.Hour, Consumers: []Consumer{{Name: "gateway"}}},
			{Identity: "svc-db", Cron: "0 3 * * 1", Window: time.Hour, Consumers: []Consumer{{Name: "orders"}}},
		},
		Credentials: []Credential{
			{ID: "c-live", Identity: "ci-build", IssuedAt: now.Add(-10 * time.Minute), ExpiresAt: now.Add(20 * time.Minute), HardExpiresAt: now.Add(-10*time.Minute + 12*time.Hour)},
			{ID: "c-renewed", Identity: "ci-build", IssuedAt: now.Add(-2 * time.Hour), ExpiresAt: now.Add(10 * time.Minute), HardExpiresAt: now.Add(10 * time.Hour), RenewCount: 5},
			{ID: "c-expired", Identity: "ci-build", IssuedAt: now.Add(-3 * Day), ExpiresAt: now.Add(-3*Day + 30*time.Minute), HardExpiresAt: now.Add(-3*Day + 12*time.Hour)},
			// Revoked before it expired: a retired identity's credential that no longer works.
			{ID: "c-revoked", Identity: "ci-old", IssuedAt: now.Add(-2*Day - time.Hour), ExpiresAt: now.Add(-2*Day + 11*time.Hour), RevokedAt: now.Add(-2 * Day)},
		},
		Secrets: []SecretObservation{
			{Identity: "svc-api", Version: 1, PromotedAt: now.Add(-8 * Day), Live: false, Fingerprint: "fp-api-1"},
			{Identity: "svc-api", Version: 2, Current: true, PromotedAt: now.Add(-Day), Live: true, Fingerprint: "fp-api-2"},
			{Identity: "svc-db", Version: 1, Current: true, PromotedAt: monday0300, Live: true, Fingerprint: "fp-db-1"},
			// A dead version of a retired identity that once held svc-api's secret: not shared, not live.
			{Identity: "ci-old", Version: 1, Current: true, PromotedAt: now.Add(-9 * Day), Live: false, Fingerprint: "fp-api-2"},
		},
	}
}

// driftKey writes a finding as "subject rule@attribute severity owasp".
func driftKey(subject, rule, attr string, sev Severity, owasp string) string {
	return subject + " " + rule + "@" + attr + " " + string(sev) + " " + owasp
}

// assertDrift checks that got holds exactly the want findings, in order, and that each is
// complete enough to act on.
func assertDrift(t *testing.T, got []Finding, want ...string) {
	t.Helper()
	var keys []string
	for _, f := range got {
		keys = append(keys, driftKey(f.Subject, f.Rule, f.Attribute, f.Severity, f.OWASP))
		if _, ok := ruleTitles[f.Rule]; !ok {
			t.Errorf("%s: rule has no title", f.Rule)
		}
		if f.Observed == "" || f.Allowed == "" || f.Remedy == "" {
			t.Errorf("%s on %s: observed %q, allowed %q, remedy %q: none may be empty", f.Rule, f.Subject, f.Observed, f.Allowed, f.Remedy)
		}
	}
	if !slices.Equal(keys, want) {
		t.Errorf("findings =\n  %s\nwant\n  %s", strings.Join(keys, "\n  "), strings.Join(want, "\n  "))
	}
}

func TestDriftCleanFleet(t *testing.T) {
	rep := Drift(cleanFleet())
	assertDrift(t, rep.Findings)
	for name, d := range rep.TrustDebt {
		if d != 0 {
			t.Errorf("trust debt of %s = %v, want 0", name, d)
		}
	}
	if got := rep.TotalTrustDebt(); got != 0 {
		t.Errorf("TotalTrustDebt() = %v, want 0", got)
	}
	if rep.TrustDebt == nil {
		t.Error("TrustDebt is nil, want an empty map")
	}
}

func TestDriftRules(t *testing.T) {
	now := testNow
	live := func(id, identity string, issuedAgo time.Duration) Credential {
		return Credential{ID: id, Identity: identity, IssuedAt: now.Add(-issuedAgo), ExpiresAt: now.Add(20 * time.Minute),
			HardExpiresAt: now.Add(-issuedAgo + 12*time.Hour)}
	}
	addCred := func(c Credential) func(*Fleet) {
		return func(f *Fleet) { f.Credentials = append(f.Credentials, c) }
	}
	identity := func(f *Fleet, name string) *Identity {
		for i := range f.Identities {
			if f.Identities[i].Name == name {
				return &f.Identities[i]
			}
		}
		panic("no identity " + name)
	}
	secret := func(f *Fleet, name string, version int64) *SecretObservation {
		for i := range f.Secrets {
			if f.Secrets[i].Identity == name && f.Secrets[i].Version == version {
				return &f.Secrets[i]
			}
		}
		panic("no secret version")
	}
	const (
		build = "identity/ci-build"
		old   = "identity/ci-old"
		api   = "identity/svc-api"
		db    = "identity/svc-db"
	)

	tests := []struct {
		name   string
		mutate func(*Fleet)
		want   []string
	}{
		{"credential without expiry", addCred(Credential{ID: "c-forever", Identity: "ci-build", IssuedAt: now.Add(-10 * time.Minute), HardExpiresAt: now.Add(time.Hour)}),
			[]string{driftKey(build, RuleCredentialNoExpiry, "", SeverityCritical, "NHI7")}},
		{"live credential of a retired identity", addCred(live("c-left", "ci-old", 10*time.Minute)),
			[]string{driftKey(old, RuleRetiredWithCredential, "", SeverityCritical, "NHI1")}},
		{"live secret version of a retired identity", func(f *Fleet) { secret(f, "ci-old", 1).Live = true; secret(f, "ci-old", 1).Fingerprint = "fp-old" },
			[]string{driftKey(old, RuleRetiredWithCredential, "", SeverityCritical, "NHI1")}},
		{"expired credential of a retired identity", addCred(Credential{ID: "c-gone", Identity: "ci-old", IssuedAt: now.Add(-Day), ExpiresAt: now.Add(-time.Hour)}), nil},
		{"credential expiring now", addCred(Credential{ID: "c-now", Identity: "ci-old", IssuedAt: now.Add(-time.Hour), ExpiresAt: now}), nil},
		{"credential past its hard expiry", addCred(Credential{ID: "c-stretched", Identity: "ci-build", IssuedAt: now.Add(-13 * time.Hour),
			ExpiresAt: now.Add(time.Hour), HardExpiresAt: now.Add(-time.Hour), RenewCount: 3}),
			[]string{driftKey(build, RuleCredentialPastHardExpiry, "", SeverityHigh, "NHI7")}},
		{"credential exactly at its hard expiry", addCred(Credential{ID: "c-edge", Identity: "ci-build", IssuedAt: now.Add(-12 * time.Hour),
			ExpiresAt: now.Add(time.Hour), HardExpiresAt: now}), nil},
		{"credential older than the class allows", addCred(Credential{ID: "c-old", Identity: "ci-build", IssuedAt: now.Add(-25 * time.Hour),
			ExpiresAt: now.Add(time.Hour), HardExpiresAt: now.Add(time.Hour)}),
			[]string{driftKey(build, RuleCredentialAboveClassMax, "", SeverityHigh, "NHI7")}},
		{"credential exactly as old as the class allows", addCred(Credential{ID: "c-old", Identity: "ci-build", IssuedAt: now.Add(-Day),
			ExpiresAt: now.Add(time.Hour), HardExpiresAt: now.Add(time.Hour)}), nil},
		{"renewals past budget", func(f *Fleet) { f.Credentials[1].RenewCount = 6 },
			[]string{driftKey(build, RuleRenewalsPastBudget, "", SeverityHigh, "NHI7")}},
		{"any renewal of a non-renewable credential", func(f *Fleet) { f.Policies[0].Renewable = false; f.Policies[0].MaxRenewals = nil },
			[]string{driftKey(build, RuleRenewalsPastBudget, "", SeverityHigh, "NHI7")}},
		{"renewals without a cap", func(f *Fleet) {
			f.Classes[0].MaxRenewals = nil
			f.Policies[0].MaxRenewals = nil
			f.Credentials[1].RenewCount = 1000
		}, nil},
		{"renewals of an expired credential", func(f *Fleet) { f.Credentials[2].RenewCount = 1000 }, nil},
		{"rotation overdue by interval", func(f *Fleet) { secret(f, "svc-api", 2).PromotedAt = now.Add(-7*Day - 90*time.Minute) },
			[]string{driftKey("rotation_schedule/svc-api", RuleRotationOverdue, "", SeverityHigh, "NHI7")}},
		{"rotation overdue by cron", func(f *Fleet) { secret(f, "svc-db", 1).PromotedAt = monday0300.Add(-7 * Day) },
			[]string{driftKey("rotation_schedule/svc-db", RuleRotationOverdue, "", SeverityHigh, "NHI7")}},
		{"rotation due but inside its window", func(f *Fleet) { secret(f, "svc-api", 2).PromotedAt = now.Add(-7*Day - time.Hour) }, nil},
		{"rotation of a retired identity is not overdue", func(f *Fleet) {
			identity(f, "svc-api").Status = StatusRetired
			secret(f, "svc-api", 2).Live = false
			secret(f, "svc-api", 2).PromotedAt = now.Add(-100 * Day)
		}, nil},
		{"rotation without a current secret is not overdue", func(f *Fleet) { secret(f, "svc-api", 2).Current = false }, nil},
		{"non-current versions do not count as the last rotation", func(f *Fleet) { secret(f, "svc-api", 1).PromotedAt = now.Add(-100 * Day) }, nil},
		{"secret shared by two identities", func(f *Fleet) { secret(f, "svc-db", 1).Fingerprint = "fp-api-2" },
			[]string{driftKey(api, RuleSharedSecret, "", SeverityCritical, "NHI9"), driftKey(db, RuleSharedSecret, "", SeverityCritical, "NHI9")}},
		{"same secret in two versions of one identity", func(f *Fleet) { secret(f, "svc-api", 1).Live = true; secret(f, "svc-api", 1).Fingerprint = "fp-api-2" }, nil},
		{"dead version sharing a fingerprint", func(f *Fleet) {
			f.Secrets = append(f.Secrets, SecretObservation{Identity: "svc-db", Version: 0, Live: false, Fingerprint: "fp-api-2"})
		}, nil},
		{"versions without fingerprints", func(f *Fleet) { secret(f, "svc-api", 2).Fingerprint = ""; secret(f, "svc-db", 1).Fingerprint = "" }, nil},
		{"unmanaged identity", func(f *Fleet) { f.Unmanaged = []string{"legacy-bot"} },
			[]string{driftKey("identity/legacy-bot", RuleUnmanagedIdentity, "", SeverityMedium, "NHI1")}},
		{"orphan identity", func(f *Fleet) {
			f.Identities = append(f.Identities, Identity{Name: "ghost", Class: "gone", Owner: "x", Status: StatusActive})
		}, []string{driftKey("identity/ghost", RuleOrphanIdentity, "", SeverityMedium, "NHI1")}},
		{"retired identity is not an orphan", func(f *Fleet) { identity(f, "ci-old").Class = "gone" }, nil},
		{"engine drift", func(f *Fleet) {
			identity(f, "ci-build").EngineDrift = []string{"role token_period is 3600s, declared 0"}
		}, []string{driftKey(build, RuleEngineDrift, "", SeverityHigh, "NHI7")}},
		{"owner missing", func(f *Fleet) { identity(f, "ci-build").Owner = "" },
			[]string{driftKey(build, RuleOwnerMissing, "owner", SeverityHigh, "NHI1")}},
		{"environment not allowed", func(f *Fleet) { identity(f, "ci-build").Environment = "dev" },
			[]string{driftKey(build, RuleEnvironment, "environment", SeverityHigh, "NHI8")}},
		{"expired exception on a policy", func(f *Fleet) {
			f.Policies[0].Exception = &Exception{Reason: "migration", ApprovedBy: "sec", ExpiresAt: now.Add(-time.Minute)}
		}, []string{driftKey("ttl_policy/ci-short", RuleExceptionExpired, "exception.expires_at", SeverityHigh, "NHI7")}},
		{"policy above its class", func(f *Fleet) { f.Policies[0].TTL = 2 * time.Hour },
			[]string{driftKey("ttl_policy/ci-short", RuleTTLAboveClassMax, "ttl", SeverityHigh, "NHI7")}},
		{"retired identities are not checked against their class", func(f *Fleet) {
			id := identity(f, "ci-old")
			id.Owner, id.Environment = "", "dev"
		}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := cleanFleet()
			tt.mutate(&f)
			assertDrift(t, Drift(f).Findings, tt.want...)
		})
	}

	t.Run("observed and allowed", func(t *testing.T) {
		f := cleanFleet()
		f.Credentials = append(f.Credentials,
			Credential{ID: "c-forever", Identity: "ci-build", IssuedAt: now.Add(-10 * time.Minute)},
			Credential{ID: "c-stretched", Identity: "ci-build", IssuedAt: now.Add(-13 * time.Hour), ExpiresAt: now.Add(time.Hour), HardExpiresAt: now.Add(-90 * time.Minute)},
			Credential{ID: "c-old", Identity: "ci-build", IssuedAt: now.Add(-25 * time.Hour), ExpiresAt: now.Add(time.Hour)},
			live("c-left", "ci-old", time.Minute))
		f.Credentials[1].RenewCount = 6
		secret(&f, "svc-api", 2).PromotedAt = now.Add(-7*Day - 90*time.Minute)
		secret(&f, "svc-db", 1).Fingerprint = "fp-api-2"
		rep := Drift(f)
		checks := []struct {
			subject, rule, observed, allowed string
		}{
			{build, RuleCredentialNoExpiry, "c-forever", "expires"},
			{build, RuleCredentialPastHardExpiry, "c-stretched alive 1h30m past its hard expiry " + now.Add(-90*time.Minute).Format(time.RFC3339), "hard expiry"},
			{build, RuleCredentialAboveClassMax, "c-old is 1d1h old", "class ci allows at most 1d"},
			{build, RuleRenewalsPastBudget, "6 renewals of credential c-renewed", "ttl_policy ci-short allows 5"},
			{old, RuleRetiredWithCredential, "c-left works for an identity retired at " + now.Add(-2*Day).Format(time.RFC3339), "retired"},
			{"rotation_schedule/svc-api", RuleRotationOverdue, "overdue by 30m", "within 1h"},
			{api, RuleSharedSecret, `fp-api-2 is shared by "svc-api", "svc-db"`, "one secret per identity"},
		}
		for _, c := range checks {
			var found bool
			for _, fd := range rep.Findings {
				if fd.Subject != c.subject || fd.Rule != c.rule {
					continue
				}
				found = true
				if !strings.Contains(fd.Observed, c.observed) || !strings.Contains(fd.Allowed, c.allowed) {
					t.Errorf("%s %s: observed %q, allowed %q; want %q and %q", c.subject, c.rule, fd.Observed, fd.Allowed, c.observed, c.allowed)
				}
				if !strings.Contains(fd.Remedy, "revoke credential ") && strings.HasPrefix(c.rule, "credential") {
					t.Errorf("%s %s: remedy %q does not say which credential to revoke", c.subject, c.rule, fd.Remedy)
				}
			}
			if !found {
				t.Errorf("no %s finding on %s in %v", c.rule, c.subject, rep.Findings)
			}
		}

		f = cleanFleet()
		v := secret(&f, "ci-old", 1)
		v.Live, v.Version, v.Fingerprint = true, 7, "fp-old"
		fd := findRule(t, Drift(f).Findings, RuleRetiredWithCredential)
		if !strings.Contains(fd.Observed, "version 7") {
			t.Errorf("retired secret: observed %q, want it to name version 7", fd.Observed)
		}
	})
}

func TestDriftSorted(t *testing.T) {
	now := testNow
	f := cleanFleet()
	f.Unmanaged = []string{"zz-bot", "a-bot"}
	f.Identities = append(f.Identities, Identity{Name: "ghost", Class: "gone", Status: StatusActive})
	f.Identities[0].Owner = ""         // ci-build: owner-missing
	f.Identities[0].Environment = "qa" // ci-build: environment-not-allowed
	f.Credentials = append(f.Credentials, Credential{ID: "c-forever", Identity: "ci-build", IssuedAt: now.Add(-Day - time.Hour)})
	f.Policies[0].TTL = 2 * time.Hour
	f.Secrets[1].PromotedAt = now.Add(-30 * Day)
	f.Secrets[2].Fingerprint = "fp-api-2"
	assertDrift(t, Drift(f).Findings,
		driftKey("identity/a-bot", RuleUnmanagedIdentity, "", SeverityMedium, "NHI1"),
		driftKey("identity/ci-build", RuleCredentialAboveClassMax, "", SeverityHigh, "NHI7"),
		driftKey("identity/ci-build", RuleCredentialNoExpiry, "", SeverityCritical, "NHI7"),
		driftKey("identity/ci-build", RuleEnvironment, "environment", SeverityHigh, "NHI8"),
		driftKey("identity/ci-build", RuleOwnerMissing, "owner", SeverityHigh, "NHI1"),
		driftKey("identity/ghost", RuleOrphanIdentity, "", SeverityMedium, "NHI1"),
		driftKey("identity/svc-api", RuleSharedSecret, "", SeverityCritical, "NHI9"),
		driftKey("identity/svc-db", RuleSharedSecret, "", SeverityCritical, "NHI9"),
		driftKey("identity/zz-bot", RuleUnmanagedIdentity, "", SeverityMedium, "NHI1"),
		driftKey("rotation_schedule/svc-api", RuleRotationOverdue, "", SeverityHigh, "NHI7"),
		driftKey("ttl_policy/ci-short", RuleTTLAboveClassMax, "ttl", SeverityHigh, "NHI7"),
	)
}

// The drift report feeds a data source: the same fleet must give the same report every time,
// also when one identity shares secrets with several others.
func TestDriftDeterministic(t *testing.T) {
	f := cleanFleet()
	f.Identities = append(f.Identities,
		Identity{Name: "svc-a", Class: "svc", Owner: "o", Status: StatusActive},
		Identity{Name: "svc-b", Class: "svc", Owner: "o", Status: StatusActive})
	// Scheduled, so that their live secrets have a bounded exposure window.
	f.Schedules = append(f.Schedules, RotationSchedule{Identity: "svc-a", Interval: 30 * Day, Consumers: []Consumer{{Name: "x"}}}, RotationSchedule{Identity: "svc-b", Interval: 30 * Day, Consumers: []Consumer{{Name: "x"}}})
	for i, fp := range []string{"fp-1", "fp-2", "fp-3", "fp-4", "fp-5", "fp-6"} {
		other := "svc-a"
		if i%2 == 1 {
			other = "svc-b"
		}
		f.Secrets = append(f.Secrets,
			SecretObservation{Identity: "svc-db", Version: int64(10 + i), Live: true, Fingerprint: fp},
			SecretObservation{Identity: other, Version: int64(10 + i), Live: true, Fingerprint: fp})
	}
	first := Drift(f)
	if len(first.Findings) != 12 {
		t.Fatalf("got %d findings, want 12 shared-secret findings: %v", len(first.Findings), first.Findings)
	}
	for i := 0; i < 50; i++ {
		if got := Drift(f); !reflect.DeepEqual(got.Findings, first.Findings) {
			var a, b []string
			for j := range got.Findings {
				a = append(a, got.Findings[j].Observed)
				b = append(b, first.Findings[j].Observed)
			}
			t.Fatalf("Drift of the same fleet differs between runs:\n  %s\nthen\n  %s", strings.Join(b, "\n  "), strings.Join(a, "\n  "))
		}
	}
}

// assertTrustDebt checks that rep's non-zero trust debt is exactly want (nil: none) and its
// total the sum of want.
func assertTrustDebt(t *testing.T, rep Report, want map[string]time.Duration) {
	t.Helper()
	got := map[string]time.Duration{}
	for name, d := range rep.TrustDebt {
		if d != 0 {
			got[name] = d
		}
	}
	if want == nil {
		want = map[string]time.Duration{}
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("TrustDebt = %v, want %v", got, want)
	}
	var total time.Duration
	for _, d := range want {
		total += d
	}
	if got := rep.TotalTrustDebt(); got != total {
		t.Errorf("TotalTrustDebt() = %v, want %v", got, total)
	}
}

func TestDriftTrustDebt(t *testing.T) {
	now := testNow
	issued := now.Add(-3 * time.Hour)
	overHard := Credential{ID: "c-over", Identity: "ci-build", IssuedAt: issued, ExpiresAt: now.Add(time.Hour), HardExpiresAt: issued.Add(time.Hour)}
	addCred := func(cs ...Credential) func(*Fleet) {
		return func(f *Fleet) { f.Credentials = append(f.Credentials, cs...) }
	}
	tests := []struct {
		name   string
		mutate func(*Fleet)
		want   map[string]time.Duration
	}{
		{"clean", func(*Fleet) {}, nil},
		{"live past its hard expiry", addCred(overHard), map[string]time.Duration{"ci-build": 2 * time.Hour}},
		{"revoked", addCred(func() Credential { c := overHard; c.RevokedAt = now.Add(-time.Minute); return c }()), nil},
		{"expired", addCred(func() Credential { c := overHard; c.ExpiresAt = now.Add(-time.Minute); return c }()), nil},
		{"expiring now", addCred(func() Credential { c := overHard; c.ExpiresAt = now; return c }()), nil},
		{"retired identity's live credential", addCred(func() Credential { c := overHard; c.Identity = "ci-old"; return c }()),
			map[string]time.Duration{"ci-old": 2 * time.Hour}},
		// The intended lifetime is the hard expiry capped by the class maximum (1d).
		{"hard expiry beyond the class maximum", addCred(Credential{ID: "c-long", Identity: "ci-build", IssuedAt: now.Add(-25 * time.Hour),
			ExpiresAt: now.Add(time.Hour), HardExpiresAt: now.Add(Day)}), map[string]time.Duration{"ci-build": time.Hour}},
		{"no hard expiry: the class maximum", addCred(Credential{ID: "c-long", Identity: "ci-build", IssuedAt: now.Add(-30 * time.Hour),
			ExpiresAt: now.Add(time.Hour)}), map[string]time.Duration{"ci-build": 6 * time.Hour}},
		// svc has no max_lifetime: a credential without any expiry is in debt for its whole age.
		{"no expiry, no hard expiry, no class maximum: its whole age", addCred(Credential{ID: "c-bare", Identity: "svc-api", IssuedAt: now.Add(-5 * time.Hour)}),
			map[string]time.Duration{"svc-api": 5 * time.Hour}},
		{"expiry but neither hard expiry nor class maximum", addCred(Credential{ID: "c-soft", Identity: "svc-api", IssuedAt: now.Add(-5 * time.Hour), ExpiresAt: now.Add(time.Hour)}), nil},
		// The report covers identities no configuration manages; their credentials are live
		// credentials like any other.
		{"unmanaged identity's credential without expiry", func(f *Fleet) {
			f.Unmanaged = []string{"legacy-bot"}
			f.Credentials = append(f.Credentials, Credential{ID: "c-stray", Identity: "legacy-bot", IssuedAt: now.Add(-5 * time.Hour)})
		}, map[string]time.Duration{"legacy-bot": 5 * time.Hour}},
		{"unmanaged identity's credential past its hard expiry", func(f *Fleet) {
			f.Unmanaged = []string{"legacy-bot"}
			c := overHard
			c.Identity = "legacy-bot"
			f.Credentials = append(f.Credentials, c)
		}, map[string]time.Duration{"legacy-bot": 2 * time.Hour}},
		{"two credentials of one identity", addCred(overHard, Credential{ID: "c-2", Identity: "ci-build", IssuedAt: now.Add(-90 * time.Minute),
			ExpiresAt: now.Add(time.Minute), HardExpiresAt: now.Add(-time.Hour)}), map[string]time.Duration{"ci-build": 2*time.Hour + time.Hour}},
		{"overdue rotation", func(f *Fleet) { f.Secrets[1].PromotedAt = now.Add(-7*Day - 90*time.Minute) }, map[string]time.Duration{"svc-api": 30 * time.Minute}},
		{"overdue cron rotation", func(f *Fleet) { f.Secrets[2].PromotedAt = monday0300.Add(-7 * Day) },
			// due 2025-02-24 03:00, window 1h, observed 2025-03-01 12:00
			map[string]time.Duration{"svc-db": 5*Day + 8*time.Hour}},
		{"rotation inside its window", func(f *Fleet) { f.Secrets[1].PromotedAt = now.Add(-7*Day - time.Hour) }, nil},
		{"credentials and rotations across identities", func(f *Fleet) {
			f.Credentials = append(f.Credentials, overHard)
			f.Secrets[1].PromotedAt = now.Add(-7*Day - 90*time.Minute)
			f.Secrets[2].PromotedAt = monday0300.Add(-7 * Day)
		}, map[string]time.Duration{"ci-build": 2 * time.Hour, "svc-api": 30 * time.Minute, "svc-db": 5*Day + 8*time.Hour}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := cleanFleet()
			tt.mutate(&f)
			assertTrustDebt(t, Drift(f), tt.want)
		})
	}

	t.Run("TotalTrustDebt sums identities", func(t *testing.T) {
		r := Report{TrustDebt: map[string]time.Duration{"a": time.Hour, "b": 90 * time.Minute, "c": 0}}
		if got := r.TotalTrustDebt(); got != 150*time.Minute {
			t.Errorf("TotalTrustDebt() = %v, want 2h30m", got)
		}
		if got := (Report{}).TotalTrustDebt(); got != 0 {
			t.Errorf("TotalTrustDebt() of an empty report = %v, want 0", got)
		}
	})

	// A cron whose day never occurs ("30 February") passes ParseCron, so it reaches the drift
	// report; its debt must not be the saturated distance to year 1, wrapped negative when summed.
	t.Run("cron that never fires", func(t *testing.T) {
		f := cleanFleet()
		f.Schedules[1].Cron = "0 0 30 2 *"
		f.Credentials = append(f.Credentials, Credential{ID: "c-db", Identity: "svc-db", IssuedAt: now.Add(-time.Hour), ExpiresAt: now.Add(time.Hour), HardExpiresAt: now.Add(-time.Minute)})
		rep := Drift(f)
		if d := rep.TrustDebt["svc-db"]; d < 0 || d > 1000*Day {
			t.Errorf("trust debt of svc-db = %v (%d ns), want a non-negative, real figure", d, int64(d))
		}
		if total := rep.TotalTrustDebt(); total < 0 {
			t.Errorf("TotalTrustDebt() = %v, negative", total)
		}
		for _, fd := range rep.Findings {
			if strings.Contains(fd.Observed, "0001-01-01") {
				t.Errorf("%s: observed %q names year 1 as a due time", fd.Rule, fd.Observed)
			}
		}
	})
}

// TestDriftInactive: an active identity of a class with max_idle, unused for longer than that
// (or never used and created longer ago), is inactive; its idle time beyond max_idle is trust
// debt, added to any other debt of the identity.
func TestDriftInactive(t *testing.T) {
	now := testNow
	tests := []struct {
		name    string
		mutate  func(*Fleet)
		want    []string
		debt    map[string]time.Duration
		observe string
	}{
		{"used a day past max_idle", func(f *Fleet) { f.Identities[2].LastUsedAt = now.Add(-31 * Day) },
			[]string{"identity/svc-api inactive@ medium NHI1"}, map[string]time.Duration{"svc-api": Day},
			"last used 2025-01-29T12:00:00Z, idle for 31d"},
		{"used exactly max_idle ago", func(f *Fleet) { f.Identities[2].LastUsedAt = now.Add(-30 * Day) }, nil, nil, ""},
		{"never used, created 45d ago", func(f *Fleet) { f.Identities[2].CreatedAt = now.Add(-45 * Day) },
			[]string{"identity/svc-api inactive@ medium NHI1"}, map[string]time.Duration{"svc-api": 15 * Day},
			"never used since it was created 2025-01-15T12:00:00Z, idle for 45d"},
		{"never used, created 10d ago", func(f *Fleet) { f.Identities[2].CreatedAt = now.Add(-10 * Day) }, nil, nil, ""},
		{"the last use counts, not the creation", func(f *Fleet) {
			f.Identities[2].CreatedAt = now.Add(-100 * Day)
			f.Identities[2].LastUsedAt = now.Add(-40*Day - 90*time.Minute)
		}, []string{"identity/svc-api inactive@ medium NHI1"}, map[string]time.Duration{"svc-api": 10*Day + 90*time.Minute}, ""},
		{"used recently", func(f *Fleet) {
			f.Identities[2].CreatedAt = now.Add(-100 * Day)
			f.Identities[2].LastUsedAt = now.Add(-time.Minute)
		}, nil, nil, ""},
		{"retired identities are not inactive", func(f *Fleet) { f.Identities[1].LastUsedAt = now.Add(-300 * Day); f.Classes[0].MaxIdle = Day }, nil, nil, ""},
		{"last use unknown to the engine: not judged", func(f *Fleet) {
			f.Identities[2].CreatedAt = now.Add(-45 * Day)
			f.Identities[2].UseUnknown = true
		}, nil, nil, ""},
		{"class without max_idle", func(f *Fleet) { f.Identities[0].LastUsedAt = now.Add(-300 * Day) }, nil, nil, ""},
		{"ephemeral class too", func(f *Fleet) { f.Classes[0].MaxIdle = 7 * Day; f.Identities[0].LastUsedAt = now.Add(-8 * Day) },
			[]string{"identity/ci-build inactive@ medium NHI1"}, map[string]time.Duration{"ci-build": Day}, ""},
		{"added to an overdue rotation's debt", func(f *Fleet) {
			f.Identities[2].LastUsedAt = now.Add(-32 * Day)
			f.Secrets[1].PromotedAt = now.Add(-7*Day - 90*time.Minute)
		}, []string{"identity/svc-api inactive@ medium NHI1", "rotation_schedule/svc-api rotation-overdue@ high NHI7"},
			map[string]time.Duration{"svc-api": 2*Day + 30*time.Minute}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := cleanFleet()
			f.Classes[1].MaxIdle = 30 * Day
			tt.mutate(&f)
			rep := Drift(f)
			assertDrift(t, rep.Findings, tt.want...)
			assertTrustDebt(t, rep, tt.debt)
			if tt.observe != "" && (len(rep.Findings) == 0 || rep.Findings[0].Observed != tt.observe) {
				t.Errorf("findings %v: want the first observed %q", rep.Findings, tt.observe)
			}
			for _, fd := range rep.Findings {
				if fd.Rule == RuleInactive && (!strings.Contains(fd.Allowed, "max_idle") || !strings.Contains(fd.Remedy, "nhi_offboard")) {
					t.Errorf("inactive finding: allowed %q, remedy %q: want max_idle and nhi_offboard named", fd.Allowed, fd.Remedy)
				}
			}
		})
	}
}

// TestRecordUse: a use is recorded when it is the first, or at least a minute after the last
// recorded one; otherwise the last recorded time stays.
func TestRecordUse(t *testing.T) {
	now := testNow
	for _, tt := range []struct {
		last    time.Time
		changed bool
	}{
		{time.Time{}, true}, // never used
		{now.Add(-time.Second), false},
		{now.Add(-59 * time.Second), false},
		{now.Add(-time.Minute), true},
		{now.Add(-Day), true},
	} {
		want := tt.last
		if tt.changed {
			want = now
		}
		if got, changed := RecordUse(tt.last, now); !got.Equal(want) || changed != tt.changed {
			t.Errorf("RecordUse(%v, now) = %v, %v; want %v, %v", tt.last, got, changed, want, tt.changed)
		}
	}
}
