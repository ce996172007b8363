package provider

import (
	"context"
	"fmt"
	"time"

	"github.com/hashicorp/terraform-plugin-framework/attr"
	"github.com/hashicorp/terraform-plugin-framework/attr/xattr"
	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/types/basetypes"
	"github.com/hashicorp/terraform-plugin-go/tftypes"

	"github.com/nhigov/terraform-provider-nhi/internal/policy"
)

var (
	_ basetypes.StringTypable                    = durationType{}
	_ basetypes.StringValuableWithSemanticEquals = durationValue{}
	_ xattr.ValidateableAttribute                = durationValue{}
)

// durationType is a string attribute holding a duration such as "30d", "12h" or "1d12h".
// Values that denote the same length ("24h", "1d") are semantically equal, so rewriting one as
// the other is no diff.
type durationType struct {
	basetypes.StringType
}

func (t durationType) String() string { return "durationType" }

func (t durationType) ValueType(context.Context) attr.Value { return durationValue{} }

func (t durationType) Equal(o attr.Type) bool {
	other, ok := o.(durationType)
	return ok && t.StringType.Equal(other.StringType)
}

func (t durationType) ValueFromString(_ context.Context, in basetypes.StringValue) (basetypes.StringValuable, diag.Diagnostics) {
	return durationValue{StringValue: in}, nil
}

func (t durationType) ValueFromTerraform(ctx context.Context, in tftypes.Value) (attr.Value, error) {
	v, err := t.StringType.ValueFromTerraform(ctx, in)
	if err != nil {
		return nil, err
	}
	s, ok := v.(basetypes.StringValue)
	if !ok {
		return nil, fmt.Errorf("unexpected value type %T", v)
	}
	return durationValue{StringValue: s}, nil
}

// durationValue is a value of durationType.
type durationValue struct {
	basetypes.StringValue
}

func (v durationValue) Type(context.Context) attr.Type { return durationType{} }

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
