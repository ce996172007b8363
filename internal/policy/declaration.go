package policy

import (
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"sort"
	"strings"
	"time"
)

// DeclarationDiff lists, one line each and by attribute, where have (a record as the engine
// holds it) differs from want (the same record type as a configuration declares it; a struct):
// `owner: "a" in the engine, "b" declared`. Every field of the record's JSON form is compared,
// so a field added to a record type is compared without a change here. An empty result means have is
// exactly what want declares; that is when a create may adopt it.
func DeclarationDiff(have, want any) []string {
	h, w := fields(have), fields(want)
	keys := make([]string, 0, len(h)+len(w))
	for k := range h {
		keys = append(keys, k)
	}
	for k := range w {
		if _, ok := h[k]; !ok {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	var out []string
	for _, k := range keys {
		hv, hok := h[k]
		wv, wok := w[k]
		if hok == wok && hv == wv {
			continue
		}
		out = append(out, fmt.Sprintf("%s: %s in the engine, %s declared", k, shownOr(hv, hok), shownOr(wv, wok)))
	}
	return out
}

// IdentityDiff is DeclarationDiff for identities: only declared attributes count (status and
// timestamps, last use included, are the engine's own), and scopes compare as a set.
func IdentityDiff(have, want Identity) []string {
	return DeclarationDiff(declared(have), declared(want))
}

func declared(id Identity) Identity {
	id.Status, id.CreatedAt, id.RetiredAt, id.EngineDrift = "", time.Time{}, time.Time{}, nil
	id.LastUsedAt = time.Time{}
	id.Scopes = slices.Sorted(slices.Values(id.Scopes))
	id.BoundCIDRs = slices.Sorted(slices.Values(id.BoundCIDRs))
	return id
}

// fields is struct v by JSON field name, each as the text a diff shows: its JSON value, or a
// duration as Terraform spells it. Zero and empty values are left out (unset); fields that JSON
// skips are not declared and not compared.
func fields(v any) map[string]string {
	rv := reflect.ValueOf(v)
	out := map[string]string{}
	for i := range rv.NumField() {
		f, fv := rv.Type().Field(i), rv.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "-" || !f.IsExported() || fv.IsZero() || (fv.Kind() == reflect.Slice && fv.Len() == 0) {
			continue
		}
		if name == "" {
			name = f.Name
		}
		if d, ok := fv.Interface().(time.Duration); ok {
			out[name] = FormatDuration(d)
			continue
		}
		raw, err := json.Marshal(fv.Interface())
		if err != nil {
			raw = []byte(fmt.Sprintf("%q", fmt.Sprint(fv.Interface())))
		}
		out[name] = string(raw)
	}
	return out
}

func shownOr(v string, ok bool) string {
	if !ok {
		return "unset"
	}
	return v
}
