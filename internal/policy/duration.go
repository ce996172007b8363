package policy

import (
	"errors"
	"fmt"
	"math"
	"math/big"
	"strconv"
	"strings"
	"time"
)

// Day is the length of the "d" unit.
const Day = 24 * time.Hour

var errDurationSyntax = errors.New(`a duration is a sequence of numbers with units, such as "30d", "12h", "1d12h" or "90m" (units: d, h, m, s, ms, us, ns)`)

// ParseDuration parses a non-negative duration written as Go writes durations, with a "d" (24h)
// unit added because people write days: "30d", "1d12h", "90m", "1.5h".
func ParseDuration(s string) (time.Duration, error) {
	if s == "" {
		return 0, errDurationSyntax
	}
	if strings.HasPrefix(s, "-") {
		return 0, fmt.Errorf("duration %q is negative: durations must be zero or more", s)
	}
	if s == "0" {
		return 0, nil
	}
	var total time.Duration
	rest := s
	for rest != "" {
		i := 0
		for i < len(rest) && (rest[i] == '.' || (rest[i] >= '0' && rest[i] <= '9')) {
			i++
		}
		j := i
		for j < len(rest) && rest[j] != '.' && (rest[j] < '0' || rest[j] > '9') {
			j++
		}
		if i == 0 || j == i {
			return 0, fmt.Errorf("invalid duration %q: %w", s, errDurationSyntax)
		}
		num, unit := rest[:i], rest[i:j]
		var part time.Duration
		if unit == "d" {
			// Exact decimal arithmetic: float64 would drop nanoseconds of fractional days.
			r, ok := new(big.Rat).SetString(num)
			if !ok || strings.ContainsAny(num, "eE/") {
				return 0, fmt.Errorf("invalid duration %q: %w", s, errDurationSyntax)
			}
			r.Mul(r, big.NewRat(int64(Day), 1))
			ns := new(big.Int).Quo(r.Num(), r.Denom())
			if !ns.IsInt64() {
				return 0, fmt.Errorf("duration %q is too long", s)
			}
			part = time.Duration(ns.Int64())
		} else {
			d, err := time.ParseDuration(num + unit)
			if err != nil {
				return 0, fmt.Errorf("invalid duration %q: %w", s, errDurationSyntax)
			}
			part = d
		}
		if total > math.MaxInt64-part {
			return 0, fmt.Errorf("duration %q is too long", s)
		}
		total += part
		rest = rest[j:]
	}
	return total, nil
}

// FormatDuration writes d the way ParseDuration reads it, compactly and in whole days where it
// can: "30d", "1d12h", "1h30m", "90s", "1.5s".
func FormatDuration(d time.Duration) string {
	if d <= 0 {
		return d.String()
	}
	var b strings.Builder
	for _, u := range []struct {
		unit time.Duration
		name string
	}{{Day, "d"}, {time.Hour, "h"}, {time.Minute, "m"}} {
		if n := d / u.unit; n > 0 {
			b.WriteString(strconv.FormatInt(int64(n), 10) + u.name)
			d %= u.unit
		}
	}
	if d > 0 {
		b.WriteString(d.String())
	}
	return b.String()
}
