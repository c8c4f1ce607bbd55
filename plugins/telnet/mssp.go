package main

import (
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/portico-mud/portico/plugins/telnet/codec"
	"github.com/portico-mud/portico/sdk"
)

// MSSP (MUD Server Status Protocol): on DO MSSP the server sends a table of
// VAR name VAL value pairs, for MUD crawlers and listings. Evennia's table
// is the base; PLAYERS and UPTIME are live; config key `mssp` adds or
// replaces fields.

// MSSP subnegotiation bytes.
const (
	msspVAR = 1
	msspVAL = 2
)

// msspVar is one variable with its values (several for a list, such as
// more than one PORT).
type msspVar struct {
	name   string
	values []string
}

// msspInfo is what the table is built from.
type msspInfo struct {
	serverName string
	version    string
	players    int
	// started is the plugin's start, in Unix seconds (MSSP's UPTIME is the
	// time of the last start, not a duration).
	started int64
	// ports are the plain telnet ports; tlsPort is 0 without TLS.
	ports   []int
	tlsPort int
	// extra holds config fields, names upper-cased, overriding defaults.
	extra map[string][]string
}

// msspTable builds the table: required fields first (NAME, PLAYERS,
// UPTIME), then Evennia's others, then config fields not already present,
// sorted by name.
func msspTable(in msspInfo) []msspVar {
	name := in.serverName
	if name == "" {
		name = "Portico"
	}
	codebase := "Portico"
	if in.version != "" {
		codebase += " " + in.version
	}
	var ports []string
	// The most important port goes last (Evennia reverses its list).
	for i := len(in.ports) - 1; i >= 0; i-- {
		ports = append(ports, strconv.Itoa(in.ports[i]))
	}
	table := []msspVar{
		{"NAME", []string{name}},
		{"PLAYERS", []string{strconv.Itoa(in.players)}},
		{"UPTIME", []string{strconv.FormatInt(in.started, 10)}},
		{"PORT", ports},
		{"CRAWL DELAY", []string{"-1"}},
		{"CODEBASE", []string{codebase}},
		{"FAMILY", []string{"Custom"}},
		{"CHARSET", []string{charsetUTF8}},
		{"ANSI", []string{"1"}},
		{"GMCP", []string{"1"}},
		{"MSDP", []string{"1"}},
		{"ATCP", []string{"0"}},
		{"MCCP", []string{"1"}},
		{"MCP", []string{"0"}},
		{"MSP", []string{"0"}},
		{"MXP", []string{"1"}},
		{"PUEBLO", []string{"0"}},
		// MSSP's SSL is the TLS port, or 0 without one.
		{"SSL", []string{strconv.Itoa(in.tlsPort)}},
		{"UTF-8", []string{"1"}},
		{"ZMP", []string{"0"}},
		{"VT100", []string{"1"}},
		{"XTERM 256 COLORS", []string{"1"}},
		{"XTERM TRUE COLORS", []string{"1"}},
	}
	if len(ports) == 0 {
		table[3].values = []string{"0"}
	}
	seen := map[string]bool{}
	for i := range table {
		if v, ok := in.extra[table[i].name]; ok {
			table[i].values = v
		}
		seen[table[i].name] = true
	}
	var names []string
	for k := range in.extra {
		if !seen[k] {
			names = append(names, k)
		}
	}
	sort.Strings(names)
	for _, k := range names {
		table = append(table, msspVar{k, in.extra[k]})
	}
	return table
}

// encodeMSSP renders the table as IAC SB MSSP ... IAC SE. Bytes MSSP
// reserves (VAR, VAL, NUL, IAC) are dropped from names and values; config
// fields are checked for them at Configure, so only a server name could
// bring one.
func encodeMSSP(table []msspVar) []byte {
	var b []byte
	for _, v := range table {
		for _, val := range v.values {
			b = append(b, msspVAR)
			b = appendMSSPText(b, v.name)
			b = append(b, msspVAL)
			b = appendMSSPText(b, val)
		}
	}
	return codec.Subnegotiation(codec.OptMSSP, b)
}

func appendMSSPText(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; !msspReserved(c) {
			b = append(b, c)
		}
	}
	return b
}

func msspReserved(c byte) bool { return c == 0 || c == msspVAR || c == msspVAL || c == codec.IAC }

// parseMSSPConfig reads config key mssp: a map of field name to a string, a
// number, a bool or a list of those. Names are upper-cased (viper lower-cases
// config keys; MSSP's are upper-case).
func parseMSSPConfig(raw map[string]any) (map[string][]string, error) {
	out := map[string][]string{}
	for k, v := range raw {
		name := strings.ToUpper(strings.TrimSpace(k))
		if name == "" || strings.IndexFunc(name, func(r rune) bool { return r < 0x20 || r == 0x7f || r > 0x7e }) >= 0 {
			return nil, sdk.KeyError("mssp", "bad field name %q", k)
		}
		var vals []string
		switch x := v.(type) {
		case []any:
			for _, e := range x {
				s, err := msspScalar(e)
				if err != nil {
					return nil, sdk.KeyError("mssp."+k, "%v", err)
				}
				vals = append(vals, s)
			}
		default:
			s, err := msspScalar(x)
			if err != nil {
				return nil, sdk.KeyError("mssp."+k, "%v", err)
			}
			vals = []string{s}
		}
		for _, s := range vals {
			for i := 0; i < len(s); i++ {
				if msspReserved(s[i]) {
					return nil, sdk.KeyError("mssp."+k, "value %q holds a byte MSSP reserves", s)
				}
			}
		}
		out[name] = vals
	}
	return out, nil
}

func msspScalar(v any) (string, error) {
	switch x := v.(type) {
	case string:
		return x, nil
	case bool:
		if x {
			return "1", nil
		}
		return "0", nil
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64), nil
	case int:
		return strconv.Itoa(x), nil
	case int64:
		return strconv.FormatInt(x, 10), nil
	}
	return "", fmt.Errorf("want a string, number, bool or a list of them, got %T", v)
}
