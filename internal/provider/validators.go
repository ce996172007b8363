package provider

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/hashicorp/terraform-plugin-framework/schema/validator"

	"github.com/nhigov/terraform-provider-nhi/internal/policy"
)

var _ validator.String = stringCheck{}

// stringCheck validates a string with a policy parser: the policy package owns the syntax.
// When namesPath is set, the error is the rest of a sentence that starts with the attribute's
// path.
type stringCheck struct {
	desc      string
	summary   string
	namesPath bool
	check     func(string) error
}

func (v stringCheck) Description(context.Context) string { return v.desc }

func (v stringCheck) MarkdownDescription(ctx context.Context) string { return v.Description(ctx) }

func (v stringCheck) ValidateString(_ context.Context, req validator.StringRequest, resp *validator.StringResponse) {
	if req.ConfigValue.IsNull() || req.ConfigValue.IsUnknown() {
		return
	}
	if err := v.check(req.ConfigValue.ValueString()); err != nil {
		detail := err.Error()
		if v.namesPath {
			detail = req.Path.String() + " " + detail + "."
		}
		resp.Diagnostics.AddAttributeError(req.Path, v.summary, detail)
	}
}

// Validators of names, cron expressions, scopes, scope glob patterns, CIDR blocks, durations
// above zero and values that must not be empty.
var (
	// nameValidator: names end up in engine paths.
	nameValidator = stringCheck{desc: "1 to 128 letters, digits, '.', '_' or '-', starting with a letter or digit",
		summary: "Invalid Name", check: policy.CheckName}
	cronValidator = stringCheck{desc: "a 5-field cron expression (minute hour day-of-month month day-of-week), in UTC",
		summary: "Invalid Cron Expression", check: func(s string) error { _, err := policy.ParseCron(s); return err }}
	scopeValidator = stringCheck{desc: "1 to 128 lower-case letters, digits, '.', '_', ':' or '-', starting with a letter or digit",
		summary: "Invalid Scope", check: policy.CheckScope}
	scopePatternValidator = stringCheck{desc: "a scope in which '*' matches any run of characters and '?' any one character",
		summary: "Invalid Scope Pattern", check: policy.CheckScopePattern}
	cidrValidator = stringCheck{desc: "a CIDR block such as 10.0.0.0/8, host bits zero",
		summary: "Invalid CIDR Block", check: func(s string) error { _, err := policy.ParseCIDR(s); return err }}

	// positiveDurationValidator requires a duration above zero: a zero TTL, lifetime or interval
	// would make credentials that are expired when issued, or a schedule that is never due.
	// Negative durations are refused by the duration type itself, so window and overlap are zero
	// or more without a validator.
	positiveDurationValidator = stringCheck{desc: "a duration above zero", summary: "Invalid Duration", namesPath: true,
		check: func(s string) error {
			if d, err := policy.ParseDuration(s); err == nil && d <= 0 { // a malformed value is the duration type's error
				return fmt.Errorf("is %q: it must be more than zero, such as \"15m\" or \"1d\"; leave it unset where unset means no limit", s)
			}
			return nil
		}}
	// nonEmptyValidator refuses the empty string (and one of spaces only) where a value names something.
	nonEmptyValidator = stringCheck{desc: "not empty", summary: "Empty Value", namesPath: true,
		check: func(s string) error {
			if strings.TrimSpace(s) == "" {
				return errors.New("is empty: give it a value, or leave it out")
			}
			return nil
		}}
)
