package provider

import (
	"context"
	"fmt"

	"github.com/hashicorp/terraform-plugin-framework/attr"
	"github.com/hashicorp/terraform-plugin-framework/attr/xattr"
	"github.com/hashicorp/terraform-plugin-framework/diag"
	"github.com/hashicorp/terraform-plugin-framework/types/basetypes"
	"github.com/hashicorp/terraform-plugin-go/tftypes"
)

// stringBacked is a custom value that Terraform holds as a string and the provider reads as
// something more (durationValue, timestampValue): it validates itself and knows when two
// spellings are the same value.
type stringBacked[V any] interface {
	basetypes.StringValuableWithSemanticEquals
	xattr.ValidateableAttribute
	// typeName names the value's type in the framework's messages, such as "durationType".
	typeName() string
	// withString is the value of this type that holds s.
	withString(s basetypes.StringValue) V
}

// stringBackedType is the attribute type of the stringBacked values V: a string type whose
// values are V. durationType and timestampType are its instances.
type stringBackedType[V stringBacked[V]] struct {
	basetypes.StringType
}

var (
	_ basetypes.StringTypable = durationType{}
	_ basetypes.StringTypable = timestampType{}
)

func (t stringBackedType[V]) String() string {
	var v V
	return v.typeName()
}

func (t stringBackedType[V]) ValueType(context.Context) attr.Value {
	var v V
	return v
}

func (t stringBackedType[V]) Equal(o attr.Type) bool {
	_, ok := o.(stringBackedType[V])
	return ok
}

func (t stringBackedType[V]) ValueFromString(_ context.Context, in basetypes.StringValue) (basetypes.StringValuable, diag.Diagnostics) {
	var v V
	return v.withString(in), nil
}

func (t stringBackedType[V]) ValueFromTerraform(ctx context.Context, in tftypes.Value) (attr.Value, error) {
	raw, err := t.StringType.ValueFromTerraform(ctx, in)
	if err != nil {
		return nil, err
	}
	s, ok := raw.(basetypes.StringValue)
	if !ok {
		return nil, fmt.Errorf("unexpected value type %T", raw)
	}
	var v V
	return v.withString(s), nil
}
