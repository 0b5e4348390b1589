package kafkaconf

import (
	"os"
	"strings"
	"testing"
)

const (
	readmePath  = "../../README.md"
	tableBegin  = "<!-- properties:begin (generated from kafkaconf.Table by `FERRY_UPDATE_README=1 go test ./connector/kafkaconf`) -->"
	tableEnd    = "<!-- properties:end -->"
	roleBoth    = "both"
	escapedPipe = `\|`
)

// markdownTable renders Table() as the README's property table.
func markdownTable() string {
	var b strings.Builder
	b.WriteString("| key | applies to | default | maps to |\n|---|---|---|---|\n")
	for _, p := range Table() {
		role := p.Roles.String()
		if p.Roles == Consumer|Producer {
			role = roleBoth
		}
		b.WriteString("| `" + p.Name + "` | " + role + " | " + strings.ReplaceAll(p.Default, "|", escapedPipe) + " | " +
			strings.ReplaceAll(p.Option, "|", escapedPipe) + " |\n")
	}
	return b.String()
}

// TestREADMEListsEveryProperty keeps the README's property table equal to
// the table the code uses.
func TestREADMEListsEveryProperty(t *testing.T) {
	raw, err := os.ReadFile(readmePath)
	if err != nil {
		t.Fatal(err)
	}
	readme := string(raw)
	i, j := strings.Index(readme, tableBegin), strings.Index(readme, tableEnd)
	if i < 0 || j < i {
		t.Fatalf("README.md lacks the markers %q ... %q", tableBegin, tableEnd)
	}
	want := markdownTable()
	if got := readme[i+len(tableBegin)+1 : j]; got != want {
		if os.Getenv("FERRY_UPDATE_README") == "1" {
			readme = readme[:i+len(tableBegin)+1] + want + readme[j:]
			if err := os.WriteFile(readmePath, []byte(readme), 0o644); err != nil {
				t.Fatal(err)
			}
			return
		}
		t.Fatalf("README.md's property table is stale; run FERRY_UPDATE_README=1 go test ./connector/kafkaconf\nwant:\n%s", want)
	}
}
