package policy

import (
	"fmt"
	"strings"
	"time"

	"github.com/robfig/cron/v3"
)

// Consumer is one known consumer of a persistent identity's secret: the dependency map that
// tells a rotation who must pick up the new secret.
type Consumer struct {
	Name string `json:"name"`
	Kind string `json:"kind,omitempty"`
	Note string `json:"note,omitempty"`
}

// RotationSchedule is the rotation of a persistent identity's secret. Exactly one of Interval
// and Cron is set.
type RotationSchedule struct {
	Identity string        `json:"identity"`
	Interval time.Duration `json:"interval,omitempty"`
	// Cron is a 5-field cron expression, evaluated in UTC.
	Cron string `json:"cron,omitempty"`
	// Window is how long after the due time a rotation may still start before it is overdue.
	Window time.Duration `json:"window,omitempty"`
	// Overlap is how long the previous secret stays valid after a rotation.
	Overlap      time.Duration `json:"overlap,omitempty"`
	Consumers    []Consumer    `json:"consumers,omitempty"`
	Verify       bool          `json:"verify"`
	KeepVersions int64         `json:"keep_versions"`
	SecretLength int64         `json:"secret_length"`
	// ExpireUnrotated makes a secret stop authenticating at a hard limit (its due time plus the
	// window) instead of living on when a rotation does not happen.
	ExpireUnrotated bool `json:"expire_unrotated,omitempty"`

	// Strategy is how the rotated password of an identity on a target changes: empty, one login
	// whose password is replaced; StrategyAlternating, two logins taking turns (target.go).
	Strategy string `json:"strategy,omitempty"`
}

var cronParser = cron.NewParser(cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow)

// cronReference is where ParseCron looks for a first run: the parser searches five years ahead,
// which covers every leap day.
var cronReference = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)

// ParseCron parses a 5-field cron expression ("0 3 * * 1": 03:00 UTC every Monday).
func ParseCron(expr string) (cron.Schedule, error) {
	if strings.TrimSpace(expr) == "" {
		return nil, fmt.Errorf("cron expression is empty")
	}
	if strings.Contains(expr, "=") {
		return nil, fmt.Errorf("invalid cron expression %q: time zone prefixes are not supported (use 5 fields: minute hour day-of-month month day-of-week, in UTC)", expr)
	}
	s, err := cronParser.Parse(expr)
	if err != nil {
		return nil, fmt.Errorf("invalid cron expression %q: %v (use 5 fields: minute hour day-of-month month day-of-week, in UTC)", expr, err)
	}
	if s.Next(cronReference).IsZero() {
		return nil, fmt.Errorf("cron expression %q never fires (a day that does not exist in its month?)", expr)
	}
	return s, nil
}

// cronHorizon and cronMaxSteps bound LongestCronGap: four years covers every leap-year pattern;
// a schedule firing more often than maxSteps times in that span has gaps far below any ceiling
// a class would set, and its longest gap within the steps is reported.
const (
	cronHorizon  = 4 * 366 * Day
	cronMaxSteps = 20000
)

// LongestCronGap is the longest time between two consecutive runs of s over four years from
// from, so that a cron schedule can be compared with a class's max_rotation_interval.
func LongestCronGap(s cron.Schedule, from time.Time) time.Duration {
	from = from.UTC()
	prev := s.Next(from)
	if prev.IsZero() {
		return 0
	}
	var longest time.Duration
	for i := 0; i < cronMaxSteps && prev.Sub(from) < cronHorizon; i++ {
		next := s.Next(prev)
		if next.IsZero() {
			break
		}
		if gap := next.Sub(prev); gap > longest {
			longest = gap
		}
		prev = next
	}
	return longest
}

// Validate checks a rotation schedule before an engine stores it: exactly one of interval and
// cron, and a cron expression that parses.
func (s RotationSchedule) Validate() error {
	if s.Interval > 0 && s.Cron != "" {
		return fmt.Errorf("rotation schedule of %q sets both interval and cron; set exactly one", s.Identity)
	}
	_, err := s.NextRotation(cronReference)
	return err
}

// NextRotation is when a secret last rotated at last is due again under s.
func (s RotationSchedule) NextRotation(last time.Time) (time.Time, error) {
	if s.Cron != "" {
		sched, err := ParseCron(s.Cron)
		if err != nil {
			return time.Time{}, fmt.Errorf("rotation schedule of %q: %v", s.Identity, err)
		}
		return sched.Next(last.UTC()), nil
	}
	if s.Interval <= 0 {
		return time.Time{}, fmt.Errorf("rotation schedule of %q has neither interval nor cron", s.Identity)
	}
	return last.Add(s.Interval), nil
}

// Due reports whether a secret last rotated at last is due at now.
func (s RotationSchedule) Due(last, now time.Time) (bool, time.Time, error) {
	next, err := s.NextRotation(last)
	if err != nil {
		return false, time.Time{}, err
	}
	return !now.Before(next), next, nil
}

// Overdue is how long a rotation due at next is past its window at now; zero when it is not.
func (s RotationSchedule) Overdue(next, now time.Time) time.Duration {
	if late := now.Sub(next.Add(s.Window)); late > 0 {
		return late
	}
	return 0
}

// RotationInterval is the schedule's interval, or for a cron schedule its longest gap.
func (s RotationSchedule) RotationInterval(now time.Time) (time.Duration, error) {
	if s.Cron == "" {
		return s.Interval, nil
	}
	sched, err := ParseCron(s.Cron)
	if err != nil {
		return 0, err
	}
	return LongestCronGap(sched, now), nil
}

// CheckRotationSchedule checks a schedule on its own and, when class is not nil, against the
// class of its identity.
func CheckRotationSchedule(s RotationSchedule, class *Class, now time.Time) []Finding {
	var out []Finding
	add := highFindings(&out, subject(SubjectRotationSchedule, s.Identity))
	interval, err := s.RotationInterval(now)
	if err != nil {
		add(RuleInvalidCron, "cron", s.Cron, "a 5-field cron expression in UTC", "", err.Error())
		return out
	}
	attr := "interval"
	if s.Cron != "" {
		attr = "cron"
	}
	if s.Overlap > 0 && interval > 0 && s.Overlap >= interval {
		add(RuleOverlapNotBelowInterval, "overlap", "overlap "+FormatDuration(s.Overlap),
			"less than the rotation interval "+FormatDuration(interval), "NHI7",
			"shorten overlap so that two secrets are never valid for a whole interval")
	}
	if class == nil {
		return out
	}
	if class.Kind != KindPersistent {
		add(RuleRotationOnEphemeral, "identity", "class "+class.Name+" is "+string(class.Kind),
			"rotation schedules govern persistent identities", "", "ephemeral identities use dynamic credentials (nhi_credential) instead")
	}
	if class.MaxRotationInterval > 0 && interval > class.MaxRotationInterval {
		obs := "interval " + FormatDuration(interval)
		if s.Cron != "" {
			obs = "cron " + s.Cron + " leaves up to " + FormatDuration(interval) + " between rotations"
		}
		add(RuleRotationIntervalAboveMax, attr, obs, "class "+class.Name+" allows at most "+FormatDuration(class.MaxRotationInterval), "NHI7",
			"rotate more often")
	}
	if class.RequireConsumers && len(s.Consumers) == 0 {
		add(RuleConsumersMissing, "consumers", "no consumers", "class "+class.Name+" requires every consumer of the secret to be listed", "",
			"list every system that uses the secret in consumers, so a rotation misses none")
	}
	return out
}

// CheckRotationOverdue is the finding for a rotation that did not happen on time.
func CheckRotationOverdue(s RotationSchedule, last, now time.Time) []Finding {
	next, err := s.NextRotation(last)
	if err != nil {
		return nil
	}
	late := s.Overdue(next, now)
	if late == 0 {
		return nil
	}
	return []Finding{{Rule: RuleRotationOverdue, Severity: SeverityHigh, Subject: subject(SubjectRotationSchedule, s.Identity),
		Observed: "last rotated " + last.UTC().Format(time.RFC3339) + ", due " + next.UTC().Format(time.RFC3339) + ", overdue by " + FormatDuration(late.Truncate(time.Second)),
		Allowed:  "rotation within " + FormatDuration(s.Window) + " of its due time", OWASP: "NHI7",
		Remedy: "run terraform apply to rotate, and find out why the scheduled run did not"}}
}

// UnrotatedLimit is the hard limit of a version promoted at now under s: with expire_unrotated,
// its next due time plus the window (the secret stops authenticating when a rotation does not
// happen); zero without it.
func (s RotationSchedule) UnrotatedLimit(now time.Time) (time.Time, error) {
	if !s.ExpireUnrotated {
		return time.Time{}, nil
	}
	next, err := s.NextRotation(now)
	if err != nil {
		return time.Time{}, err
	}
	return next.Add(s.Window), nil
}

// VerifyStaged decides, after the staged secret of a rotation was tried (authenticating as
// authenticatedAs, or failing with authErr), whether the rotation promotes it (nil) or rolls it
// back (the reason). Without verify nothing was tried and the rotation promotes.
func (s RotationSchedule) VerifyStaged(authenticatedAs string, authErr error) error {
	switch {
	case !s.Verify:
		return nil
	case authErr != nil:
		return authErr
	case authenticatedAs != s.Identity:
		return fmt.Errorf("the new secret authenticated as %q", authenticatedAs)
	}
	return nil
}
