package provider

import (
	"context"
	"fmt"
	"strings"

	"github.com/hashicorp/terraform-plugin-framework/schema/validator"

	"github.com/nhigov/terraform-provider-nhi/internal/policy"
)

var _ validator.String = stringCheck{}

// stringCheck validates a string with a policy parser: the policy package owns the syntax.
type stringCheck struct {
	desc    string
	summary string
	check   func(string) error
}

func (v stringCheck) Description(context.Context) string { return v.desc }

func (v stringCheck) MarkdownDescription(ctx context.Context) string { return v.Description(ctx) }

func (v stringCheck) ValidateString(_ context.Context, req validator.StringRequest, resp *validator.StringResponse) {
	if req.ConfigValue.IsNull() || req.ConfigValue.IsUnknown() {
		return
	}
	if err := v.check(req.ConfigValue.ValueString()); err != nil {
		resp.Diagnostics.AddAttributeError(req.Path, v.summary, err.Error())
	}
}

// Validators of names, cron expressions, scopes, scope glob patterns and CIDR blocks.
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
)

var _ validator.String = positiveDuration{}

// positiveDuration requires a duration attribute above zero: a zero TTL, lifetime or interval
// would make credentials that are expired when issued, or a schedule that is never due.
// Negative durations are refused by the duration type itself, so window and overlap are zero
// or more without a validator.
type positiveDuration struct{}

func (positiveDuration) Description(context.Context) string { return "a duration above zero" }

func (v positiveDuration) MarkdownDescription(ctx context.Context) string { return v.Description(ctx) }

func (positiveDuration) ValidateString(_ context.Context, req validator.StringRequest, resp *validator.StringResponse) {
	if req.ConfigValue.IsNull() || req.ConfigValue.IsUnknown() {
		return
	}
	d, err := policy.ParseDuration(req.ConfigValue.ValueString())
	if err == nil && d <= 0 { // a malformed value is the duration type's error
		resp.Diagnostics.AddAttributeError(req.Path, "Invalid Duration",
			fmt.Sprintf("%s is %q: it must be more than zero, such as \"15m\" or \"1d\"; leave it unset where unset means no limit.", req.Path, req.ConfigValue.ValueString()))
	}
}

var _ validator.String = nonEmpty{}

// nonEmpty refuses the empty string (and one of spaces only) where a value names something.
type nonEmpty struct{}

func (nonEmpty) Description(context.Context) string { return "not empty" }

func (v nonEmpty) MarkdownDescription(ctx context.Context) string { return v.Description(ctx) }

func (nonEmpty) ValidateString(_ context.Context, req validator.StringRequest, resp *validator.StringResponse) {
	if req.ConfigValue.IsNull() || req.ConfigValue.IsUnknown() {
		return
	}
	if strings.TrimSpace(req.ConfigValue.ValueString()) == "" {
		resp.Diagnostics.AddAttributeError(req.Path, "Empty Value",
			fmt.Sprintf("%s is empty: give it a value, or leave it out.", req.Path))
	}
}
