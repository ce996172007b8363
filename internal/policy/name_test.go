package policy

import (
	"strings"
	"testing"
)

func TestCheckName(t *testing.T) {
	tests := []struct {
		name  string
		in    string
		valid bool
	}{
		{"one letter", "a", true},
		{"one upper", "A", true},
		{"one digit", "0", true},
		{"dashed", "ci-build", true},
		{"all punctuation", "svc_1.prod-eu", true},
		{"trailing dash", "a-", true},
		{"digit first", "9lives", true},
		{"128 bytes", strings.Repeat("a", 128), true},
		{"empty", "", false},
		{"129 bytes", strings.Repeat("a", 129), false},
		{"leading dash", "-a", false},
		{"leading underscore", "_a", false},
		{"leading dot", ".a", false},
		{"dot dot", "..", false},
		{"space", "a b", false},
		{"slash", "a/b", false},
		{"colon", "a:b", false},
		{"star", "a*", false},
		{"newline", "a\n", false},
		{"nul", "a\x00", false},
		{"unicode letter", "café", false},
		{"unicode first", "ébc", false},
		{"cyrillic a", "\u0430bc", false},
		{"fullwidth digit", "a\uff11", false},
		{"invalid utf8", "a\xff", false},
		{"64 two-byte runes", strings.Repeat("é", 64), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := CheckName(tt.in)
			if tt.valid && err != nil {
				t.Errorf("CheckName(%q) = %v, want nil", tt.in, err)
			}
			if !tt.valid && err == nil {
				t.Errorf("CheckName(%q) = nil, want an error", tt.in)
			}
		})
	}
}

func TestCompileNamingPattern(t *testing.T) {
	tests := []struct {
		pattern string
		name    string
		match   bool
	}{
		{"ci-.*", "ci-a", true},
		{"ci-.*", "ci-", true},
		{"ci-.*", "xci-a", false},
		{"ci-.*", "ci-a\n", false},
		{"ci-[a-z]+", "ci-abc", true},
		{"ci-[a-z]+", "ci-abc1", false},
		{"a|b", "a", true},
		{"a|b", "b", true},
		{"a|b", "ab", false},
		{"a|b", "xb", false},
		{"a|b", "ax", false},
		{"^ci-.*$", "ci-a", true},
		{"", "", true},
		{"", "a", false},
		{"(?i)CI-.*", "ci-a", true},
	}
	for _, tt := range tests {
		t.Run(tt.pattern+" "+tt.name, func(t *testing.T) {
			re, err := CompileNamingPattern(tt.pattern)
			if err != nil {
				t.Fatalf("CompileNamingPattern(%q) error: %v", tt.pattern, err)
			}
			if got := re.MatchString(tt.name); got != tt.match {
				t.Errorf("CompileNamingPattern(%q).MatchString(%q) = %v, want %v", tt.pattern, tt.name, got, tt.match)
			}
		})
	}

	for _, p := range []string{"(", "[", "a)", "*", `\`, "a{2,1}"} {
		t.Run("invalid "+p, func(t *testing.T) {
			if _, err := CompileNamingPattern(p); err == nil {
				t.Errorf("CompileNamingPattern(%q) = nil error, want one", p)
			}
		})
	}
}

// TestCompileNamingPatternCannotEscapeAnchors: a pattern that closes the wrapping group itself
// must not turn the whole-name match into a prefix or suffix match. Either it is refused or it
// still matches whole names only.
func TestCompileNamingPatternCannotEscapeAnchors(t *testing.T) {
	tests := []struct{ pattern, name string }{
		{"a)|(b", "axyz"},
		{"a)|(b", "xyzb"},
		{"ci-.*)|(x", "prod-x"},
		{"ci-[a-z]+)|(.*", "anything/at all"},
	}
	for _, tt := range tests {
		t.Run(tt.pattern, func(t *testing.T) {
			re, err := CompileNamingPattern(tt.pattern)
			if err == nil && re.MatchString(tt.name) {
				t.Errorf("CompileNamingPattern(%q) compiled to %q, which matches %q", tt.pattern, re, tt.name)
			}
		})
	}
}
