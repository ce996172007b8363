package policy

import (
	"fmt"
	"math"
	"math/big"
	"strings"
	"testing"
	"time"
)

// durationCase is a duration string and exactly what it parses to.
type durationCase struct {
	in   string
	want time.Duration
}

// testParses checks that each case parses to exactly its want.
func testParses(t *testing.T, tests []durationCase) {
	t.Helper()
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseDuration(tt.in)
			if err != nil {
				t.Fatalf("ParseDuration(%q) error: %v", tt.in, err)
			}
			if got != tt.want {
				t.Errorf("ParseDuration(%q) = %v (%d), want %v (%d)", tt.in, got, int64(got), tt.want, int64(tt.want))
			}
		})
	}
}

func TestParseDurationValid(t *testing.T) {
	tests := []durationCase{
		{"30d", 30 * Day},
		{"12h", 12 * time.Hour},
		{"1d12h", 36 * time.Hour},
		{"90m", 90 * time.Minute},
		{"1.5h", 90 * time.Minute},
		{"0", 0},
		{"0s", 0},
		{"0d", 0},
		{"1h30m", 90 * time.Minute},
		{"1d", Day},
		{"0.5d", 12 * time.Hour},
		{"1.5d", 36 * time.Hour},
		{".5h", 30 * time.Minute},
		{"1h1d", 25 * time.Hour},
		{"1d1d", 2 * Day},
		{"2d3h4m5s", 2*Day + 3*time.Hour + 4*time.Minute + 5*time.Second},
		{"500ms", 500 * time.Millisecond},
		{"1us", time.Microsecond},
		{"1µs", time.Microsecond},
		{"1ns", time.Nanosecond},
		{"1h0m0.000000001s", time.Hour + time.Nanosecond},
		{"2562047h", 2562047 * time.Hour},
		{"106751d", 106751 * Day},
		{"106751d23h47m16.854775807s", math.MaxInt64},
	}
	testParses(t, tests)
}

func TestParseDurationInvalid(t *testing.T) {
	tests := []struct {
		in      string
		errPart string // substring the error must contain; empty: any error
	}{
		{"", "sequence of numbers with units"},
		{"-1h", "negative"},
		{"-0", "negative"},
		{"-1d", "negative"},
		{"d", ""},
		{"h", ""},
		{"10", ""},
		{"00", ""},
		{"1x", ""},
		{"1.2.3h", ""},
		{"1..5d", ""},
		{".d", ""},
		{"1d.", ""},
		{" 1h", ""},
		{"1h ", ""},
		{"1 h", ""},
		{"+1h", ""},
		{"1h-1m", ""},
		{"1D", ""},
		{"1H", ""},
		{"h1", ""},
		{"1dd", ""},
		{"1e3d", ""},
		{"0x10h", ""},
		{"1_000h", ""},
		{"1,5h", ""},
		{"NaNd", ""},
		{"Infd", ""},
		{"1" + strings.Repeat("0", 400) + "d", ""},
		// Overflow: each of these is longer than math.MaxInt64 nanoseconds.
		{"9999999999999d", ""},
		{"106752d", ""},
		{"2562048h", ""},
		{"106751d24h", "too long"},
		{"106751d23h47m16.854775808s", "too long"},
		{"1d9223372036854775807ns", "too long"},
		// Just past math.MaxInt64 nanoseconds, computed exactly.
		{"106751.99116730065d", ""},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseDuration(tt.in)
			if err == nil {
				t.Fatalf("ParseDuration(%q) = %v (%d), want an error", tt.in, got, int64(got))
			}
			if got != 0 {
				t.Errorf("ParseDuration(%q) returned %v alongside its error, want 0", tt.in, got)
			}
			if tt.errPart != "" && !strings.Contains(err.Error(), tt.errPart) {
				t.Errorf("ParseDuration(%q) error %q does not contain %q", tt.in, err, tt.errPart)
			}
		})
	}
}

// TestParseDurationFractionalDays checks that "<decimal>d" is exactly the decimal times 24h,
// truncated to the nanosecond, as "<decimal*24>h" is for Go's own parser.
func TestParseDurationFractionalDays(t *testing.T) {
	tests := []durationCase{
		{"0.001d", 86400 * time.Millisecond},
		{"0.1d", 2*time.Hour + 24*time.Minute},
		{"0.25d", 6 * time.Hour},
		{"1.1d", 26*time.Hour + 24*time.Minute},
		{"0.043d", time.Hour + time.Minute + 55200*time.Millisecond},
		{"0.071d", time.Hour + 42*time.Minute + 14400*time.Millisecond},
	}
	testParses(t, tests)

	t.Run("every three-decimal value below 3d", func(t *testing.T) {
		var bad []string
		for i := range 3000 {
			s := fmt.Sprintf("%d.%03d", i/1000, i%1000)
			got, err := ParseDuration(s + "d")
			if err != nil {
				t.Fatalf("ParseDuration(%q) error: %v", s+"d", err)
			}
			if want := exactDays(t, s); got != want {
				bad = append(bad, fmt.Sprintf("%sd = %v, want %v", s, got, want))
			}
		}
		if len(bad) > 0 {
			t.Errorf("%d of 3000 fractional day values are not exact, e.g. %s", len(bad), strings.Join(bad[:min(5, len(bad))], "; "))
		}
	})
}

// exactDays is decimal s times 24h, truncated to the nanosecond, computed exactly.
func exactDays(t *testing.T, s string) time.Duration {
	t.Helper()
	r, ok := new(big.Rat).SetString(s)
	if !ok {
		t.Fatalf("bad decimal %q", s)
	}
	r.Mul(r, new(big.Rat).SetInt64(int64(Day)))
	return time.Duration(new(big.Int).Quo(r.Num(), r.Denom()).Int64())
}

func TestFormatDuration(t *testing.T) {
	tests := []struct {
		in   time.Duration
		want string
	}{
		{0, "0s"},
		{time.Nanosecond, "1ns"},
		{90 * time.Minute, "1h30m"},
		{12 * time.Hour, "12h"},
		{Day, "1d"},
		{30 * Day, "30d"},
		{36 * time.Hour, "1d12h"},
		{Day + time.Nanosecond, "1d1ns"},
		{Day - time.Nanosecond, "23h59m59.999999999s"},
		{math.MaxInt64, "106751d23h47m16.854775807s"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			if got := FormatDuration(tt.in); got != tt.want {
				t.Errorf("FormatDuration(%d) = %q, want %q", int64(tt.in), got, tt.want)
			}
		})
	}
}

func TestFormatParseRoundTrip(t *testing.T) {
	ds := []time.Duration{
		0, 1, 999, time.Microsecond, 1500 * time.Microsecond, time.Millisecond, time.Second,
		time.Minute, time.Hour, Day - 1, Day, Day + 1, 25 * time.Hour, 36 * time.Hour,
		7 * Day, 30 * Day, 90*Day + 90*time.Minute, 365 * Day, 106751 * Day, math.MaxInt64, math.MaxInt64 - 1,
	}
	// A spread of awkward values: powers of primes and their neighbours.
	for _, p := range []int64{3, 7, 13} {
		for v := int64(1); v < math.MaxInt64/p; v *= p {
			ds = append(ds, time.Duration(v), time.Duration(v+1), time.Duration(v-1))
		}
	}
	for _, d := range ds {
		s := FormatDuration(d)
		got, err := ParseDuration(s)
		if err != nil {
			t.Errorf("ParseDuration(FormatDuration(%d) = %q) error: %v", int64(d), s, err)
			continue
		}
		if got != d {
			t.Errorf("ParseDuration(FormatDuration(%d) = %q) = %d", int64(d), s, int64(got))
		}
	}
}
