package provider

import (
	"context"

	"github.com/hashicorp/terraform-plugin-framework/schema/validator"

	"github.com/nhigov/terraform-provider-nhi/internal/policy"
)

var _ validator.String = nameValidator{}

// nameValidator checks object names with policy.CheckName: names end up in engine paths.
type nameValidator struct{}

func (nameValidator) Description(context.Context) string {
	return "1 to 128 letters, digits, '.', '_' or '-', starting with a letter or digit"
}

func (v nameValidator) MarkdownDescription(ctx context.Context) string { return v.Description(ctx) }

func (nameValidator) ValidateString(_ context.Context, req validator.StringRequest, resp *validator.StringResponse) {
	if req.ConfigValue.IsNull() || req.ConfigValue.IsUnknown() {
		return
	}
	if err := policy.CheckName(req.ConfigValue.ValueString()); err != nil {
		resp.Diagnostics.AddAttributeError(req.Path, "Invalid Name", err.Error())
	}
}

var _ validator.String = cronValidator{}

// cronValidator checks 5-field cron expressions with policy.ParseCron.
type cronValidator struct{}

func (cronValidator) Description(context.Context) string {
	return "a 5-field cron expression (minute hour day-of-month month day-of-week), in UTC"
}

func (v cronValidator) MarkdownDescription(ctx context.Context) string { return v.Description(ctx) }

func (cronValidator) ValidateString(_ context.Context, req validator.StringRequest, resp *validator.StringResponse) {
	if req.ConfigValue.IsNull() || req.ConfigValue.IsUnknown() {
		return
	}
	if _, err := policy.ParseCron(req.ConfigValue.ValueString()); err != nil {
		resp.Diagnostics.AddAttributeError(req.Path, "Invalid Cron Expression", err.Error())
	}
}

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

// Validators of scopes, scope glob patterns and CIDR blocks.
var (
	scopeValidator = stringCheck{desc: "1 to 128 lower-case letters, digits, '.', '_', ':' or '-', starting with a letter or digit",
		summary: "Invalid Scope", check: policy.CheckScope}
	scopePatternValidator = stringCheck{desc: "a scope in which '*' matches any run of characters and '?' any one character",
		summary: "Invalid Scope Pattern", check: policy.CheckScopePattern}
	cidrValidator = stringCheck{desc: "a CIDR block such as 10.0.0.0/8, host bits zero",
		summary: "Invalid CIDR Block", check: func(s string) error { _, err := policy.ParseCIDR(s); return err }}
)
