package policy

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/robfig/cron/v3"
)

// monday0300 is a firing time of "0 3 * * 1", two days after testNow's week began.
var monday0300 = time.Date(2025, 2, 24, 3, 0, 0, 0, time.UTC)

func TestParseCron(t *testing.T) {
	tests := []struct {
		expr string
		ok   bool
	}{
		{"0 3 * * 1", true},
		{"*/5 * * * *", true},
		{"0 0 1 * *", true},
		{"0 3 1 */3 *", true},
		{"0-30/10 1,13 * * 1-5", true},
		{"0 3 * * SUN", true},
		{"0 3 * JAN *", true},
		{"0 3 ? * 1", true},   // "?" is read as "*"
		{" 0 3 * * 1 ", true}, // surrounding blanks are ignored
		{"0\t3 * * 1", true},  // any whitespace separates fields

		{"", false},
		{"   ", false},
		{"0 3 * *", false},          // 4 fields
		{"0 0 3 * * 1", false},      // 6 fields: seconds are not accepted
		{"0 0 3 * * 1 2025", false}, // 7 fields
		{"@daily", false},           // descriptors are not accepted
		{"@hourly", false},
		{"@every 1h", false},
		{"60 3 * * *", false},
		{"0 24 * * *", false},
		{"0 3 0 * *", false},
		{"0 3 32 * *", false},
		{"0 3 * 0 *", false},
		{"0 3 * 13 *", false},
		{"0 3 * * 7", false}, // day-of-week is 0-6
		{"H 3 * * *", false},
		{"L 3 * * *", false},
		{"0 3 * * MON#2", false},
		{"0 3 * * FOO", false},
		{"*/0 * * * *", false},
		{"TZ=Nope/Nowhere 0 3 * * 1", false},
	}
	for _, tt := range tests {
		t.Run(tt.expr, func(t *testing.T) {
			s, err := parseCronNoPanic(t, tt.expr)
			if tt.ok {
				if err != nil || s == nil {
					t.Fatalf("ParseCron(%q) = %v, %v; want a schedule", tt.expr, s, err)
				}
				return
			}
			if err == nil {
				t.Fatalf("ParseCron(%q) accepted it; want an error", tt.expr)
			}
			if s != nil {
				t.Errorf("ParseCron(%q) returned a schedule with its error", tt.expr)
			}
			if strings.TrimSpace(tt.expr) == "" {
				if !strings.Contains(err.Error(), "empty") {
					t.Errorf("ParseCron(%q) error %q: want it to say the expression is empty", tt.expr, err)
				}
			} else if !strings.Contains(err.Error(), tt.expr) || !strings.Contains(err.Error(), "5 fields") {
				t.Errorf("ParseCron(%q) error %q: want it to quote the expression and explain the 5 fields", tt.expr, err)
			}
		})
	}

	// A time zone prefix without a space after it must be an error, not a panic: ParseCron runs
	// in the provider's config validator.
	for _, expr := range []string{"TZ=", "CRON_TZ=", "TZ=UTC", "CRON_TZ=Europe/Paris"} {
		t.Run("bare time zone prefix "+expr, func(t *testing.T) {
			if _, err := parseCronNoPanic(t, expr); err == nil {
				t.Errorf("ParseCron(%q) accepted it; want an error", expr)
			}
		})
	}

	// The schedule is documented as 5 fields evaluated in UTC; a TZ= or CRON_TZ= prefix would
	// silently move every rotation (and LongestCronGap) to another zone.
	for _, expr := range []string{"TZ=America/New_York 0 3 * * 1", "CRON_TZ=Asia/Tokyo 0 3 * * 1"} {
		t.Run("time zone prefix "+expr, func(t *testing.T) {
			if s, err := ParseCron(expr); err == nil {
				t.Errorf("ParseCron(%q) accepted it (next run after %s: %s); want an error: cron is 5 fields in UTC",
					expr, testNow.Format(time.RFC3339), s.Next(testNow).UTC().Format(time.RFC3339))
			}
		})
	}
}

// parseCronNoPanic is ParseCron, failing the test instead of the whole run when it panics.
func parseCronNoPanic(t *testing.T, expr string) (s cron.Schedule, err error) {
	t.Helper()
	defer func() {
		if r := recover(); r != nil {
			t.Errorf("ParseCron(%q) panicked: %v", expr, r)
			s, err = nil, fmt.Errorf("panic: %v", r)
		}
	}()
	return ParseCron(expr)
}

func TestLongestCronGap(t *testing.T) {
	tests := []struct {
		expr string
		want time.Duration
	}{
		{"0 3 * * 1", 7 * Day},
		{"0 0 1 * *", 31 * Day},
		// Jan 1 → Apr 1 is 90d (91d in 2028), Apr 1 → Jul 1 91d, Jul 1 → Oct 1 and Oct 1 → Jan 1 92d.
		{"0 3 1 */3 *", 92 * Day},
		{"*/5 * * * *", 5 * time.Minute},
		{"* * * * *", time.Minute},
		{"0 0,12 * * *", 12 * time.Hour},
		{"30 2 * * *", Day},
		{"0 3 * * 1-5", 3 * Day}, // Friday 03:00 → Monday 03:00
		{"0 0 1 1 *", 366 * Day}, // 2028 is a leap year
		{"0 0 29 2 *", 1461 * Day},
		{"0 3 1 2 *", 366 * Day}, // Feb 1 2028 → Feb 1 2029 spans Feb 29
	}
	for _, tt := range tests {
		t.Run(tt.expr, func(t *testing.T) {
			s, err := parseCronNoPanic(t, tt.expr)
			if err != nil {
				t.Fatal(err)
			}
			if got := LongestCronGap(s, testNow); got != tt.want {
				t.Errorf("LongestCronGap(%q) = %s, want %s", tt.expr, FormatDuration(got), FormatDuration(tt.want))
			}
			// The zone of from does not matter: schedules run in UTC.
			if got := LongestCronGap(s, testNow.In(time.FixedZone("UTC+5", 5*3600))); got != tt.want {
				t.Errorf("LongestCronGap(%q) from a UTC+5 time = %s, want %s", tt.expr, FormatDuration(got), FormatDuration(tt.want))
			}
			r := RotationSchedule{Identity: "svc-api", Cron: tt.expr}
			if got, err := r.RotationInterval(testNow); err != nil || got != tt.want {
				t.Errorf("RotationInterval() = %s, %v; want %s", FormatDuration(got), err, FormatDuration(tt.want))
			}
		})
	}
}

func TestNextRotation(t *testing.T) {
	plus5 := time.FixedZone("UTC+5", 5*3600)
	tests := []struct {
		name    string
		s       RotationSchedule
		last    time.Time
		want    time.Time
		wantErr string
	}{
		{"interval", RotationSchedule{Identity: "svc-api", Interval: 7 * Day}, testNow, testNow.Add(7 * Day), ""},
		{"interval keeps sub-second precision", RotationSchedule{Identity: "svc-api", Interval: time.Hour}, testNow.Add(time.Nanosecond), testNow.Add(time.Hour + time.Nanosecond), ""},
		{"cron from a firing time is the next one", RotationSchedule{Identity: "svc-api", Cron: "0 3 * * 1"}, monday0300, monday0300.Add(7 * Day), ""},
		{"cron just before a firing time", RotationSchedule{Identity: "svc-api", Cron: "0 3 * * 1"}, monday0300.Add(-time.Nanosecond), monday0300, ""},
		{"cron between firing times", RotationSchedule{Identity: "svc-api", Cron: "0 3 * * 1"}, testNow, time.Date(2025, 3, 3, 3, 0, 0, 0, time.UTC), ""},
		// 2025-03-03 07:00 at UTC+5 is 02:00 UTC: the 03:00 UTC run of that Monday is next.
		{"cron is evaluated in UTC", RotationSchedule{Identity: "svc-api", Cron: "0 3 * * 1"}, time.Date(2025, 3, 3, 7, 0, 0, 0, plus5), time.Date(2025, 3, 3, 3, 0, 0, 0, time.UTC), ""},
		{"cron wins over interval", RotationSchedule{Identity: "svc-api", Interval: time.Hour, Cron: "0 3 * * 1"}, testNow, time.Date(2025, 3, 3, 3, 0, 0, 0, time.UTC), ""},
		{"neither interval nor cron", RotationSchedule{Identity: "svc-api"}, testNow, time.Time{}, `"svc-api" has neither interval nor cron`},
		{"negative interval", RotationSchedule{Identity: "svc-api", Interval: -time.Hour}, testNow, time.Time{}, "neither interval nor cron"},
		{"invalid cron", RotationSchedule{Identity: "svc-api", Cron: "0 3 * *"}, testNow, time.Time{}, "invalid cron expression"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.s.NextRotation(tt.last)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("NextRotation() error = %v, want one containing %q", err, tt.wantErr)
				}
				if !got.IsZero() {
					t.Errorf("NextRotation() = %v with its error, want the zero time", got)
				}
				return
			}
			if err != nil || !got.Equal(tt.want) {
				t.Errorf("NextRotation(%s) = %s, %v; want %s", tt.last.Format(time.RFC3339Nano), got.Format(time.RFC3339Nano), err, tt.want.Format(time.RFC3339Nano))
			}
		})
	}
}

// A cron expression whose day never occurs ("30 February") is accepted by the parser; the
// schedule must not then pass as one that rotates, nor report a due time before the last rotation.
func TestCronThatNeverFires(t *testing.T) {
	class := &Class{Name: "svc", Kind: KindPersistent, MaxRotationInterval: 30 * Day}
	for _, expr := range []string{"0 0 30 2 *", "0 0 31 4 *"} {
		t.Run(expr, func(t *testing.T) {
			s := RotationSchedule{Identity: "svc-api", Cron: expr, Window: time.Hour}
			next, err := s.NextRotation(testNow)
			if err == nil && !next.After(testNow) {
				t.Errorf("NextRotation(%s) = %s, nil: want an error or a time after the last rotation",
					testNow.Format(time.RFC3339), next.Format(time.RFC3339))
			}
			if fs := CheckRotationSchedule(s, class, testNow); len(fs) == 0 {
				t.Errorf("CheckRotationSchedule(cron %q) with a class allowing at most 30d found nothing: the secret is never rotated", expr)
			}
		})
	}
}

func TestDue(t *testing.T) {
	weekly := RotationSchedule{Identity: "svc-api", Cron: "0 3 * * 1"}
	interval := RotationSchedule{Identity: "svc-api", Interval: 7 * Day, Window: time.Hour}
	dueAt := monday0300.Add(7 * Day)
	tests := []struct {
		name     string
		s        RotationSchedule
		last     time.Time
		now      time.Time
		wantDue  bool
		wantNext time.Time
	}{
		{"interval not yet due", interval, testNow, testNow.Add(7*Day - time.Nanosecond), false, testNow.Add(7 * Day)},
		{"interval exactly due", interval, testNow, testNow.Add(7 * Day), true, testNow.Add(7 * Day)},
		{"interval past due", interval, testNow, testNow.Add(30 * Day), true, testNow.Add(7 * Day)},
		{"cron not yet due", weekly, monday0300, dueAt.Add(-time.Nanosecond), false, dueAt},
		{"cron exactly due", weekly, monday0300, dueAt, true, dueAt},
		{"cron past due", weekly, monday0300, dueAt.Add(Day), true, dueAt},
		{"just rotated", weekly, monday0300, monday0300, false, dueAt},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			due, next, err := tt.s.Due(tt.last, tt.now)
			if err != nil || due != tt.wantDue || !next.Equal(tt.wantNext) {
				t.Errorf("Due() = %v, %s, %v; want %v, %s", due, next.Format(time.RFC3339Nano), err, tt.wantDue, tt.wantNext.Format(time.RFC3339Nano))
			}
		})
	}

	t.Run("invalid schedule", func(t *testing.T) {
		due, next, err := RotationSchedule{Identity: "svc-api", Cron: "@daily"}.Due(testNow, testNow.Add(Day))
		if err == nil || due || !next.IsZero() {
			t.Errorf("Due() with an invalid cron = %v, %v, %v; want false, zero time, an error", due, next, err)
		}
	})
}

func TestOverdue(t *testing.T) {
	next := testNow
	tests := []struct {
		name   string
		window time.Duration
		now    time.Time
		want   time.Duration
	}{
		{"before due", time.Hour, next.Add(-time.Hour), 0},
		{"exactly due", time.Hour, next, 0},
		{"inside the window", time.Hour, next.Add(59 * time.Minute), 0},
		{"exactly at due plus window", time.Hour, next.Add(time.Hour), 0},
		{"just past the window", time.Hour, next.Add(time.Hour + time.Nanosecond), time.Nanosecond},
		{"hours past the window", time.Hour, next.Add(3*time.Hour + 30*time.Minute), 2*time.Hour + 30*time.Minute},
		{"no window, exactly due", 0, next, 0},
		{"no window, just past due", 0, next.Add(time.Second), time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := RotationSchedule{Identity: "svc-api", Interval: Day, Window: tt.window}
			if got := s.Overdue(next, tt.now); got != tt.want {
				t.Errorf("Overdue(next, next%+v) with window %s = %v, want %v", tt.now.Sub(next), FormatDuration(tt.window), got, tt.want)
			}
		})
	}
}

func TestCheckRotationSchedule(t *testing.T) {
	class := Class{Name: "svc", Kind: KindPersistent, MaxRotationInterval: 30 * Day, RequireConsumers: true}
	clean := RotationSchedule{Identity: "svc-api", Interval: 7 * Day, Window: time.Hour, Overlap: time.Hour,
		Consumers: []Consumer{{Name: "api-gateway", Kind: "service"}}, Verify: true, KeepVersions: 3, SecretLength: 32}
	weekly := func(s *RotationSchedule, _ *Class) { s.Interval = 0; s.Cron = "0 3 * * 1" }

	tests := []struct {
		name    string
		mutate  func(*RotationSchedule, *Class)
		noClass bool
		want    []string
	}{
		{"clean interval", func(*RotationSchedule, *Class) {}, false, nil},
		{"clean cron", weekly, false, nil},
		{"clean without class", func(*RotationSchedule, *Class) {}, true, nil},
		{"interval at class max", func(s *RotationSchedule, _ *Class) { s.Interval = 30 * Day }, false, nil},
		{"no overlap", func(s *RotationSchedule, _ *Class) { s.Overlap = 0 }, false, nil},
		{"class without rotation ceiling", func(s *RotationSchedule, c *Class) { c.MaxRotationInterval = 0; s.Interval = 1000 * Day }, false, nil},
		{"consumers not required", func(s *RotationSchedule, c *Class) { c.RequireConsumers = false; s.Consumers = nil }, false, nil},
		{"cron gap at class max", func(s *RotationSchedule, c *Class) { weekly(s, c); c.MaxRotationInterval = 7 * Day }, false, nil},

		{"interval above class max", func(s *RotationSchedule, _ *Class) { s.Interval = 30*Day + time.Second }, false,
			[]string{at(RuleRotationIntervalAboveMax, "interval")}},
		{"cron gap above class max", func(s *RotationSchedule, c *Class) {
			s.Interval = 0
			s.Cron = "0 0 1 * *"
			c.MaxRotationInterval = 30 * Day
		}, false,
			[]string{at(RuleRotationIntervalAboveMax, "cron")}},
		{"invalid cron", func(s *RotationSchedule, _ *Class) { s.Interval = 0; s.Cron = "0 0 3 * * 1" }, false,
			[]string{at(RuleInvalidCron, "cron")}},
		{"invalid cron without class", func(s *RotationSchedule, _ *Class) { s.Interval = 0; s.Cron = "@daily" }, true,
			[]string{at(RuleInvalidCron, "cron")}},
		{"invalid cron hides every other rule", func(s *RotationSchedule, c *Class) {
			s.Interval = 0
			s.Cron = "0 3 * *"
			s.Consumers = nil
			c.Kind = KindEphemeral
		}, false, []string{at(RuleInvalidCron, "cron")}},
		{"overlap equal to interval", func(s *RotationSchedule, _ *Class) { s.Overlap = s.Interval }, true,
			[]string{at(RuleOverlapNotBelowInterval, "overlap")}},
		{"overlap above interval", func(s *RotationSchedule, _ *Class) { s.Overlap = 8 * Day }, false,
			[]string{at(RuleOverlapNotBelowInterval, "overlap")}},
		{"overlap just below interval", func(s *RotationSchedule, _ *Class) { s.Overlap = s.Interval - time.Nanosecond }, false, nil},
		{"overlap equal to the longest cron gap", func(s *RotationSchedule, c *Class) { weekly(s, c); s.Overlap = 7 * Day }, false,
			[]string{at(RuleOverlapNotBelowInterval, "overlap")}},
		{"schedule on an ephemeral class", func(_ *RotationSchedule, c *Class) { c.Kind = KindEphemeral }, false,
			[]string{at(RuleRotationOnEphemeral, "identity")}},
		{"consumers missing", func(s *RotationSchedule, _ *Class) { s.Consumers = nil }, false,
			[]string{at(RuleConsumersMissing, "consumers")}},
		{"consumers empty", func(s *RotationSchedule, _ *Class) { s.Consumers = []Consumer{} }, false,
			[]string{at(RuleConsumersMissing, "consumers")}},
		{"everything wrong", func(s *RotationSchedule, c *Class) {
			c.Kind = KindEphemeral
			s.Interval = 60 * Day
			s.Overlap = 60 * Day
			s.Consumers = nil
		}, false, []string{at(RuleOverlapNotBelowInterval, "overlap"), at(RuleRotationOnEphemeral, "identity"),
			at(RuleRotationIntervalAboveMax, "interval"), at(RuleConsumersMissing, "consumers")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, c := clean, class
			tt.mutate(&s, &c)
			cp := &c
			if tt.noClass {
				cp = nil
			}
			fs := CheckRotationSchedule(s, cp, testNow)
			assertFindings(t, fs, "rotation_schedule/svc-api", tt.want...)
			for _, f := range fs {
				if f.Severity != SeverityHigh {
					t.Errorf("%s: severity %q, want high", f.Rule, f.Severity)
				}
			}
		})
	}

	t.Run("observed and allowed", func(t *testing.T) {
		checks := []struct {
			name                           string
			s                              RotationSchedule
			rule, owasp, observed, allowed string
		}{
			{"interval", RotationSchedule{Identity: "svc-api", Interval: 45 * Day, Consumers: clean.Consumers},
				RuleRotationIntervalAboveMax, "NHI7", "interval 45d", "class svc allows at most 30d"},
			{"cron", RotationSchedule{Identity: "svc-api", Cron: "0 3 1 */3 *", Consumers: clean.Consumers},
				RuleRotationIntervalAboveMax, "NHI7", "cron 0 3 1 */3 * leaves up to 92d", "class svc allows at most 30d"},
			{"overlap", RotationSchedule{Identity: "svc-api", Interval: 7 * Day, Overlap: 8 * Day, Consumers: clean.Consumers},
				RuleOverlapNotBelowInterval, "NHI7", "overlap 8d", "less than the rotation interval 7d"},
			{"invalid cron", RotationSchedule{Identity: "svc-api", Cron: "61 * * * *"},
				RuleInvalidCron, "", "61 * * * *", "5-field"},
			{"consumers", RotationSchedule{Identity: "svc-api", Interval: Day},
				RuleConsumersMissing, "", "no consumers", "class svc"},
		}
		for _, c := range checks {
			f := findRule(t, CheckRotationSchedule(c.s, &class, testNow), c.rule)
			if f.OWASP != c.owasp || !strings.Contains(f.Observed, c.observed) || !strings.Contains(f.Allowed, c.allowed) {
				t.Errorf("%s: owasp %q, observed %q, allowed %q; want owasp %q, observed containing %q, allowed containing %q",
					c.name, f.OWASP, f.Observed, f.Allowed, c.owasp, c.observed, c.allowed)
			}
		}
	})
}

func TestCheckRotationOverdue(t *testing.T) {
	interval := RotationSchedule{Identity: "svc-api", Interval: 7 * Day, Window: time.Hour}
	weekly := RotationSchedule{Identity: "svc-api", Cron: "0 3 * * 1", Window: 2 * time.Hour}
	last := testNow.Add(-30 * Day)
	due := last.Add(7 * Day)
	tests := []struct {
		name string
		s    RotationSchedule
		last time.Time
		now  time.Time
		// overdueBy is how the finding words the delay; empty when there is no finding.
		overdueBy string
		due       time.Time
	}{
		{"not due", interval, last, due.Add(-time.Second), "", due},
		{"exactly due", interval, last, due, "", due},
		{"inside the window", interval, last, due.Add(time.Hour - time.Nanosecond), "", due},
		{"exactly at due plus window", interval, last, due.Add(time.Hour), "", due},
		{"a minute past the window", interval, last, due.Add(time.Hour + time.Minute), "1m", due},
		{"past the window, seconds truncated", interval, last, due.Add(3*time.Hour + 30*time.Minute + 59*time.Second), "2h30m", due},
		{"days past the window", interval, last, due.Add(Day + 2*time.Hour), "1d1h", due},
		{"cron inside the window", weekly, monday0300, monday0300.Add(7*Day + 2*time.Hour), "", monday0300.Add(7 * Day)},
		{"cron past the window", weekly, monday0300, monday0300.Add(8*Day + 4*time.Hour), "1d2h", monday0300.Add(7 * Day)},
		// A rotation reported overdue must not be described as overdue by nothing.
		{"under a minute past the window", interval, last, due.Add(time.Hour + 30*time.Second), "30s", due},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fs := CheckRotationOverdue(tt.s, tt.last, tt.now)
			if tt.overdueBy == "" {
				assertFindings(t, fs, "rotation_schedule/svc-api")
				return
			}
			assertFindings(t, fs, "rotation_schedule/svc-api", at(RuleRotationOverdue, ""))
			if len(fs) != 1 {
				return
			}
			f := fs[0]
			if f.Severity != SeverityHigh || f.OWASP != "NHI7" {
				t.Errorf("severity %q, owasp %q; want high, NHI7", f.Severity, f.OWASP)
			}
			for _, want := range []string{
				"last rotated " + tt.last.UTC().Format(time.RFC3339),
				"due " + tt.due.UTC().Format(time.RFC3339),
				"overdue by " + tt.overdueBy,
			} {
				if !strings.Contains(f.Observed, want) {
					t.Errorf("observed %q: want it to contain %q", f.Observed, want)
				}
			}
			if !strings.Contains(f.Allowed, FormatDuration(tt.s.Window)) {
				t.Errorf("allowed %q: want it to name the window %s", f.Allowed, FormatDuration(tt.s.Window))
			}
		})
	}

	t.Run("invalid schedule gives no finding", func(t *testing.T) {
		for _, s := range []RotationSchedule{{Identity: "svc-api"}, {Identity: "svc-api", Cron: "0 3 * *"}} {
			if fs := CheckRotationOverdue(s, last, testNow); fs != nil {
				t.Errorf("CheckRotationOverdue(%+v) = %v, want nil", s, fs)
			}
		}
	})
}

func TestUnrotatedLimit(t *testing.T) {
	now := testNow
	tests := []struct {
		name    string
		s       RotationSchedule
		want    time.Time
		wantErr bool
	}{
		{"off", RotationSchedule{Interval: Day, Window: time.Hour}, time.Time{}, false},
		{"interval plus window", RotationSchedule{Interval: Day, Window: time.Hour, ExpireUnrotated: true}, now.Add(Day + time.Hour), false},
		{"cron plus window", RotationSchedule{Cron: "0 3 * * *", Window: 2 * time.Hour, ExpireUnrotated: true},
			time.Date(2025, 3, 2, 5, 0, 0, 0, time.UTC), false},
		{"no schedule", RotationSchedule{ExpireUnrotated: true}, time.Time{}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.s.UnrotatedLimit(now)
			if (err != nil) != tt.wantErr || !got.Equal(tt.want) {
				t.Fatalf("UnrotatedLimit = %s, %v; want %s (error %v)", got, err, tt.want, tt.wantErr)
			}
		})
	}
}

func TestVerifyStaged(t *testing.T) {
	refused := errors.New("denied")
	tests := []struct {
		name    string
		verify  bool
		who     string
		authErr error
		want    string
	}{
		{"no verification promotes", false, "", refused, ""},
		{"authenticated as the identity promotes", true, "svc-api", nil, ""},
		{"refused rolls back", true, "", refused, "denied"},
		{"another identity rolls back", true, "svc-other", nil, `authenticated as "svc-other"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := RotationSchedule{Identity: "svc-api", Verify: tt.verify}.VerifyStaged(tt.who, tt.authErr)
			if (tt.want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tt.want)) {
				t.Fatalf("VerifyStaged = %v, want %q", err, tt.want)
			}
		})
	}
}

func TestRotationScheduleValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		s    RotationSchedule
		want string // empty: valid
	}{
		{"interval", RotationSchedule{Identity: "svc", Interval: Day}, ""},
		{"cron", RotationSchedule{Identity: "svc", Cron: "0 3 * * 1"}, ""},
		{"both", RotationSchedule{Identity: "svc", Interval: Day, Cron: "0 3 * * 1"}, `rotation schedule of "svc" sets both interval and cron; set exactly one`},
		{"neither", RotationSchedule{Identity: "svc"}, `rotation schedule of "svc" has neither interval nor cron`},
		{"bad cron", RotationSchedule{Identity: "svc", Cron: "daily"}, `rotation schedule of "svc": invalid cron expression "daily"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.s.Validate()
			if tc.want == "" {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				return
			}
			if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
				t.Fatalf("Validate() = %v, want %q", err, tc.want)
			}
		})
	}
}
