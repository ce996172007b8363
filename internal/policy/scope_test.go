package policy

import (
	"net/netip"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestMatchScope(t *testing.T) {
	tests := []struct {
		pattern, scope string
		want           bool
	}{
		{"ci-read", "ci-read", true},
		{"ci-read", "ci-reader", false},
		{"ci-*", "ci-read", true},
		{"ci-*", "ci-", true},
		{"ci-*", "cd-read", false},
		{"*-admin", "kv-admin", true},
		{"*-admin", "kv-admins", false},
		{"*", "", true},
		{"*", "anything", true},
		{"?", "a", true},
		{"?", "", false},
		{"?", "ab", false},
		{"read:*:prod", "read:kv:prod", true},
		{"read:*:prod", "read:kv:dev", false},
		{"a*b*c", "axxbyyc", true},
		{"a*b*c", "axxbyy", false},
		{"a*a*a*a*b", strings.Repeat("a", 60), false},
		{"**", "x", true},
		{"", "", true},
		{"", "x", false},
	}
	for _, tt := range tests {
		if got := MatchScope(tt.pattern, tt.scope); got != tt.want {
			t.Errorf("MatchScope(%q, %q) = %v, want %v", tt.pattern, tt.scope, got, tt.want)
		}
	}
}

func TestCheckScope(t *testing.T) {
	for _, s := range []string{"ci-read", "read:artifacts", "kv.v2_read", "0day"} {
		if err := CheckScope(s); err != nil {
			t.Errorf("CheckScope(%q) = %v, want nil", s, err)
		}
	}
	for _, s := range []string{"", "Admin", "-x", "a b", "ci-*", "a/b", strings.Repeat("a", 129)} {
		if err := CheckScope(s); err == nil {
			t.Errorf("CheckScope(%q) = nil, want an error", s)
		}
	}
	for _, p := range []string{"*", "*-admin", "ci-?", "read:*"} {
		if err := CheckScopePattern(p); err != nil {
			t.Errorf("CheckScopePattern(%q) = %v, want nil", p, err)
		}
	}
	for _, p := range []string{"", "[a]", "A*", "a b"} {
		if err := CheckScopePattern(p); err == nil {
			t.Errorf("CheckScopePattern(%q) = nil, want an error", p)
		}
	}
}

func TestParseAndNormalizeCIDR(t *testing.T) {
	for _, s := range []string{"10.0.0.0/8", "192.168.1.7/32", "2001:db8::/32"} {
		if _, err := ParseCIDR(s); err != nil {
			t.Errorf("ParseCIDR(%q) = %v", s, err)
		}
	}
	for _, s := range []string{"10.0.0.1/8", "10.0.0.1", "nope", "10.0.0.0/33"} {
		if _, err := ParseCIDR(s); err == nil {
			t.Errorf("ParseCIDR(%q) accepted it", s)
		}
	}
	for in, want := range map[string]string{"10.0.0.5": "10.0.0.5/32", "10.0.0.0/8": "10.0.0.0/8", "::1": "::1/128", "x": "x"} {
		if got := NormalizeCIDR(in); got != want {
			t.Errorf("NormalizeCIDR(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestCheckPrivilege covers every privilege ceiling of a class, one violation at a time, and
// the exception that exempts an identity from them.
func TestCheckPrivilege(t *testing.T) {
	class := Class{Name: "ci", Kind: KindEphemeral, AllowedScopes: []string{"ci-*", "read:*"}, DeniedScopes: []string{"root", "*-admin"},
		MaxScopes: 2, AllowedCIDRs: []string{"10.0.0.0/8"}, MaxBlastRadius: 3}
	clean := Identity{Name: "ci-build", Class: "ci", Scopes: []string{"ci-read", "read:kv"}, BoundCIDRs: []string{"10.1.0.0/16"}}
	oneHour := &Exposure{Window: time.Hour, Bounded: true, Basis: "ttl_policy p hard lifetime 1h"}
	sub := "identity/ci-build"
	with := func(f func(*Identity)) Identity { id := clean; f(&id); return id }
	active := &Exception{Reason: "migration", ApprovedBy: "secops", ExpiresAt: testNow.Add(Day)}
	tests := []struct {
		name string
		id   Identity
		exp  *Exposure
		want []string
	}{
		{"clean", clean, oneHour, nil},
		{"scope outside allowed", with(func(i *Identity) { i.Scopes = []string{"kv-write"} }), oneHour, []string{at(RuleScopeNotAllowed, "scopes")}},
		{"denied beats allowed", with(func(i *Identity) { i.Scopes = []string{"ci-admin"} }), oneHour, []string{at(RuleScopeDenied, "scopes")}},
		{"root denied", with(func(i *Identity) { i.Scopes = []string{"root", "ci-read"} }), oneHour, []string{at(RuleScopeDenied, "scopes")}},
		{"too many scopes", with(func(i *Identity) { i.Scopes = []string{"ci-a", "ci-b", "ci-c"} }), oneHour,
			[]string{at(RuleScopesAboveClassMax, "scopes")}},
		{"no bound cidrs", with(func(i *Identity) { i.BoundCIDRs = nil }), oneHour, []string{at(RuleCIDRNotAllowed, "bound_cidrs")}},
		{"cidr wider than allowed", with(func(i *Identity) { i.BoundCIDRs = []string{"10.1.0.0/16", "0.0.0.0/0"} }), oneHour,
			[]string{at(RuleCIDRNotAllowed, "bound_cidrs")}},
		{"ipv6 cidr against ipv4 allowance", with(func(i *Identity) { i.BoundCIDRs = []string{"::/0"} }), oneHour,
			[]string{at(RuleCIDRNotAllowed, "bound_cidrs")}},
		{"blast radius above max", clean, &Exposure{Window: 2 * time.Hour, Bounded: true, Basis: "b"}, []string{at(RuleBlastRadiusAboveClassMax, "scopes")}},
		{"unbounded blast radius", clean, &Exposure{Basis: "b"}, []string{at(RuleBlastRadiusAboveClassMax, "scopes")}},
		{"unknown exposure skips blast radius", clean, nil, nil},
		{"exception exempts", with(func(i *Identity) {
			i.Scopes = []string{"root", "kv-write", "x"}
			i.BoundCIDRs = nil
			i.Exception = active
		}),
			&Exposure{Basis: "b"}, nil},
		{"expired exception exempts nothing", with(func(i *Identity) {
			i.Scopes = []string{"root"}
			i.Exception = &Exception{Reason: "r", ApprovedBy: "a", ExpiresAt: testNow}
		}), oneHour, []string{at(RuleExceptionExpired, "exception.expires_at"), at(RuleScopeDenied, "scopes")}},
		{"incomplete exception", with(func(i *Identity) { i.Exception = &Exception{ExpiresAt: testNow.Add(Day)} }), oneHour,
			[]string{at(RuleExceptionIncomplete, "exception.reason"), at(RuleExceptionIncomplete, "exception.approved_by")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := CheckPrivilege(tt.id, &class, tt.exp, testNow)
			assertFindings(t, got, sub, tt.want...)
			for _, f := range got {
				if f.Attribute == "scopes" || f.Attribute == "bound_cidrs" {
					if want := map[string]string{"scopes": "NHI5", "bound_cidrs": "NHI8"}[f.Attribute]; f.OWASP != want {
						t.Errorf("%s: OWASP %q, want %q", f.Rule, f.OWASP, want)
					}
				}
			}
		})
	}
	if got := CheckPrivilege(with(func(i *Identity) { i.Scopes = []string{"root"} }), nil, nil, testNow); len(got) != 0 {
		t.Errorf("without a class, CheckPrivilege = %v, want nothing", got)
	}
	f := findRule(t, CheckPrivilege(with(func(i *Identity) { i.Scopes = []string{"kv-write"} }), &class, oneHour, testNow), RuleScopeNotAllowed)
	if !strings.Contains(f.Observed, `"kv-write"`) || !strings.Contains(f.Allowed, `"ci-*", "read:*"`) {
		t.Errorf("scope-not-allowed does not name the scope and the patterns: %+v", f)
	}
	f = findRule(t, CheckPrivilege(clean, &class, &Exposure{Window: 2 * time.Hour, Bounded: true, Basis: "ttl_policy p hard lifetime 2h"}, testNow), RuleBlastRadiusAboveClassMax)
	if f.Observed != "blast radius 4 scope-hours: 2 scopes x 2h (ttl_policy p hard lifetime 2h)" || f.Allowed != "class ci allows a blast radius of at most 3 scope-hours" {
		t.Errorf("blast-radius-above-class-max: observed %q, allowed %q", f.Observed, f.Allowed)
	}
}

// TestExposureAndBlastRadius asserts the exposure window and blast radius figures exactly for an
// ephemeral, a persistent, an expire_unrotated and an unbounded identity.
func TestExposureAndBlastRadius(t *testing.T) {
	short := &TTLPolicy{Name: "ci-short", Class: "ci", TTL: 15 * time.Minute, MaxLifetime: time.Hour, Renewable: true, MaxRenewals: ptr(int64(2))}
	oneShot := &TTLPolicy{Name: "one-shot", Class: "ci", TTL: 15 * time.Minute}
	renewForever := &TTLPolicy{Name: "forever", Class: "ci", TTL: time.Hour, Renewable: true}
	monthly := &RotationSchedule{Identity: "svc", Interval: 30 * Day, Window: Day, Overlap: time.Hour}
	strict := &RotationSchedule{Identity: "svc", Interval: 30 * Day, Window: Day, Overlap: time.Hour, ExpireUnrotated: true}
	weekly := &RotationSchedule{Identity: "svc", Cron: "0 3 * * 1", Window: time.Hour}
	eph := Identity{Name: "ci-build", TTLPolicy: "ci-short", Scopes: []string{"ci-read", "ci-write"}}
	per := Identity{Name: "svc", Scopes: []string{"billing-read", "billing-write", "kv-read"}}
	tests := []struct {
		name       string
		id         Identity
		ttl        *TTLPolicy
		sched      *RotationSchedule
		live       bool
		known      bool
		bounded    bool
		window     time.Duration
		radius     float64
		basisSnips string
	}{
		{"ephemeral: hard lifetime", eph, short, nil, false, true, true, time.Hour, 2, "ttl_policy ci-short hard lifetime 1h"},
		{"ephemeral: non-renewable ttl", eph, oneShot, nil, false, true, true, 15 * time.Minute, 0.5, "ttl_policy one-shot hard lifetime 15m"},
		{"ephemeral: policy not known", eph, nil, nil, false, false, false, 0, 0, ""},
		{"ephemeral: unbounded renewal", eph, renewForever, nil, false, true, false, 0, 0, "renews without max_lifetime"},
		{"persistent: interval + window + overlap", per, nil, monthly, true, true, true, 31*Day + time.Hour, 3 * 745, "rotation interval 30d + window 1d + overlap 1h"},
		{"persistent: expire_unrotated", per, nil, strict, true, true, true, 31 * Day, 3 * 744, "expire_unrotated: rotation interval 30d + window 1d"},
		{"persistent: cron", per, nil, weekly, true, true, true, 7*Day + time.Hour, 3 * 169, "rotation interval 7d + window 1h + overlap 0s"},
		{"persistent: live secret, no schedule", per, nil, nil, true, true, false, 0, 0, "no rotation schedule"},
		{"persistent: no secret yet", per, nil, nil, false, true, true, 0, 0, "no credential"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			exp, known := ExposureOf(tt.id, tt.ttl, tt.sched, tt.live, testNow)
			if known != tt.known {
				t.Fatalf("known = %v, want %v", known, tt.known)
			}
			if !known {
				return
			}
			if exp.Bounded != tt.bounded || exp.Window != tt.window || !strings.Contains(exp.Basis, tt.basisSnips) {
				t.Fatalf("ExposureOf = %+v, want bounded %v, window %s, basis containing %q", exp, tt.bounded, tt.window, tt.basisSnips)
			}
			r, bounded := Blast{Exposure: exp, Scopes: len(tt.id.Scopes)}.Radius()
			if bounded != tt.bounded || r != tt.radius {
				t.Fatalf("blast radius = %v (bounded %v), want %v (bounded %v)", r, bounded, tt.radius, tt.bounded)
			}
			if unb := checkExposure(tt.id, exp); (len(unb) == 1) != !tt.bounded {
				t.Fatalf("unbounded-exposure findings = %v, want one iff unbounded", unb)
			}
		})
	}
	if r, ok := (Exposure{}).BlastRadius(0); r != 0 || !ok {
		t.Errorf("no scopes: blast radius %v (bounded %v), want 0, bounded", r, ok)
	}
}

// TestDriftPrivilegeAndBlast: the drift report carries privilege drift, unbounded exposure and
// per-identity blast radius, and sums the bounded ones.
func TestDriftPrivilegeAndBlast(t *testing.T) {
	f := cleanFleet()
	f.Identities[0].Scopes = []string{"ci-read", "ci-write"}                                            // ci-build: ci-short, 12h hard lifetime
	f.Identities[2].Scopes = []string{"billing-read"}                                                   // svc-api: 7d + 1h window
	f.Identities[2].PrivilegesAdded = []string{"token_policies: admin granted outside the declaration"} // escalated by hand
	f.Identities[3].PrivilegesRemoved = []string{"token_policies: orders-read no longer granted"}
	f.Identities = append(f.Identities, Identity{Name: "svc-legacy", Class: "svc", Owner: "ops", Status: StatusActive, Scopes: []string{"kv-read"}})
	f.Secrets = append(f.Secrets, SecretObservation{Identity: "svc-legacy", Version: 1, Current: true, PromotedAt: testNow.Add(-Day), Live: true, Fingerprint: "fp-legacy"})
	rep := Drift(f)
	want := map[string]string{
		"identity/svc-api " + RulePrivilegeEscalation:  "high NHI5",
		"identity/svc-db " + RulePrivilegeRemoved:      "medium NHI5",
		"identity/svc-legacy " + RuleUnboundedExposure: "high NHI7",
	}
	for _, fd := range rep.Findings {
		k := fd.Subject + " " + fd.Rule
		if w, ok := want[k]; ok {
			if got := string(fd.Severity) + " " + fd.OWASP; got != w {
				t.Errorf("%s: %s, want %s", k, got, w)
			}
			delete(want, k)
		}
	}
	if len(want) != 0 {
		t.Errorf("missing findings: %v", want)
	}
	radius := map[string]float64{}
	for name, b := range rep.Blast {
		if r, ok := b.Radius(); ok {
			radius[name] = r
		} else {
			radius[name] = -1
		}
	}
	wantRadius := map[string]float64{"ci-build": 24, "svc-api": 169, "svc-db": 0, "svc-legacy": -1}
	if !reflect.DeepEqual(radius, wantRadius) {
		t.Errorf("blast radius per identity = %v, want %v (-1: unbounded; retired ci-old absent)", radius, wantRadius)
	}
	if total, unbounded := rep.TotalBlastRadius(); total != 193 || unbounded != 1 {
		t.Errorf("TotalBlastRadius = %v with %d unbounded, want 193 with 1", total, unbounded)
	}
	if got := rep.Filter(f, Scope{Class: "ci"}).Blast; len(got) != 1 || got["ci-build"].Scopes != 2 {
		t.Errorf("Filter(class ci).Blast = %v, want ci-build only", got)
	}
}

// TestReachPrivilege: tightening a class's privilege ceilings names the identities it leaves out.
func TestReachPrivilege(t *testing.T) {
	policies := []TTLPolicy{{Name: "ci-short", Class: "ci", TTL: 15 * time.Minute, MaxLifetime: time.Hour}}
	schedules := []RotationSchedule{{Identity: "svc-api", Interval: 30 * Day}}
	ids := []Identity{
		{Name: "ci-read", Class: "ci", TTLPolicy: "ci-short", Scopes: []string{"ci-read"}, Status: StatusActive},
		{Name: "ci-admin", Class: "ci", TTLPolicy: "ci-short", Scopes: []string{"ci-admin"}, Status: StatusActive},
		{Name: "ci-wide", Class: "ci", TTLPolicy: "ci-short", Scopes: []string{"ci-a", "ci-b", "ci-c"}, Status: StatusActive},
		{Name: "ci-excepted", Class: "ci", TTLPolicy: "ci-short", Scopes: []string{"ci-admin"}, Status: StatusActive,
			Exception: &Exception{Reason: "r", ApprovedBy: "a", ExpiresAt: testNow.Add(Day)}},
		{Name: "svc-api", Class: "svc", Scopes: []string{"billing-read", "billing-write"}, Status: StatusActive},
	}
	got := subjectsOf(Reach(Class{Name: "ci", Kind: KindEphemeral, MaxLifetime: time.Hour, DeniedScopes: []string{"*-admin"}, MaxScopes: 2}, ids, policies, schedules, testNow))
	want := []string{"identity/ci-admin " + RuleScopeDenied, "identity/ci-wide " + RuleScopesAboveClassMax}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Reach(ci) = %v, want %v", got, want)
	}
	// 2 scopes x (30d) = 1440 scope-hours, above a ceiling of 1000.
	got = subjectsOf(Reach(Class{Name: "svc", Kind: KindPersistent, MaxBlastRadius: 1000}, ids, policies, schedules, testNow))
	if want := []string{"identity/svc-api " + RuleBlastRadiusAboveClassMax}; !reflect.DeepEqual(got, want) {
		t.Errorf("Reach(svc) = %v, want %v", got, want)
	}
}

// TestCheckGrant: a credential grants exactly its scopes, from its bound networks only.
func TestCheckGrant(t *testing.T) {
	scopes, cidrs := []string{"ci-read", "kv-read"}, []string{"10.0.0.0/8", "192.168.1.7"}
	tests := []struct {
		name   string
		scopes []string
		cidrs  []string
		scope  string
		caller string
		ok     bool
	}{
		{"granted, in network", scopes, cidrs, "ci-read", "10.1.2.3", true},
		{"granted, single host as Vault spells it", scopes, cidrs, "kv-read", "192.168.1.7", true},
		{"IPv4-mapped caller", scopes, cidrs, "kv-read", "::ffff:10.1.2.3", true},
		{"scope not held", scopes, cidrs, "kv-write", "10.1.2.3", false},
		{"outside the networks", scopes, cidrs, "ci-read", "172.16.0.1", false},
		{"no caller for a bound credential", scopes, cidrs, "ci-read", "", false},
		{"unbound: any caller", scopes, nil, "ci-read", "", true},
		{"no scopes", nil, nil, "ci-read", "10.1.2.3", false},
	}
	for _, tt := range tests {
		var caller netip.Addr
		if tt.caller != "" {
			caller = netip.MustParseAddr(tt.caller)
		}
		if err := CheckGrant(tt.scopes, tt.cidrs, tt.scope, caller); (err == nil) != tt.ok {
			t.Errorf("%s: CheckGrant = %v, want granted %v", tt.name, err, tt.ok)
		}
	}
}
