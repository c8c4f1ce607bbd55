package main

import "github.com/portico-mud/portico/sdk/contract"

// Protocol flag names this plugin sets, as Evennia's telnet portal names
// them. The ones sdk/contract already defines are reused from there.
const (
	flagNoGoAhead       = contract.FlagNoGoAhead
	flagNoPromptGoAhead = contract.FlagNoPromptGoAhead
	flagForcedEndLine   = contract.FlagForcedEndLine
	flagTTYPE           = contract.FlagTTYPE
	flagTerm            = contract.FlagTerm
	flagMCCP            = contract.FlagMCCP
	flagOOB             = contract.FlagOOB
	flagMXP             = contract.FlagMXP
	flagAutoResize      = contract.FlagAutoResize
)

// Evennia's default client size, used until the client tells its own.
const (
	defaultScreenWidth  = 78
	defaultScreenHeight = 45
)

// initialFlags are the protocol flags a telnet session starts with, before
// any negotiation (Evennia's telnet connectionMade): colour assumed, go-ahead
// suppressed, the default screen size, no option negotiated yet. Screen
// sizes are plain ints, which is what the host's session reads.
func initialFlags() map[string]any {
	return map[string]any{
		contract.FlagEncoding:     "utf-8",
		flagNoGoAhead:             true,
		flagNoPromptGoAhead:       true,
		contract.FlagScreenWidth:  defaultScreenWidth,
		contract.FlagScreenHeight: defaultScreenHeight,
		flagForcedEndLine:         true,
		flagTTYPE:                 false,
		contract.FlagANSI:         true,
		flagMCCP:                  false,
		flagOOB:                   false,
		flagMXP:                   false,
	}
}

// flagTrue reads a boolean protocol flag the way Evennia does, with def for
// a flag that is missing (the host may have replaced the whole map).
func flagTrue(flags *contract.Flags, name string, def bool) bool {
	v, ok := flags.Get(name)
	if !ok {
		return def
	}
	switch b := v.(type) {
	case bool:
		return b
	case int64:
		return b != 0
	case int:
		return b != 0
	case float64:
		return b != 0
	case string:
		return b != ""
	case nil:
		return false
	}
	return true
}
