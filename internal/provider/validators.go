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
