package contract

import (
	"reflect"
	"testing"
	"time"
)

// defaultFlags are Evennia's init_session protocol flags.
func defaultFlags() Flags {
	return FlagsOf(map[string]any{
		FlagEncoding:     "utf-8",
		FlagScreenReader: false,
		FlagInputDebug:   false,
		FlagRaw:          false,
		FlagNoColor:      false,
		FlagLocalEcho:    false,
	})
}

func TestInitSession(t *testing.T) {
	now := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	d := SessionData{Sessid: 9, UID: 3, LoggedIn: true, CmdTotal: 5, UName: "old"}
	d.InitSession("telnet", "10.0.0.1", now)
	want := SessionData{
		ProtocolKey:    "telnet",
		Address:        "10.0.0.1",
		ConnTime:       now,
		CmdLast:        now,
		CmdLastVisible: now,
		ProtocolFlags:  defaultFlags(),
		ServerData:     map[string]any{},
	}
	if !reflect.DeepEqual(d, want) {
		t.Errorf("InitSession:\n got %#v\nwant %#v", d, want)
	}
	if d.Encoding() != "utf-8" {
		t.Errorf("Encoding = %q", d.Encoding())
	}
}

func TestGetSyncDataCopiesMaps(t *testing.T) {
	var d SessionData
	d.InitSession("ssh", "::1", time.Now())
	d.SetServerData("k", "v")
	c := d.GetSyncData()
	if !reflect.DeepEqual(c, d) {
		t.Fatalf("copy differs:\n got %#v\nwant %#v", c, d)
	}
	c.ProtocolFlags.Set(FlagNoColor, true)
	c.ServerData["k"] = "changed"
	if d.FlagBool(FlagNoColor) || d.ServerData["k"] != "v" {
		t.Error("changing the copy's maps changed the original")
	}
	d.ProtocolFlags.Set(FlagScreenWidth, 100)
	d.ProtocolFlags.Set("CUSTOM", 1)
	d.ServerData["new"] = 1
	if _, ok := c.ProtocolFlags.Get(FlagScreenWidth); ok {
		t.Error("changing the original's flags changed the copy")
	}
	if _, ok := c.ProtocolFlags.Get("CUSTOM"); ok {
		t.Error("changing the original's flags changed the copy")
	}
	if _, ok := c.ServerData["new"]; ok {
		t.Error("changing the original's server data changed the copy")
	}
	// Nil maps stay nil.
	var z SessionData
	if c := z.GetSyncData(); c.ProtocolFlags.Len() != 0 || c.ServerData != nil {
		t.Errorf("copy of zero data has maps: %#v", c)
	}
}

func fullData(now time.Time) SessionData {
	return SessionData{
		Sessid:              42,
		ProtocolKey:         "websocket",
		Address:             "192.0.2.7",
		Suid:                "suid-1",
		UID:                 7,
		Csessid:             "csess",
		UName:               "Alice",
		LoggedIn:            true,
		PUID:                11,
		ConnTime:            now.Add(-time.Hour),
		CmdLast:             now.Add(-time.Minute),
		CmdLastVisible:      now.Add(-2 * time.Minute),
		CmdTotal:            99,
		ProtocolFlags:       FlagsOf(map[string]any{FlagScreenWidth: int64(132), FlagNoColor: true, FlagClientName: "Mudlet"}),
		ServerData:          map[string]any{"puppet": "#5"},
		CmdsetStorageString: "commands.default_cmdsets.AccountCmdSet",
	}
}

func TestLoadSyncDataFieldsSubset(t *testing.T) {
	now := time.Now()
	var d SessionData
	d.InitSession("telnet", "10.0.0.1", now)
	d.Sessid = 5
	d.ServerData = map[string]any{"old": true}
	before := d.GetSyncData()

	src := fullData(now)
	d.LoadSyncData(src, []string{FieldUName, FieldLoggedIn, FieldProtocolFlags})

	want := before
	want.UName = "Alice"
	want.LoggedIn = true
	want.ProtocolFlags = defaultFlags()
	want.ProtocolFlags.Set(FlagScreenWidth, int64(132))
	want.ProtocolFlags.Set(FlagNoColor, true)
	want.ProtocolFlags.Set(FlagClientName, "Mudlet")
	if !reflect.DeepEqual(d, want) {
		t.Errorf("partial load:\n got %#v\nwant %#v", d, want)
	}
	// The merged flags are d's own map, not src's.
	src.ProtocolFlags.Set("LATER", 1)
	if _, ok := d.ProtocolFlags.Get("LATER"); ok {
		t.Error("loaded flags share src's map")
	}
	// Unknown field names are ignored.
	d.LoadSyncData(fullData(now), []string{"no_such_field"})
	if !reflect.DeepEqual(d, want) {
		t.Error("an unknown field name changed the data")
	}
}

func TestLoadSyncDataAllFields(t *testing.T) {
	now := time.Now()
	var d SessionData
	d.InitSession("telnet", "10.0.0.1", now)
	d.ServerData = map[string]any{"old": true}
	src := fullData(now)
	d.LoadSyncData(src, nil)

	want := src.GetSyncData()
	// protocol_flags merged, not replaced: the defaults stay.
	want.ProtocolFlags = defaultFlags()
	want.ProtocolFlags.Merge(src.ProtocolFlags)
	// server_data replaced: "old" is gone.
	if !reflect.DeepEqual(d, want) {
		t.Errorf("whole load:\n got %#v\nwant %#v", d, want)
	}
	src.ServerData["later"] = 1
	if _, ok := d.ServerData["later"]; ok {
		t.Error("loaded server data shares src's map")
	}
}

func TestLoadSyncDataNilMaps(t *testing.T) {
	var d SessionData // nil maps
	d.LoadSyncData(SessionData{ProtocolFlags: FlagsOf(map[string]any{FlagRaw: true})}, []string{FieldProtocolFlags, FieldServerData})
	if !d.FlagBool(FlagRaw) {
		t.Error("flags not loaded into empty flags")
	}
	if d.ServerData == nil || len(d.ServerData) != 0 {
		t.Errorf("server data from nil = %#v, want an empty map", d.ServerData)
	}
	var z SessionData
	z.SetServerData("k", 1)
	if z.ServerData["k"] != 1 {
		t.Errorf("SetServerData on nil: %#v", z.ServerData)
	}
}

func TestFlagHelpers(t *testing.T) {
	d := SessionData{ProtocolFlags: FlagsOf(map[string]any{
		"i": 3, "i64": int64(4), "f": 5.9, "s": "x", "b": true, FlagEncoding: "latin-1",
	})}
	for name, want := range map[string]int{"i": 3, "i64": 4, "f": 5, "s": -1, "missing": -1} {
		if got := d.FlagInt(name, -1); got != want {
			t.Errorf("FlagInt(%q) = %d, want %d", name, got, want)
		}
	}
	if !d.FlagBool("b") || d.FlagBool("s") || d.FlagBool("missing") {
		t.Error("FlagBool wrong")
	}
	if d.Flag("s") != "x" || d.Flag("missing") != nil {
		t.Error("Flag wrong")
	}
	if d.Encoding() != "latin-1" {
		t.Errorf("Encoding = %q", d.Encoding())
	}
	d.ProtocolFlags.Set(FlagEncoding, "")
	if d.Encoding() != "utf-8" {
		t.Errorf("empty Encoding = %q, want utf-8", d.Encoding())
	}
	var z SessionData
	if z.Encoding() != "utf-8" || z.FlagBool(FlagRaw) || z.FlagInt(FlagScreenWidth, 78) != 78 {
		t.Error("helpers on nil flags wrong")
	}
}
