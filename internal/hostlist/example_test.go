package hostlist_test

import (
	"fmt"

	"github.com/loomssh/loom/internal/hostlist"
)

func ExampleExpand() {
	hosts, err := hostlist.Expand("deploy@web[08-10,12]:2222")
	fmt.Println(hosts, err)
	_, err = hostlist.Expand("web[3-1]")
	fmt.Println(err)
	// Output:
	// [deploy@web08:2222 deploy@web09:2222 deploy@web10:2222 deploy@web12:2222] <nil>
	// host pattern "web[3-1]": reversed range "3-1"
}

func ExampleExpandAll() {
	hosts, _ := hostlist.ExpandAll("web[1-3],db1", "web2,[::1]:22")
	fmt.Println(hosts)
	// Output: [web1 web2 web3 db1 [::1]:22]
}

func ExampleExclude() {
	hosts, _ := hostlist.Expand("web[01-20]")
	kept, _ := hostlist.Exclude(hosts, []string{"web[01-02],web1?"})
	fmt.Println(hostlist.Fold(kept))
	// Output: web[03-09,20]
}

func ExampleFold() {
	hosts, _ := hostlist.Expand("10.0.[1-3].[1-254]")
	fmt.Println(hostlist.Fold(hosts))
	hosts, _ = hostlist.Exclude(hosts, []string{"10.0.2.*"})
	fmt.Println(hostlist.Fold(hosts))
	fmt.Println(hostlist.Fold([]string{"web01", "web02", "web03", "web05", "db1"}))
	// Output:
	// 10.0.[1-3].[1-254]
	// 10.0.[1,3].[1-254]
	// db1,web[01-03,05]
}
