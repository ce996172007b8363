package provider

import (
	"embed"
	"strings"
)

// The Markdown description of the provider and of each resource, data source, ephemeral
// resource, action and list resource (the opening of its documentation page) is prose kept as
// Markdown in descriptions/<file>.md, named after the Go file of the component it describes.
//
//go:embed descriptions/*.md
var descriptions embed.FS

// description returns descriptions/<name>.md without its final newline. A missing file is a bug
// that every schema request meets at once, so it panics.
func description(name string) string {
	b, err := descriptions.ReadFile("descriptions/" + name + ".md")
	if err != nil {
		panic(err)
	}
	return strings.TrimSuffix(string(b), "\n")
}
