package contract_test

import (
	"fmt"

	"github.com/portico-mud/portico/sdk/contract"
)

// CleanSendData normalises what game code hands session.msg (Evennia's
// keyword style) into messages for the wire: text first, prompt last,
// options copied into every message's kwargs.
func ExampleCleanSendData() {
	msgs, badEncoding := contract.CleanSendData(map[string]any{
		"prompt":  "HP 10/10 >",
		"text":    []any{"You see a door.", map[string]any{"type": "look"}},
		"map":     []any{[]any{1, 2}, map[string]any{"zoom": 2}},
		"options": map[string]any{"screenreader": true},
	}, "utf-8")
	for _, m := range msgs {
		fmt.Printf("%s args=%v kwargs=%v\n", m.Name, m.Args, m.Kwargs)
	}
	fmt.Println("bad encoding:", badEncoding)
	// Output:
	// text args=[You see a door.] kwargs=map[options:map[screenreader:true] type:look]
	// map args=[1 2] kwargs=map[options:map[screenreader:true] zoom:2]
	// prompt args=[HP 10/10 >] kwargs=map[options:map[screenreader:true]]
	// bad encoding: false
}
