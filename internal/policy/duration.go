package policy

import (
	"errors"
	"fmt"
	"math"
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
			f, err := strconv.ParseFloat(num, 64)
			if err != nil || math.IsInf(f, 0) || math.IsNaN(f) || f*float64(Day) > math.MaxInt64 {
				return 0, fmt.Errorf("invalid duration %q: %w", s, errDurationSyntax)
			}
			part = time.Duration(f * float64(Day))
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

// FormatDuration writes d the way ParseDuration reads it, preferring whole days.
func FormatDuration(d time.Duration) string {
	if d == 0 {
		return "0s"
	}
	if d%Day == 0 {
		return strconv.FormatInt(int64(d/Day), 10) + "d"
	}
	if d > Day {
		return strconv.FormatInt(int64(d/Day), 10) + "d" + (d % Day).String()
	}
	return d.String()
}
