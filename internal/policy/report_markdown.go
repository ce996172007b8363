package policy

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
)

// markdownTop is how many identities the Markdown report lists under each "top identities"
// heading.
const markdownTop = 10

// MarkdownReport renders a drift report of fleet for people: a summary that reads in ten
// seconds (findings by severity and by rule, trust debt and blast radius, and the identities
// that carry most of each), then every finding with its subject, what was observed and
// allowed, the OWASP reference and the remedy. The output depends only on its inputs and its
// order is fixed (severity, then subject, rule and object), so two reports of the same fleet
// are identical and two reports of a changing fleet diff line by line.
func MarkdownReport(r Report, fleet Fleet) string {
	var b strings.Builder
	b.WriteString("## NHI drift report\n\n")

	bySeverity := map[Severity]int{}
	byRule := map[string]int{}
	ruleFinding := map[string]Finding{}
	for _, f := range r.Findings {
		bySeverity[f.Severity]++
		byRule[f.Rule]++
		if prev, ok := ruleFinding[f.Rule]; !ok || f.Severity.Rank() > prev.Severity.Rank() {
			ruleFinding[f.Rule] = f
		}
	}
	sevCounts := make([]string, 0, len(Severities))
	for i := len(Severities) - 1; i >= 0; i-- {
		sevCounts = append(sevCounts, fmt.Sprintf("%d %s", bySeverity[Severities[i]], Severities[i]))
	}
	debt := make(map[string]float64, len(r.TrustDebt))
	for name, d := range r.TrustDebt {
		if d > 0 {
			debt[name] = d.Hours()
		}
	}
	// Blast radius per identity that reaches anything; an unbounded one ranks above every number.
	blast := make(map[string]float64, len(r.Blast))
	for name, bl := range r.Blast {
		switch v, bounded := bl.Radius(); {
		case !bounded:
			blast[name] = math.Inf(1)
		case v > 0:
			blast[name] = v
		}
	}
	total, unbounded := r.TotalBlastRadius()
	fmt.Fprintf(&b, "**%d %s** (%s). Trust debt: **%s h** over %d %s. Blast radius: **%s scope-hours**, %d %s unbounded. Generated %s.\n\n",
		len(r.Findings), plural(len(r.Findings), "finding", "findings"), strings.Join(sevCounts, ", "),
		hours(r.TotalTrustDebt()), len(debt), plural(len(debt), "identity", "identities"),
		oneDecimal(total), unbounded, plural(unbounded, "identity", "identities"), fleet.Now.UTC().Format(time.RFC3339))

	if len(byRule) > 0 {
		rules := make([]string, 0, len(byRule))
		for rule := range byRule {
			rules = append(rules, rule)
		}
		// Worst rules first; by name within a severity, so the order does not move with the counts.
		slices.SortFunc(rules, func(a, b string) int {
			return cmp.Or(ruleFinding[b].Severity.Rank()-ruleFinding[a].Severity.Rank(), strings.Compare(a, b))
		})
		b.WriteString("| Rule | Severity | OWASP | Findings |\n|---|---|---|--:|\n")
		for _, rule := range rules {
			f := ruleFinding[rule]
			fmt.Fprintf(&b, "| %s (`%s`) | %s | %s | %d |\n", mdText(f.Title()), rule, f.Severity, mdText(orDash(f.OWASP)), byRule[rule])
		}
		b.WriteString("\n")
	}

	classOf := fleet.classIndex()
	writeTopIdentities(&b, classOf, "Top identities by trust debt", "Trust debt (h)", debt)
	writeTopIdentities(&b, classOf, "Top identities by blast radius", "Blast radius (scope-hours)", blast)

	if len(r.Findings) == 0 {
		b.WriteString("No findings.\n")
		return b.String()
	}
	findings := slices.Clone(r.Findings)
	slices.SortStableFunc(findings, func(a, b Finding) int {
		return cmp.Or(b.Severity.Rank()-a.Severity.Rank(), strings.Compare(a.Subject, b.Subject), strings.Compare(a.Rule, b.Rule),
			strings.Compare(a.Attribute, b.Attribute), strings.Compare(a.Object, b.Object), strings.Compare(a.Observed, b.Observed))
	})
	b.WriteString("### Findings\n\n")
	for _, f := range findings {
		who := "`" + mdCode(f.Subject) + "`"
		if class := classOf(f.Subject); class != "" {
			who += " (class `" + mdCode(class) + "`)"
		}
		owasp := ""
		if f.OWASP != "" {
			owasp = ", OWASP " + mdText(f.OWASP)
		}
		fmt.Fprintf(&b, "- **%s** %s: %s (`%s`%s)\n", f.Severity, who, mdText(f.Title()), f.Rule, owasp)
		if f.Attribute != "" {
			fmt.Fprintf(&b, "  - Attribute: `%s`\n", mdCode(f.Attribute))
		}
		fmt.Fprintf(&b, "  - Observed: %s\n  - Allowed: %s\n  - Remedy: %s\n", mdText(f.Observed), mdText(f.Allowed), mdText(orDash(f.Remedy)))
	}
	return b.String()
}

// writeTopIdentities writes a table of the identities with the largest values, largest first
// (by name among equals), at most markdownTop of them; nothing when no identity has a value. An
// infinite value reads "unbounded".
func writeTopIdentities(b *strings.Builder, classOf func(string) string, heading, column string, values map[string]float64) {
	if len(values) == 0 {
		return
	}
	names := make([]string, 0, len(values))
	for name := range values {
		names = append(names, name)
	}
	slices.SortFunc(names, func(a, b string) int { return cmp.Or(cmp.Compare(values[b], values[a]), strings.Compare(a, b)) })
	fmt.Fprintf(b, "### %s\n\n| Identity | Class | %s |\n|---|---|--:|\n", heading, column)
	for i, name := range names {
		if i == markdownTop {
			fmt.Fprintf(b, "\n%d more not shown.\n", len(names)-markdownTop)
			break
		}
		fmt.Fprintf(b, "| `%s` | %s | %s |\n", mdCode(name), mdText(orDash(classOf(subject(SubjectIdentity, name)))),
			oneDecimal(values[name]))
	}
	b.WriteString("\n")
}

// classIndex returns the lookup of the class a finding's subject belongs to: an identity's (or
// its rotation schedule's) class, a TTL policy's class, or the class itself; empty when the
// fleet does not know the subject (an unmanaged identity).
func (f Fleet) classIndex() func(subject string) string {
	identities := make(map[string]string, len(f.Identities))
	for _, id := range f.Identities {
		identities[id.Name] = id.Class
	}
	policies := make(map[string]string, len(f.Policies))
	for _, p := range f.Policies {
		policies[p.Name] = p.Class
	}
	return func(sub string) string {
		kind, name, _ := strings.Cut(sub, "/")
		switch kind {
		case SubjectClass:
			return name
		case SubjectTTLPolicy:
			return policies[name]
		case SubjectIdentity, SubjectRotationSchedule:
			return identities[name]
		}
		return ""
	}
}

// hours formats a duration in hours with one decimal.
func hours(d time.Duration) string { return oneDecimal(d.Hours()) }

// oneDecimal formats a figure with one decimal; +Inf is "unbounded".
func oneDecimal(v float64) string {
	if math.IsInf(v, 1) {
		return "unbounded"
	}
	return strconv.FormatFloat(v, 'f', 1, 64)
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// mdText makes engine-supplied text inert in Markdown: one line, with the characters that
// would start emphasis, links, code, HTML or a table cell escaped.
func mdText(s string) string {
	var b strings.Builder
	for _, r := range oneLine(s) {
		if strings.ContainsRune("\\`*_[]<>|#&!~", r) {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}

// mdCode makes text safe inside a code span of one backtick: one line, backticks replaced,
// pipes escaped for table cells.
func mdCode(s string) string {
	return strings.NewReplacer("`", "'", "|", "\\|").Replace(oneLine(s))
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }
