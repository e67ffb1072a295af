package hostlist

import (
	"fmt"
	"slices"
	"strings"
	"testing"
)

func TestExpand(t *testing.T) {
	tests := []struct {
		in   string
		want string // space-separated
	}{
		{"web1", "web1"},
		{"web[1-3]", "web1 web2 web3"},
		{"web[01-03].example.com", "web01.example.com web02.example.com web03.example.com"},
		{"web[08-11]", "web08 web09 web10 web11"},
		{"web[8-11]", "web8 web9 web10 web11"},
		{"n[098-101]", "n098 n099 n100 n101"},
		{"n[001-3]", "n001 n002 n003"},
		{"n[1-05]", "n1 n2 n3 n4 n5"},
		{"web[1,3,7-9]", "web1 web3 web7 web8 web9"},
		{"web[5]", "web5"},
		{"web[007]", "web007"},
		{"[0-2]", "0 1 2"},
		{"web[3,1,3,2]", "web3 web1 web2"},
		{"web[1,01]", "web1 web01"},
		{"10.0.[1-2].[1-3]", "10.0.1.1 10.0.1.2 10.0.1.3 10.0.2.1 10.0.2.2 10.0.2.3"},
		{"r[1-2]n[1-2]", "r1n1 r1n2 r2n1 r2n2"},
		{"x[1,11][1,11]", "x11 x111 x1111"}, // 1·11 and 11·1 are one name
		{"deploy@web[1-3]:2222", "deploy@web1:2222 deploy@web2:2222 deploy@web3:2222"},
		{"user@web[1-2]", "user@web1 user@web2"},
		{"web[1-2]:22", "web1:22 web2:22"},
		{"[::1]:2222", "[::1]:2222"},
		{"[fe80::1]", "[fe80::1]"},
		{"deploy@[2001:db8::1]:22", "deploy@[2001:db8::1]:22"},
		{"[fe80::1%eth0]", "[fe80::1%eth0]"},
		{"fe80::[1-2]", "fe80::1 fe80::2"},
		{"web*", "web*"},
		{"a-b_c.d", "a-b_c.d"},
		{"n[999999999999999998-999999999999999999]", "n999999999999999998 n999999999999999999"},
	}
	for _, tt := range tests {
		got, err := Expand(tt.in)
		if err != nil {
			t.Errorf("Expand(%q): %v", tt.in, err)
			continue
		}
		if g := strings.Join(got, " "); g != tt.want {
			t.Errorf("Expand(%q) = %q, want %q", tt.in, g, tt.want)
		}
	}
}

func TestExpandErrors(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", "empty host pattern"},
		{"web[3-1]", `host pattern "web[3-1]": reversed range "3-1"`},
		{"web[a-c]", `non-numeric range element "a-c"`},
		{"web[1-c]", `non-numeric range element "1-c"`},
		{"web[1-3", `host pattern "web[1-3": unbalanced '['`},
		{"web1-3]", `unbalanced ']'`},
		{"web[1-[2]]", `nested '['`},
		{"web[]", `empty brackets`},
		{"web[1,,3]", `empty element in "[1,,3]"`},
		{"web[1,]", `empty element`},
		{"web[-3]", `incomplete range "-3"`},
		{"web[1-]", `incomplete range "1-"`},
		{"web[1-2-3]", `non-numeric range element "1-2-3"`},
		{"web[+1]", `non-numeric`},
		{"web[1234567890123456789]", `number too large`},
		{"web1,web2", `',' outside brackets`},
		{"web 1", `invalid character ' '`},
		{"web\n1", `host pattern "web\n1": invalid character '\n'`},
		{"[::1 ]", `invalid character ' '`},
		{"n[1-1000001]", `host pattern "n[1-1000001]" expands to more than 1000000 hosts`},
		{"n[1-1001][1-1000]", `expands to more than 1000000 hosts`},
		{"n[1-999999999999999999][1-999999999999999999]", `expands to more than`},
		{"n[0-999999999999999999]", `expands to more than`},
	}
	for _, tt := range tests {
		got, err := Expand(tt.in)
		if err == nil {
			t.Errorf("Expand(%q) = %q, want error %q", tt.in, got, tt.want)
			continue
		}
		if !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Expand(%q) error %q, want it to contain %q", tt.in, err, tt.want)
		}
		if strings.Contains(err.Error(), "\n") {
			t.Errorf("Expand(%q) error is not one line: %q", tt.in, err)
		}
	}
}

func TestExpandLimit(t *testing.T) {
	if _, err := ExpandLimit("n[1-10]", 10); err != nil {
		t.Errorf("10 hosts with limit 10: %v", err)
	}
	if _, err := ExpandLimit("n[1-11]", 10); err == nil {
		t.Errorf("11 hosts with limit 10: no error")
	}
	if _, err := ExpandLimit("n[1-2]", 0); err == nil {
		t.Errorf("limit 0 taken as 1: want an error for 2 hosts")
	}
	got, err := Expand("n[1-1000000]")
	if err != nil || len(got) != MaxHosts || got[MaxHosts-1] != "n1000000" {
		t.Errorf("Expand of MaxHosts hosts: %d hosts, %v", len(got), err)
	}
}

func TestSplit(t *testing.T) {
	tests := []struct {
		in   string
		want []string
	}{
		{"", nil},
		{"a", []string{"a"}},
		{"a,b", []string{"a", "b"}},
		{" a , b ,,", []string{"a", "b"}},
		{"web[1,3],db[1-2,5],x", []string{"web[1,3]", "db[1-2,5]", "x"}},
		{"[::1]:22,h", []string{"[::1]:22", "h"}},
		{"a],b", []string{"a]", "b"}},
	}
	for _, tt := range tests {
		if got := Split(tt.in); !slices.Equal(got, tt.want) {
			t.Errorf("Split(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestExpandAll(t *testing.T) {
	tests := []struct {
		in   []string
		want string
	}{
		{[]string{"web[1-3],db1"}, "web1 web2 web3 db1"},
		{[]string{"web[1,3]", "web[1-4]"}, "web1 web3 web2 web4"},
		{[]string{"b,a,b,a"}, "b a"},
		{[]string{" a , b "}, "a b"},
		{[]string{"", ","}, ""},
		{[]string{"u@h[1-2]:22,[::1]:22"}, "u@h1:22 u@h2:22 [::1]:22"},
	}
	for _, tt := range tests {
		got, err := ExpandAll(tt.in...)
		if err != nil {
			t.Errorf("ExpandAll(%q): %v", tt.in, err)
			continue
		}
		if g := strings.Join(got, " "); g != tt.want {
			t.Errorf("ExpandAll(%q) = %q, want %q", tt.in, g, tt.want)
		}
	}
	for _, in := range [][]string{
		{"a,web[3-1]"},
		{"a", "b[x]"},
		{"n[1-600000]", "m[1-600000]"},
	} {
		if got, err := ExpandAll(in...); err == nil {
			t.Errorf("ExpandAll(%q) = %d hosts, want an error", in, len(got))
		} else if strings.Contains(err.Error(), "\n") {
			t.Errorf("ExpandAll(%q): error not one line: %q", in, err)
		}
	}
	// ClusterShell's @group and globs name no host: errors, not host
	// names, wherever they are in a list.
	for _, tt := range []struct{ in, want string }{
		{"@web", `host pattern "@web": ClusterShell's @group is not supported`},
		{"db1,@web", `"@web"`},
		{"web*", `host pattern "web*": '*' and '?' are globs`},
		{"a,nova0??", `"nova0??"`},
		{"web[1-2]*.example.com", `-x "web[1-2]*.example.com"`},
	} {
		got, err := ExpandAll(tt.in)
		if err == nil || !strings.Contains(err.Error(), tt.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("ExpandAll(%q) = %q, %v; want one line containing %s", tt.in, got, err, tt.want)
		}
	}
	if _, err := Exclude([]string{"a"}, []string{"b,@web"}); err == nil || !strings.Contains(err.Error(), "@group") {
		t.Errorf("Exclude with @web: %v", err)
	}
	// The same hosts twice do not count twice against the cap.
	if _, err := ExpandAll("n[1-600000]", "n[1-600000]"); err != nil {
		t.Errorf("duplicate large lists: %v", err)
	}
}

func TestExclude(t *testing.T) {
	hosts, _ := ExpandAll("web[01-10],db[1-3],deploy@app1:2222,[::1]:22,cache.example.com")
	tests := []struct {
		ex   []string
		want string
	}{
		{nil, strings.Join(hosts, " ")},
		{[]string{"web[01-08]", "db2"}, "web09 web10 db1 db3 deploy@app1:2222 [::1]:22 cache.example.com"},
		{[]string{"web*,db?"}, "deploy@app1:2222 [::1]:22 cache.example.com"},
		{[]string{"web0[1-9]*"}, "web10 db1 db2 db3 deploy@app1:2222 [::1]:22 cache.example.com"},
		{[]string{"app1", "::1"}, "web01 web02 web03 web04 web05 web06 web07 web08 web09 web10 db1 db2 db3 cache.example.com"},
		{[]string{"*.example.com,web*,db*,app*,*:*"}, ""},
		{[]string{"other@app1:2222"}, strings.Join(hosts, " ")},
		{[]string{"deploy@app1:2222,[::1]:22"}, "web01 web02 web03 web04 web05 web06 web07 web08 web09 web10 db1 db2 db3 cache.example.com"},
		{[]string{"web1"}, strings.Join(hosts, " ")}, // web01 is not web1
		{[]string{"*"}, ""},
	}
	for _, tt := range tests {
		in := slices.Clone(hosts)
		got, err := Exclude(in, tt.ex)
		if err != nil {
			t.Errorf("Exclude(%q): %v", tt.ex, err)
			continue
		}
		if g := strings.Join(got, " "); g != tt.want {
			t.Errorf("Exclude(%q) = %q, want %q", tt.ex, g, tt.want)
		}
		if !slices.Equal(in, hosts) {
			t.Errorf("Exclude(%q) modified its input", tt.ex)
		}
	}
	if _, err := Exclude(hosts, []string{"web[2-1]"}); err == nil || !strings.Contains(err.Error(), "web[2-1]") {
		t.Errorf("bad exclude: error %v, want one naming the pattern", err)
	}
}

func TestFold(t *testing.T) {
	tests := []struct {
		in   string // space-separated hosts
		want string
	}{
		{"", ""},
		{"web1", "web1"},
		{"web01 web02 web03 web05 db1", "db1,web[01-03,05]"},
		{"web05 web03 db1 web01 web02 web03", "db1,web[01-03,05]"},
		{"web09 web10", "web[09-10]"},
		{"1 2 10", "[1-2,10]"},
		{"n1 n2 n10", "n[1-2,10]"},
		{"n9 n09 n10", "n[9-10,09]"},
		{"n1 n01 n001", "n[1,01,001]"},
		{"n098 n099 n100 n101", "n[098-101]"},
		{"n8 n9 n10 n11", "n[8-11]"},
		{"web2 web10 web1", "web[1-2,10]"},
		{"web1.example.com web2.example.com web3.example.org", "web[1-2].example.com,web3.example.org"},
		{"10.0.1.1 10.0.1.2 10.0.1.3 10.0.1.4 10.0.1.5 10.0.1.6 10.0.1.7 10.0.1.8 10.0.1.9", "10.0.1.[1-9]"},
		{"10.0.1.1 10.0.1.2 10.0.2.1 10.0.2.2", "10.0.[1-2].[1-2]"},
		{"10.0.1.1 10.0.1.2 10.0.2.1", "10.0.1.[1-2],10.0.2.1"},
		{"rack1-node1 rack1-node2 rack2-node1", "rack1-node[1-2],rack2-node1"},
		{"a1b1 a2b1 a3b1", "a[1-3]b1"},
		{"deploy@web1:2222 deploy@web2:2222", "deploy@web[1-2]:2222"},
		{"web1:22 web1:23", "web1:[22-23]"},
		{"alpha beta alpha", "alpha,beta"},
		{"web10 web9 db", "db,web[9-10]"},
		{"[::1]:22 [::2]:22 h1", "[::1]:22,[::2]:22,h1"},
		{"fe80::1 fe80::2", "fe80::[1-2]"},
		{"n1 n3 n5", "n[1,3,5]"},
		{"n0 n00 n000", "n[0,00,000]"},
		{"x1234567890123456789 x1234567890123456788", "x1234567890123456788,x1234567890123456789"},
		{"node2 node10 node1c1", "node1c1,node[2,10]"},
	}
	for _, tt := range tests {
		hosts := strings.Fields(tt.in)
		got := Fold(hosts)
		if got != tt.want {
			t.Errorf("Fold(%q) = %q, want %q", tt.in, got, tt.want)
		}
		checkRoundTrip(t, hosts, got)
	}
	// Unfoldable names pass through.
	if got := Fold([]string{"a b", "c,d", "", "x"}); got != "a b,c,d,x" {
		t.Errorf("Fold of odd names = %q", got)
	}
}

func TestFoldExpandRoundTrip(t *testing.T) {
	for _, p := range []string{
		"web[01-20].example.com",
		"10.0.[1-3].[1-254]",
		"n[1-5,7,9-12,100-102,0001-0003]",
		"r[1-4]n[01-16]",
		"deploy@web[1-3]:2222",
		"a[1-3]b[1-2]c[1-2]",
	} {
		hosts, err := Expand(p)
		if err != nil {
			t.Fatal(err)
		}
		f := Fold(hosts)
		checkRoundTrip(t, hosts, f)
		if !strings.Contains(f, ",") && f != p {
			t.Logf("Fold(Expand(%q)) = %q", p, f)
		}
	}
	got := Fold(must(Expand("10.0.[1-3].[1-254]")))
	if got != "10.0.[1-3].[1-254]" {
		t.Errorf("Fold(10.0.[1-3].[1-254]) = %q", got)
	}
}

func must(h []string, err error) []string {
	if err != nil {
		panic(err)
	}
	return h
}

// checkRoundTrip checks that expanding every item of folded gives hosts
// (as sets, without the empty name).
func checkRoundTrip(t *testing.T, hosts []string, folded string) {
	t.Helper()
	want := map[string]bool{}
	for _, h := range hosts {
		if h != "" {
			want[h] = true
		}
	}
	got := map[string]bool{}
	for _, item := range Split(folded) {
		hs, err := Expand(item)
		if err != nil {
			t.Errorf("Fold(%q) = %q: item %q: %v", hosts, folded, item, err)
			return
		}
		for _, h := range hs {
			got[h] = true
		}
	}
	if len(got) != len(want) {
		t.Errorf("Fold(%q) = %q expands to %d hosts, want %d", hosts, folded, len(got), len(want))
		return
	}
	for h := range want {
		if !got[h] {
			t.Errorf("Fold(%q) = %q: %q missing after expansion", hosts, folded, h)
		}
	}
}

func TestNaturalCompare(t *testing.T) {
	in := []string{"web10", "web2", "web1", "db", "web01", "web", "a10b2", "a9b3", "a10b10"}
	slices.SortFunc(in, naturalCompare)
	want := []string{"a9b3", "a10b2", "a10b10", "db", "web", "web1", "web01", "web2", "web10"}
	if !slices.Equal(in, want) {
		t.Errorf("natural order = %q, want %q", in, want)
	}
}

func benchHosts(n int) []string {
	hosts := make([]string, 0, n)
	for i := 0; len(hosts) < n; i++ {
		switch i % 4 {
		case 0, 1:
			hosts = append(hosts, fmt.Sprintf("web%05d.example.com", i))
		case 2:
			hosts = append(hosts, fmt.Sprintf("10.%d.%d.%d", i/65536%256, i/256%256, i%256))
		default:
			hosts = append(hosts, fmt.Sprintf("rack%d-node%02d", i/40, i%40))
		}
	}
	return hosts
}

func BenchmarkFold10k(b *testing.B) {
	hosts := benchHosts(10000)
	b.ReportAllocs()
	for b.Loop() {
		Fold(hosts)
	}
}

func BenchmarkFold10kContiguous(b *testing.B) {
	hosts := must(Expand("web[00001-10000].example.com"))
	b.ReportAllocs()
	for b.Loop() {
		Fold(hosts)
	}
}

func BenchmarkExpand10k(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		_, _ = Expand("10.0.[0-39].[0-249]")
	}
}
