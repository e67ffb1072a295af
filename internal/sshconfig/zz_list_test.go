package sshconfig
import ("fmt";"sort";"testing")
func TestZZList(t *testing.T) {
	fmt.Println(UnsupportedDirectives())
	var ig, sup []string
	for _, k := range keywords { if k.class == ignored { ig = append(ig, k.name) }; if k.class == supported { sup = append(sup, k.name) } }
	sort.Strings(ig); sort.Strings(sup); fmt.Println(ig); fmt.Println(sup)
}
