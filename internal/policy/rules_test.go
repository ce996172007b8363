package policy

import (
	"math"
	"slices"
	"strings"
	"testing"
	"time"
)

var testNow = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

func ptr[T any](v T) *T { return &v }

// at writes a finding's rule and attribute as "rule@attribute".
func at(rule, attr string) string { return rule + "@" + attr }

// assertFindings checks that got holds exactly the want findings (as "rule@attribute", in
// order), that each is about subject and that each is complete enough to act on.
func assertFindings(t *testing.T, got []Finding, subject string, want ...string) {
	t.Helper()
	var keys []string
	for _, f := range got {
		keys = append(keys, at(f.Rule, f.Attribute))
	}
	if !slices.Equal(keys, want) {
		t.Errorf("findings = %q, want %q", keys, want)
	}
	for _, f := range got {
		if f.Subject != subject {
			t.Errorf("%s: subject = %q, want %q", f.Rule, f.Subject, subject)
		}
		if f.Severity.Rank() == 0 {
			t.Errorf("%s: unknown severity %q", f.Rule, f.Severity)
		}
		if _, ok := ruleTitles[f.Rule]; !ok {
			t.Errorf("%s: rule has no title", f.Rule)
		}
		if f.Observed == "" || f.Allowed == "" || f.Remedy == "" {
			t.Errorf("%s: observed %q, allowed %q, remedy %q: none may be empty", f.Rule, f.Observed, f.Allowed, f.Remedy)
		}
	}
}

// findRule returns the first finding of rule, failing the test when there is none.
func findRule(t *testing.T, fs []Finding, rule string) Finding {
	t.Helper()
	for _, f := range fs {
		if f.Rule == rule {
			return f
		}
	}
	t.Fatalf("no %s finding in %v", rule, fs)
	return Finding{}
}

func TestCheckClass(t *testing.T) {
	clean := Class{Name: "ci", Kind: KindEphemeral, MaxTTL: time.Hour, MaxLifetime: Day, NamingPattern: "ci-[a-z0-9-]+"}
	tests := []struct {
		name   string
		mutate func(*Class)
		want   []string
	}{
		{"clean ephemeral", func(*Class) {}, nil},
		{"clean persistent without ceilings", func(c *Class) { *c = Class{Name: "ci", Kind: KindPersistent} }, nil},
		{"ephemeral capped by renewals only", func(c *Class) { c.MaxLifetime = 0; c.MaxRenewals = ptr(int64(0)) }, nil},
		{"lifetime equal to ttl", func(c *Class) { c.MaxLifetime = c.MaxTTL }, nil},
		{"lifetime without ttl ceiling", func(c *Class) { c.MaxTTL = 0; c.MaxLifetime = time.Minute }, nil},
		{"invalid naming pattern", func(c *Class) { c.NamingPattern = "ci-(" },
			[]string{at(RuleInvalidNamingPattern, "naming_pattern")}},
		{"lifetime below ttl", func(c *Class) { c.MaxLifetime = 30 * time.Minute },
			[]string{at(RuleClassLifetimeBelowTTL, "max_lifetime")}},
		{"ephemeral without lifetime or renewal cap", func(c *Class) { c.MaxLifetime = 0 },
			[]string{at(RuleUnlimitedRenewal, "max_lifetime")}},
		{"persistent without lifetime or renewal cap", func(c *Class) { c.Kind = KindPersistent; c.MaxLifetime = 0 }, nil},
		{"everything wrong", func(c *Class) { c.NamingPattern = "["; c.MaxTTL = 2 * Day },
			[]string{at(RuleInvalidNamingPattern, "naming_pattern"), at(RuleClassLifetimeBelowTTL, "max_lifetime")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := clean
			tt.mutate(&c)
			assertFindings(t, CheckClass(c), "class/ci", tt.want...)
		})
	}

	t.Run("observed and allowed", func(t *testing.T) {
		c := clean
		c.MaxLifetime = 30 * time.Minute
		f := findRule(t, CheckClass(c), RuleClassLifetimeBelowTTL)
		if !strings.Contains(f.Observed, "30m") || !strings.Contains(f.Allowed, "1h") {
			t.Errorf("observed %q, allowed %q: want the lifetime 30m and the ttl 1h", f.Observed, f.Allowed)
		}
	})
}

func TestCheckTTLPolicy(t *testing.T) {
	class := Class{Name: "ci", Kind: KindEphemeral, MaxTTL: time.Hour, MaxLifetime: Day, MaxRenewals: ptr(int64(10))}
	clean := TTLPolicy{Name: "ci-short", Class: "ci", TTL: 30 * time.Minute, MaxLifetime: 12 * time.Hour, Renewable: true, MaxRenewals: ptr(int64(5))}
	active := &Exception{Reason: "migration", ApprovedBy: "sec-team", ExpiresAt: testNow.Add(Day)}
	expired := &Exception{Reason: "migration", ApprovedBy: "sec-team", ExpiresAt: testNow.Add(-Day)}
	// overCeilings breaks all three class ceilings and nothing else.
	overCeilings := func(p *TTLPolicy) { p.TTL = 2 * time.Hour; p.MaxLifetime = 2 * Day; p.MaxRenewals = ptr(int64(11)) }
	ceilings := []string{at(RuleTTLAboveClassMax, "ttl"), at(RuleLifetimeAboveClassMax, "max_lifetime"), at(RuleRenewalsAboveClassMax, "max_renewals")}

	tests := []struct {
		name    string
		mutate  func(*TTLPolicy, *Class)
		noClass bool
		want    []string
	}{
		{"clean", func(*TTLPolicy, *Class) {}, false, nil},
		{"clean without class", func(*TTLPolicy, *Class) {}, true, nil},
		{"at every ceiling", func(p *TTLPolicy, _ *Class) { p.TTL = time.Hour; p.MaxLifetime = Day; p.MaxRenewals = ptr(int64(10)) }, false, nil},
		{"non-renewable without lifetime", func(p *TTLPolicy, _ *Class) { p.Renewable = false; p.MaxLifetime = 0; p.MaxRenewals = nil }, false, nil},
		{"non-renewable ignores renewal count", func(p *TTLPolicy, _ *Class) { p.Renewable = false; p.MaxRenewals = ptr(int64(1000)) }, false, nil},
		{"class without renewal cap", func(p *TTLPolicy, c *Class) { c.MaxRenewals = nil; p.MaxRenewals = nil }, false, nil},

		{"lifetime below ttl", func(p *TTLPolicy, _ *Class) { p.MaxLifetime = 20 * time.Minute }, true,
			[]string{at(RuleLifetimeBelowTTL, "max_lifetime")}},
		{"lifetime equal to ttl", func(p *TTLPolicy, _ *Class) { p.MaxLifetime = p.TTL }, true, nil},
		{"unlimited renewal", func(p *TTLPolicy, _ *Class) { p.MaxLifetime = 0; p.MaxRenewals = nil }, true,
			[]string{at(RuleUnlimitedRenewal, "renewable")}},

		{"ttl above class max", func(p *TTLPolicy, _ *Class) { p.TTL = 61 * time.Minute }, false,
			[]string{at(RuleTTLAboveClassMax, "ttl")}},
		{"lifetime above class max", func(p *TTLPolicy, _ *Class) { p.MaxLifetime = Day + time.Second }, false,
			[]string{at(RuleLifetimeAboveClassMax, "max_lifetime")}},
		{"unbounded lifetime against class max_lifetime", func(p *TTLPolicy, c *Class) { c.MaxRenewals = nil; p.MaxLifetime = 0; p.MaxRenewals = nil }, false,
			[]string{at(RuleUnlimitedRenewal, "renewable"), at(RuleLifetimeAboveClassMax, "max_lifetime")}},
		{"lifetime from renewals above class max", func(p *TTLPolicy, c *Class) { c.MaxRenewals = nil; p.MaxLifetime = 0; p.MaxRenewals = ptr(int64(48)) }, false,
			[]string{at(RuleUnlimitedRenewal, "renewable"), at(RuleLifetimeAboveClassMax, "max_lifetime")}},
		{"non-renewable ttl is its lifetime", func(p *TTLPolicy, c *Class) { c.MaxLifetime = 10 * time.Minute; p.Renewable = false; p.MaxLifetime = 0 }, false,
			[]string{at(RuleLifetimeAboveClassMax, "max_lifetime")}},
		{"class without max_lifetime", func(p *TTLPolicy, c *Class) { c.MaxLifetime = 0; p.MaxLifetime = 1000 * Day }, false, nil},
		{"renewals above class max", func(p *TTLPolicy, _ *Class) { p.MaxRenewals = ptr(int64(11)) }, false,
			[]string{at(RuleRenewalsAboveClassMax, "max_renewals")}},
		{"unlimited renewals against class max", func(p *TTLPolicy, _ *Class) { p.MaxRenewals = nil }, false,
			[]string{at(RuleRenewalsAboveClassMax, "max_renewals")}},
		{"all ceilings", func(p *TTLPolicy, _ *Class) { overCeilings(p) }, false, ceilings},
		{"policy on persistent class", func(_ *TTLPolicy, c *Class) { c.Kind = KindPersistent }, false,
			[]string{at(RuleTTLPolicyOnPersistent, "class")}},

		{"active exception suppresses ceilings", func(p *TTLPolicy, _ *Class) { overCeilings(p); p.Exception = active }, false, nil},
		{"active exception keeps lifetime below ttl", func(p *TTLPolicy, _ *Class) { p.TTL = 2 * time.Hour; p.MaxLifetime = time.Hour; p.Exception = active }, false,
			[]string{at(RuleLifetimeBelowTTL, "max_lifetime")}},
		{"active exception keeps policy on persistent", func(p *TTLPolicy, c *Class) { c.Kind = KindPersistent; overCeilings(p); p.Exception = active }, false,
			[]string{at(RuleTTLPolicyOnPersistent, "class")}},
		{"expired exception", func(p *TTLPolicy, _ *Class) { overCeilings(p); p.Exception = expired }, false,
			append([]string{at(RuleExceptionExpired, "exception.expires_at")}, ceilings...)},
		{"exception expiring now", func(p *TTLPolicy, _ *Class) {
			overCeilings(p)
			p.Exception = &Exception{Reason: "r", ApprovedBy: "a", ExpiresAt: testNow}
		}, false, append([]string{at(RuleExceptionExpired, "exception.expires_at")}, ceilings...)},
		{"exception without expiry", func(p *TTLPolicy, _ *Class) { p.Exception = &Exception{Reason: "r", ApprovedBy: "a"} }, false,
			[]string{at(RuleExceptionExpired, "exception.expires_at")}},
		{"exception without reason", func(p *TTLPolicy, _ *Class) {
			overCeilings(p)
			p.Exception = &Exception{ApprovedBy: "a", ExpiresAt: testNow.Add(Day)}
		}, false, append([]string{at(RuleExceptionIncomplete, "exception.reason")}, ceilings...)},
		{"exception without approver", func(p *TTLPolicy, _ *Class) {
			overCeilings(p)
			p.Exception = &Exception{Reason: "r", ExpiresAt: testNow.Add(Day)}
		}, false, append([]string{at(RuleExceptionIncomplete, "exception.approved_by")}, ceilings...)},
		{"empty exception", func(p *TTLPolicy, _ *Class) { overCeilings(p); p.Exception = &Exception{} }, false,
			append([]string{at(RuleExceptionIncomplete, "exception.reason"), at(RuleExceptionIncomplete, "exception.approved_by"),
				at(RuleExceptionExpired, "exception.expires_at")}, ceilings...)},
		{"expired exception without class", func(p *TTLPolicy, _ *Class) { p.Exception = expired }, true,
			[]string{at(RuleExceptionExpired, "exception.expires_at")}},
		// A blank reason or approver is reported incomplete, so it must not exempt the policy either.
		{"blank exception reason does not suppress ceilings", func(p *TTLPolicy, _ *Class) {
			overCeilings(p)
			p.Exception = &Exception{Reason: "  ", ApprovedBy: "a", ExpiresAt: testNow.Add(Day)}
		}, false, append([]string{at(RuleExceptionIncomplete, "exception.reason")}, ceilings...)},
		{"blank exception approver does not suppress ceilings", func(p *TTLPolicy, _ *Class) {
			overCeilings(p)
			p.Exception = &Exception{Reason: "r", ApprovedBy: "\t", ExpiresAt: testNow.Add(Day)}
		}, false, append([]string{at(RuleExceptionIncomplete, "exception.approved_by")}, ceilings...)},
		// TTL * (max_renewals+1) overflows int64; the lifetime is still far above the class ceiling.
		{"huge max_renewals is above class max_lifetime", func(p *TTLPolicy, c *Class) {
			c.MaxRenewals = nil
			p.TTL = time.Hour
			p.MaxLifetime = 0
			p.MaxRenewals = ptr(int64(math.MaxInt64))
		}, false, []string{at(RuleUnlimitedRenewal, "renewable"), at(RuleLifetimeAboveClassMax, "max_lifetime")}},
		{"large max_renewals is above class max_lifetime", func(p *TTLPolicy, c *Class) {
			c.MaxRenewals = nil
			p.TTL = time.Hour
			p.MaxLifetime = 0
			p.MaxRenewals = ptr(int64(1) << 54)
		}, false, []string{at(RuleUnlimitedRenewal, "renewable"), at(RuleLifetimeAboveClassMax, "max_lifetime")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, c := clean, class
			tt.mutate(&p, &c)
			cp := &c
			if tt.noClass {
				cp = nil
			}
			assertFindings(t, CheckTTLPolicy(p, cp, testNow), "ttl_policy/ci-short", tt.want...)
		})
	}

	t.Run("observed and allowed", func(t *testing.T) {
		p := clean
		overCeilings(&p)
		fs := CheckTTLPolicy(p, &class, testNow)
		checks := []struct{ rule, observed, allowed string }{
			{RuleTTLAboveClassMax, "2h", "1h"},
			{RuleLifetimeAboveClassMax, "2d", "1d"},
			{RuleRenewalsAboveClassMax, "11", "10"},
		}
		for _, c := range checks {
			f := findRule(t, fs, c.rule)
			if !strings.Contains(f.Observed, c.observed) || !strings.Contains(f.Allowed, c.allowed) || !strings.Contains(f.Allowed, "class ci") {
				t.Errorf("%s: observed %q, allowed %q: want %q and class ci allowing %q", c.rule, f.Observed, f.Allowed, c.observed, c.allowed)
			}
		}
		p = clean
		p.MaxLifetime, p.MaxRenewals = 0, nil
		f := findRule(t, CheckTTLPolicy(p, &class, testNow), RuleLifetimeAboveClassMax)
		if f.Observed != "unbounded lifetime" {
			t.Errorf("unbounded policy: observed %q, want %q", f.Observed, "unbounded lifetime")
		}
		f = findRule(t, CheckTTLPolicy(p, &class, testNow), RuleRenewalsAboveClassMax)
		if f.Observed != "unlimited renewals" {
			t.Errorf("uncapped renewals: observed %q, want %q", f.Observed, "unlimited renewals")
		}
	})
}

func TestExceptionActive(t *testing.T) {
	tests := []struct {
		name string
		e    *Exception
		want bool
	}{
		{"nil", nil, false},
		{"complete and current", &Exception{Reason: "r", ApprovedBy: "a", ExpiresAt: testNow.Add(time.Nanosecond)}, true},
		{"expires now", &Exception{Reason: "r", ApprovedBy: "a", ExpiresAt: testNow}, false},
		{"expired", &Exception{Reason: "r", ApprovedBy: "a", ExpiresAt: testNow.Add(-time.Hour)}, false},
		{"no expiry", &Exception{Reason: "r", ApprovedBy: "a"}, false},
		{"no reason", &Exception{ApprovedBy: "a", ExpiresAt: testNow.Add(Day)}, false},
		{"no approver", &Exception{Reason: "r", ExpiresAt: testNow.Add(Day)}, false},
		{"blank reason", &Exception{Reason: " ", ApprovedBy: "a", ExpiresAt: testNow.Add(Day)}, false},
		{"blank approver", &Exception{Reason: "r", ApprovedBy: "\n", ExpiresAt: testNow.Add(Day)}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := ExceptionActive(tt.e, testNow); got != tt.want {
				t.Errorf("ExceptionActive = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestTTLPolicyLifetime(t *testing.T) {
	tests := []struct {
		name        string
		p           TTLPolicy
		want        time.Duration
		wantBounded bool
	}{
		{"max_lifetime wins", TTLPolicy{TTL: time.Hour, MaxLifetime: Day, Renewable: true, MaxRenewals: ptr(int64(100))}, Day, true},
		{"non-renewable lives one ttl", TTLPolicy{TTL: time.Hour}, time.Hour, true},
		{"renewals bound it", TTLPolicy{TTL: time.Hour, Renewable: true, MaxRenewals: ptr(int64(3))}, 4 * time.Hour, true},
		{"zero renewals", TTLPolicy{TTL: time.Hour, Renewable: true, MaxRenewals: ptr(int64(0))}, time.Hour, true},
		{"unbounded", TTLPolicy{TTL: time.Hour, Renewable: true}, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, bounded := tt.p.Lifetime()
			if got != tt.want || bounded != tt.wantBounded {
				t.Errorf("Lifetime() = %v, %v; want %v, %v", got, bounded, tt.want, tt.wantBounded)
			}
		})
	}

	// A bounded lifetime is never shorter than one TTL, however many renewals are allowed.
	for _, n := range []int64{1 << 20, 1 << 40, 1 << 54, math.MaxInt64 - 1, math.MaxInt64} {
		p := TTLPolicy{TTL: time.Hour, Renewable: true, MaxRenewals: ptr(n)}
		if got, bounded := p.Lifetime(); bounded && got < p.TTL {
			t.Errorf("Lifetime() with ttl 1h and %d renewals = %v (%d), bounded: overflowed", n, got, int64(got))
		}
	}
}

func TestCheckIdentity(t *testing.T) {
	eph := Class{Name: "ci", Kind: KindEphemeral, MaxTTL: time.Hour, MaxLifetime: Day, RequireOwner: true,
		NamingPattern: "ci-.*", Environments: []string{"staging", "prod"}}
	pers := Class{Name: "svc", Kind: KindPersistent}
	policy := TTLPolicy{Name: "ci-short", Class: "ci", TTL: 30 * time.Minute, MaxLifetime: time.Hour}
	other := TTLPolicy{Name: "svc-short", Class: "svc", TTL: 30 * time.Minute, MaxLifetime: time.Hour}
	clean := Identity{Name: "ci-build", Class: "ci", Owner: "platform", Environment: "prod", TTLPolicy: "ci-short", Status: StatusActive}

	tests := []struct {
		name   string
		mutate func(*Identity)
		class  *Class
		ttl    *TTLPolicy
		want   []string
	}{
		{"clean ephemeral", func(*Identity) {}, &eph, &policy, nil},
		{"clean ephemeral, policy not loaded", func(*Identity) {}, &eph, nil, nil},
		{"clean persistent", func(id *Identity) { id.Class = "svc"; id.TTLPolicy = "" }, &pers, nil, nil},
		{"no class skips class rules", func(id *Identity) { *id = Identity{Name: "-"} }, nil, &other, nil},

		{"ttl policy missing", func(id *Identity) { id.TTLPolicy = "" }, &eph, nil,
			[]string{at(RuleTTLPolicyMissing, "ttl_policy")}},
		{"ttl policy on persistent", func(id *Identity) { id.Class = "svc"; id.TTLPolicy = "svc-short" }, &pers, &other,
			[]string{at(RuleTTLPolicyOnPersistent, "ttl_policy")}},
		{"ttl policy of another class", func(id *Identity) { id.TTLPolicy = "svc-short" }, &eph, &other,
			[]string{at(RuleTTLPolicyClass, "ttl_policy")}},
		{"owner missing", func(id *Identity) { id.Owner = "" }, &eph, &policy,
			[]string{at(RuleOwnerMissing, "owner")}},
		{"owner blank", func(id *Identity) { id.Owner = " \t" }, &eph, &policy,
			[]string{at(RuleOwnerMissing, "owner")}},
		{"owner not required", func(id *Identity) { id.Class = "svc"; id.TTLPolicy = ""; id.Owner = "" }, &pers, nil, nil},
		{"name not anchored at start", func(id *Identity) { id.Name = "xci-a" }, &eph, &policy,
			[]string{at(RuleNamePattern, "name")}},
		{"name pattern mismatch", func(id *Identity) { id.Name = "build" }, &eph, &policy,
			[]string{at(RuleNamePattern, "name")}},
		{"environment not allowed", func(id *Identity) { id.Environment = "dev" }, &eph, &policy,
			[]string{at(RuleEnvironment, "environment")}},
		{"environment missing", func(id *Identity) { id.Environment = "" }, &eph, &policy,
			[]string{at(RuleEnvironment, "environment")}},
		{"environment differs in case", func(id *Identity) { id.Environment = "Prod" }, &eph, &policy,
			[]string{at(RuleEnvironment, "environment")}},
		{"everything wrong", func(id *Identity) {
			*id = Identity{Name: "build", Class: "ci", TTLPolicy: "svc-short", Environment: "dev"}
		}, &eph, &other,
			[]string{at(RuleTTLPolicyClass, "ttl_policy"), at(RuleOwnerMissing, "owner"), at(RuleNamePattern, "name"), at(RuleEnvironment, "environment")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id := clean
			tt.mutate(&id)
			assertFindings(t, CheckIdentity(id, tt.class, tt.ttl), "identity/"+id.Name, tt.want...)
		})
	}

	t.Run("invalid class pattern is left to CheckClass", func(t *testing.T) {
		c := eph
		c.NamingPattern = "ci-("
		assertFindings(t, CheckIdentity(clean, &c, &policy), "identity/ci-build")
	})

	t.Run("observed and allowed", func(t *testing.T) {
		id := clean
		id.Name, id.Environment = "xci-a", "dev"
		fs := CheckIdentity(id, &eph, &policy)
		f := findRule(t, fs, RuleNamePattern)
		if !strings.Contains(f.Observed, `"xci-a"`) || !strings.Contains(f.Allowed, `"ci-.*"`) {
			t.Errorf("name finding: observed %q, allowed %q", f.Observed, f.Allowed)
		}
		f = findRule(t, fs, RuleEnvironment)
		if !strings.Contains(f.Observed, `"dev"`) || !strings.Contains(f.Allowed, `"staging", "prod"`) {
			t.Errorf("environment finding: observed %q, allowed %q", f.Observed, f.Allowed)
		}
		id.Environment = ""
		f = findRule(t, CheckIdentity(id, &eph, &policy), RuleEnvironment)
		if f.Observed != "no environment" {
			t.Errorf("missing environment: observed %q, want %q", f.Observed, "no environment")
		}
		id.TTLPolicy = "svc-short"
		f = findRule(t, CheckIdentity(id, &eph, &other), RuleTTLPolicyClass)
		if !strings.Contains(f.Observed, "svc-short") || !strings.Contains(f.Observed, "svc") || !strings.Contains(f.Allowed, "ci") {
			t.Errorf("class mismatch: observed %q, allowed %q", f.Observed, f.Allowed)
		}
	})
}
