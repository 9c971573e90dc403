package main

import "testing"

func TestTemplateSubstitutesTheSequence(t *testing.T) {
	tpl, err := ParseTemplate(`{"id":"p{{seq}}","card":"c{{ seq%100 }}","ts":{{seq+1700000000000}}}`)
	if err != nil {
		t.Fatal(err)
	}
	got := string(tpl.Append([]byte("x"), 1234))
	want := `x{"id":"p1234","card":"c34","ts":1700000001234}`
	if got != want {
		t.Fatalf("got %s, want %s", got, want)
	}
	if string(tpl.Append(nil, 1)) == string(tpl.Append(nil, 2)) {
		t.Fatal("two sequence numbers render the same event")
	}
}

func TestTemplateRefusesUnknownPlaceholders(t *testing.T) {
	for _, bad := range []string{`{"a":{{id}}}`, `{"a":{{seq%0}}}`, `{"a":{{seq`, `{{seq*2}}`} {
		if _, err := ParseTemplate(bad); err == nil {
			t.Errorf("%s: no error", bad)
		}
	}
	plain, err := ParseTemplate(`{"a":1}`)
	if err != nil || plain.HasSeq() || string(plain.Append(nil, 9)) != `{"a":1}` {
		t.Errorf("a template without placeholders: %v %v", err, plain)
	}
}
