package wire_test

import (
	"fmt"

	"github.com/portico-mud/portico/sdk/contract"
	"github.com/portico-mud/portico/sdk/wire"
)

// Text, nearly all the traffic, travels as plain strings (str_args); any
// other value is JSON.
func ExampleMessageToPB() {
	text, _ := wire.MessageToPB(contract.Text("hello"))
	fmt.Printf("str_args=%q args_json=%q\n", text.GetStrArgs(), text.GetArgsJson())
	gmcp, _ := wire.MessageToPB(contract.Message{Name: "char.vitals", Kwargs: map[string]any{"hp": 10}})
	fmt.Printf("str_args=%q kwargs_json=%s\n", gmcp.GetStrArgs(), gmcp.GetKwargsJson())
	// Output:
	// str_args=["hello"] args_json=""
	// str_args=[] kwargs_json={"hp":10}
}
