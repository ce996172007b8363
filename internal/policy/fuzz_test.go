package policy

import (
	"math/big"
	"regexp"
	"strings"
	"testing"
	"time"
)

func FuzzParseDuration(f *testing.F) {
	for _, s := range []string{
		"30d", "12h", "1d12h", "90m", "1.5h", "0", "0s", "1h30m", "0.5d", ".5h", "1µs", "500ms",
		"", "-1h", "d", "10", "1x", "1.2.3h", " 1h", "9999999999999d", "106751d23h47m16.854775807s",
		"106751.99116730064d", "2562047h", "1d1ns",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := ParseDuration(s)
		if err != nil {
			if d != 0 {
				t.Fatalf("ParseDuration(%q) = %v with error %v, want 0", s, d, err)
			}
		} else {
			if d < 0 {
				t.Fatalf("ParseDuration(%q) = %v, negative", s, d)
			}
			back, err := ParseDuration(FormatDuration(d))
			if err != nil || back != d {
				t.Fatalf("ParseDuration(%q) = %d; FormatDuration = %q parses to %d, %v", s, int64(d), FormatDuration(d), int64(back), err)
			}
		}
		// Without a "d" unit or a sign, the syntax is Go's and so must be the value.
		if !strings.ContainsAny(s, "d+-") {
			if want, goErr := time.ParseDuration(s); goErr == nil && (err != nil || d != want) {
				t.Fatalf("ParseDuration(%q) = %d, %v; time.ParseDuration = %d", s, int64(d), err, int64(want))
			}
		}
	})
}

// validName is CheckName's documented contract, written independently.
func validName(s string) bool {
	if len(s) < 1 || len(s) > 128 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		alnum := 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9'
		if !alnum && (i == 0 || (c != '-' && c != '_' && c != '.')) {
			return false
		}
	}
	return true
}

func FuzzCheckName(f *testing.F) {
	for _, s := range []string{"a", "ci-build", "svc_1.prod", "-a", "", "café", "a\xff", "a b", strings.Repeat("a", 128), strings.Repeat("a", 129)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		err := CheckName(name)
		if want := validName(name); (err == nil) != want {
			t.Fatalf("CheckName(%q) = %v, want valid=%v", name, err, want)
		}
	})
}

// wholeMatch reports whether pattern, compiled on its own, matches all of name: with
// leftmost-longest semantics, a whole match exists exactly when the match found is [0, len].
func wholeMatch(pattern, name string) bool {
	re := regexp.MustCompile(pattern)
	re.Longest()
	loc := re.FindStringIndex(name)
	return loc != nil && loc[0] == 0 && loc[1] == len(name)
}

func FuzzNamingPattern(f *testing.F) {
	for _, s := range [][2]string{
		{"ci-.*", "ci-a"}, {"ci-.*", "xci-a"}, {"a|b", "ab"}, {"(?i)CI-[a-z]+", "ci-abc"}, {"^a$", "a"},
		{"(", "a"}, {"[", "a"}, {"", ""}, {"a*?", "aaa"}, {`\Aa\z`, "a"}, {"(?m)a$", "a\nb"},
	} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, pattern, name string) {
		if len(pattern) > 512 || len(name) > 512 {
			return
		}
		re, err := CompileNamingPattern(pattern)
		_, ownErr := regexp.Compile(pattern)
		if ownErr != nil && err == nil {
			t.Fatalf("CompileNamingPattern(%q) compiled to %q although the pattern alone is invalid (%v)", pattern, re, ownErr)
		}
		if err == nil {
			if got, want := re.MatchString(name), wholeMatch(pattern, name); got != want {
				t.Fatalf("CompileNamingPattern(%q).MatchString(%q) = %v, whole match of the pattern = %v", pattern, name, got, want)
			}
		}

		class := Class{Name: "c", Kind: KindPersistent, NamingPattern: pattern}
		invalid := false
		for _, f := range CheckClass(class) {
			invalid = invalid || f.Rule == RuleInvalidNamingPattern
		}
		if invalid != (err != nil && pattern != "") {
			t.Fatalf("CheckClass with pattern %q: invalid-naming-pattern = %v, compile error %v", pattern, invalid, err)
		}
		mismatch := false
		for _, f := range CheckIdentity(Identity{Name: name, Class: "c"}, &class, nil) {
			mismatch = mismatch || f.Rule == RuleNamePattern
		}
		if want := pattern != "" && err == nil && !re.MatchString(name); mismatch != want {
			t.Fatalf("CheckIdentity(%q) under pattern %q: name-pattern-mismatch = %v, want %v", name, pattern, mismatch, want)
		}
	})
}

// FuzzCheckTTLPolicy checks the ceiling rules against an exact computation of the policy's
// lifetime, and that GrantCredential never grants less lifetime than TTL.
func FuzzCheckTTLPolicy(f *testing.F) {
	h := int64(time.Hour)
	f.Add(h, 12*h, true, true, int64(5), 24*h, h)
	f.Add(h, int64(0), true, false, int64(0), 24*h, h)
	f.Add(h, int64(0), true, true, int64(100), 24*h, int64(0))
	f.Add(2*h, int64(0), false, false, int64(0), h, h)
	f.Add(int64(1), int64(0), true, true, int64(1)<<40, int64(1)<<41, int64(0))
	f.Fuzz(func(t *testing.T, ttl, maxLife int64, renewable, capped bool, maxRen, classLife, classTTL int64) {
		if ttl < 0 || maxLife < 0 || maxRen < 0 || classLife < 0 || classTTL < 0 {
			return
		}
		p := TTLPolicy{Name: "p", Class: "c", TTL: time.Duration(ttl), MaxLifetime: time.Duration(maxLife), Renewable: renewable}
		if capped {
			p.MaxRenewals = &maxRen
		}
		c := Class{Name: "c", Kind: KindEphemeral, MaxTTL: time.Duration(classTTL), MaxLifetime: time.Duration(classLife)}
		var gotTTL, gotLife bool
		for _, f := range CheckTTLPolicy(p, &c, testNow) {
			gotTTL = gotTTL || f.Rule == RuleTTLAboveClassMax
			gotLife = gotLife || f.Rule == RuleLifetimeAboveClassMax
		}
		if want := classTTL > 0 && ttl > classTTL; gotTTL != want {
			t.Fatalf("%+v under %+v: ttl-above-class-max = %v, want %v", p, c, gotTTL, want)
		}
		// Exact lifetime: max_lifetime, else one ttl, else ttl*(renewals+1), else unbounded.
		var life *big.Int
		switch {
		case maxLife > 0:
			life = big.NewInt(maxLife)
		case !renewable:
			life = big.NewInt(ttl)
		case capped:
			life = new(big.Int).Mul(big.NewInt(ttl), new(big.Int).Add(big.NewInt(maxRen), big.NewInt(1)))
		}
		wantLife := classLife > 0 && (life == nil || life.Cmp(big.NewInt(classLife)) > 0)
		if gotLife != wantLife {
			t.Fatalf("%+v (renewals %d) under %+v: lifetime-above-class-max = %v, want %v (exact lifetime %v)", p, maxRen, c, gotLife, wantLife, life)
		}

		g, err := GrantCredential(p, 0)
		if err != nil {
			t.Fatalf("GrantCredential(%+v, 0): %v", p, err)
		}
		if g.TTL != p.TTL || g.Lifetime < g.TTL || g.MaxUses != p.MaxUses {
			t.Fatalf("GrantCredential(%+v, 0) = %+v", p, g)
		}
	})
}

// FuzzParseCron checks that ParseCron never panics and that an accepted expression is a
// schedule that rotates: its longest gap is not negative and its next rotation after any time
// is after that time.
func FuzzParseCron(f *testing.F) {
	for _, s := range []string{
		"0 3 * * 1", "0 0 1 * *", "0 3 1 */3 *", "*/5 * * * *", "* * * * *", "0-30/10 1,13 * * 1-5",
		"0 3 * * SUN", "0 3 ? * 1", "0 0 29 2 *", "0 0 30 2 *", "", " ", "0 3 * *", "0 0 3 * * 1",
		"@daily", "@every 1h", "60 3 * * *", "0 3 * * 7", "TZ=UTC 0 3 * * 1", "TZ=", "CRON_TZ=", "*/0 * * * *", "1-0 * * * *",
	} {
		f.Add(s, testNow.Unix())
	}
	f.Fuzz(func(t *testing.T, expr string, unix int64) {
		if len(expr) > 256 {
			return
		}
		s, err := parseCronNoPanic(t, expr)
		if err != nil {
			if s != nil {
				t.Fatalf("ParseCron(%q) returned a schedule with error %v", expr, err)
			}
			return
		}
		// Any second from 1970 to about 2242, in a zone other than UTC.
		last := time.Unix(unix&(1<<33-1), 0).In(time.FixedZone("UTC-7", -7*3600))
		if gap := LongestCronGap(s, last); gap < 0 {
			t.Fatalf("LongestCronGap(%q) from %s = %v, negative", expr, last.Format(time.RFC3339), gap)
		}
		next, err := RotationSchedule{Identity: "svc", Cron: expr}.NextRotation(last)
		if err != nil {
			t.Fatalf("ParseCron(%q) accepted it, NextRotation failed: %v", expr, err)
		}
		if !next.After(last) {
			t.Fatalf("ParseCron(%q) accepted it; NextRotation(%s) = %s, not after it", expr, last.Format(time.RFC3339), next.Format(time.RFC3339))
		}
	})
}

// globRegexp is MatchScope's documented contract, written independently: '*' is any run of
// characters, '?' any one, everything else itself, matched in full.
func globRegexp(pattern string) *regexp.Regexp {
	var b strings.Builder
	b.WriteString(`^(?s:`)
	for _, r := range pattern {
		switch r {
		case '*':
			b.WriteString(`.*`)
		case '?':
			b.WriteString(`.`)
		default:
			b.WriteString(regexp.QuoteMeta(string(r)))
		}
	}
	b.WriteString(`)$`)
	return regexp.MustCompile(b.String())
}

func FuzzMatchScope(f *testing.F) {
	for _, s := range [][2]string{
		{"ci-*", "ci-read"}, {"*-admin", "kv-admin"}, {"?", "a"}, {"a*b*c", "axbxc"}, {"", ""}, {"*", ""},
		{"a*a*a*b", "aaaaaaaaaaaa"}, {"**?", "x"}, {"read:*:prod", "read:kv:dev"},
	} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, pattern, scope string) {
		if len(pattern) > 256 || len(scope) > 256 {
			return
		}
		// The contract is over bytes: scopes and patterns are ASCII by CheckScope and
		// CheckScopePattern, so other input is kept to ASCII as well.
		for i := 0; i < len(pattern); i++ {
			if pattern[i] >= 0x80 {
				return
			}
		}
		for i := 0; i < len(scope); i++ {
			if scope[i] >= 0x80 {
				return
			}
		}
		if got, want := MatchScope(pattern, scope), globRegexp(pattern).MatchString(scope); got != want {
			t.Fatalf("MatchScope(%q, %q) = %v, want %v", pattern, scope, got, want)
		}
		if CheckScope(scope) == nil && !MatchScope(scope, scope) {
			t.Fatalf("a valid scope %q does not match itself", scope)
		}
	})
}

// scopeRegexp is CheckScope's documented contract, written independently.
var scopeRegexp = regexp.MustCompile(`^[a-z0-9][a-z0-9._:-]{0,127}$`)

func FuzzCheckScope(f *testing.F) {
	for _, s := range []string{"ci-read", "read:artifacts", "", "-x", "A", "a b", "ci-*", "é", strings.Repeat("a", 128), strings.Repeat("a", 129)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if err := CheckScope(s); (err == nil) != scopeRegexp.MatchString(s) {
			t.Fatalf("CheckScope(%q) = %v, want valid=%v", s, err, scopeRegexp.MatchString(s))
		}
		// A pattern without wildcards is a scope, and a valid scope is a valid pattern.
		if CheckScope(s) == nil && CheckScopePattern(s) != nil {
			t.Fatalf("scope %q is valid, but not as a pattern", s)
		}
	})
}

// FuzzParseCIDR: an accepted block is canonical (host bits zero) and survives a round trip
// through its string and NormalizeCIDR, which is how engines' spellings are compared.
func FuzzParseCIDR(f *testing.F) {
	for _, s := range []string{"10.0.0.0/8", "10.0.0.1/8", "192.168.1.7/32", "::/0", "2001:DB8::/32", "1.2.3.4", "", "x/8", "10.0.0.0/33", "::ffff:10.0.0.0/104"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := ParseCIDR(s)
		if err != nil {
			return
		}
		if p != p.Masked() {
			t.Fatalf("ParseCIDR(%q) = %s, host bits set", s, p)
		}
		back, err := ParseCIDR(p.String())
		if err != nil || back != p {
			t.Fatalf("ParseCIDR(%q) = %s; its string parses to %s, %v", s, p, back, err)
		}
		if n := NormalizeCIDR(s); n != p.String() {
			t.Fatalf("NormalizeCIDR(%q) = %q, want %q", s, n, p.String())
		}
	})
}
