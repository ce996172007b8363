package provider

import (
	"context"
	"time"

	"github.com/hashicorp/terraform-plugin-framework/attr"
	"github.com/hashicorp/terraform-plugin-framework/attr/xattr"
	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/types/basetypes"

	"github.com/nhigov/terraform-provider-nhi/internal/policy"
)

var _ stringBacked[durationValue] = durationValue{}

// durationType is a string attribute holding a duration such as "30d", "12h" or "1d12h".
// Values that denote the same length ("24h", "1d") are semantically equal, so rewriting one as
// the other is no diff.
type durationType = stringBackedType[durationValue]

// durationValue is a value of durationType.
type durationValue struct {
	basetypes.StringValue
}

func (v durationValue) Type(context.Context) attr.Type { return durationType{} }

func (v durationValue) typeName() string { return "durationType" }

func (v durationValue) withString(s basetypes.StringValue) durationValue {
	return durationValue{StringValue: s}
}

func (v durationValue) Equal(o attr.Value) bool {
	other, ok := o.(durationValue)
	return ok && v.StringValue.Equal(other.StringValue)
}

func (v durationValue) StringSemanticEquals(_ context.Context, nv basetypes.StringValuable) (bool, diag.Diagnostics) {
	other, ok := nv.(durationValue)
	if !ok {
		return false, nil
	}
	a, errA := policy.ParseDuration(v.ValueString())
	b, errB := policy.ParseDuration(other.ValueString())
	return errA == nil && errB == nil && a == b, nil
}

func (v durationValue) ValidateAttribute(_ context.Context, req xattr.ValidateAttributeRequest, resp *xattr.ValidateAttributeResponse) {
	if v.IsNull() || v.IsUnknown() {
		return
	}
	if _, err := policy.ParseDuration(v.ValueString()); err != nil {
		resp.Diagnostics.AddAttributeError(req.Path, "Invalid Duration", err.Error())
	}
}

// Duration returns the parsed duration; null and unknown values are zero.
func (v durationValue) Duration() time.Duration {
	d, _ := policy.ParseDuration(v.ValueString())
	return d
}

// newDuration is the value for d; zero is null, for optional attributes left unset.
func newDuration(d time.Duration) durationValue {
	if d == 0 {
		return durationValue{StringValue: basetypes.NewStringNull()}
	}
	return durationValue{StringValue: basetypes.NewStringValue(policy.FormatDuration(d))}
}

// keepDuration returns prior when it denotes d (keeping the user's spelling), else newDuration(d).
func keepDuration(prior durationValue, d time.Duration) durationValue {
	if !prior.IsNull() && !prior.IsUnknown() && prior.Duration() == d {
		if pd, err := policy.ParseDuration(prior.ValueString()); err == nil && pd == d {
			return prior
		}
	}
	return newDuration(d)
}
