package wire

import (
	"reflect"
	"testing"
	"time"

	"github.com/portico-mud/portico/sdk/contract"

	"github.com/portico-mud/portico/sdk/portalpb"
)

func fullData(now time.Time) contract.SessionData {
	return contract.SessionData{
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
		ProtocolFlags:       contract.FlagsOf(map[string]any{contract.FlagScreenWidth: int64(132), contract.FlagNoColor: true, contract.FlagClientName: "Mudlet"}),
		ServerData:          map[string]any{"puppet": "#5"},
		CmdsetStorageString: "commands.default_cmdsets.AccountCmdSet",
	}
}

func TestSessionPBRoundTrip(t *testing.T) {
	now := time.Now()
	d := fullData(now)
	pd, err := SessionToPB(d)
	if err != nil {
		t.Fatal(err)
	}
	if pd.GetConnTime() != d.ConnTime.UnixNano() {
		t.Errorf("conn_time = %d, want Unix nanoseconds %d", pd.GetConnTime(), d.ConnTime.UnixNano())
	}
	got, err := SessionFromPB(pd)
	if err != nil {
		t.Fatal(err)
	}
	for _, tm := range []struct {
		name      string
		got, want time.Time
	}{{"conn_time", got.ConnTime, d.ConnTime}, {"cmd_last", got.CmdLast, d.CmdLast}, {"cmd_last_visible", got.CmdLastVisible, d.CmdLastVisible}} {
		if !tm.got.Equal(tm.want) {
			t.Errorf("%s = %v, want %v", tm.name, tm.got, tm.want)
		}
	}
	// Times compare with Equal (the monotonic reading is not carried).
	got.ConnTime, got.CmdLast, got.CmdLastVisible = d.ConnTime, d.CmdLast, d.CmdLastVisible
	if !reflect.DeepEqual(got, d) {
		t.Errorf("round trip:\n got %#v\nwant %#v", got, d)
	}
}

func TestSessionPBZeroValues(t *testing.T) {
	pd, err := SessionToPB(contract.SessionData{Sessid: 3})
	if err != nil {
		t.Fatal(err)
	}
	if pd.GetConnTime() != 0 || pd.GetCmdLast() != 0 || pd.GetCmdLastVisible() != 0 {
		t.Errorf("zero times not sent as 0: %v", pd)
	}
	if pd.GetProtocolFlags() != nil || pd.GetServerData() != nil {
		t.Errorf("empty maps not sent as nothing: %v", pd)
	}
	got, err := SessionFromPB(pd)
	if err != nil {
		t.Fatal(err)
	}
	if !got.ConnTime.IsZero() || !got.CmdLast.IsZero() || !got.CmdLastVisible.IsZero() {
		t.Errorf("zero times came back as %v %v %v", got.ConnTime, got.CmdLast, got.CmdLastVisible)
	}
	want := contract.SessionData{Sessid: 3, ProtocolFlags: contract.FlagsOf(map[string]any{}), ServerData: map[string]any{}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %#v, want %#v", got, want)
	}
}

func TestSessionPBErrors(t *testing.T) {
	if _, err := SessionToPB(contract.SessionData{ProtocolFlags: contract.FlagsOf(map[string]any{"f": func() {}})}); err == nil {
		t.Error("unencodable protocol_flags: no error")
	}
	if _, err := SessionToPB(contract.SessionData{ServerData: map[string]any{"c": make(chan int)}}); err == nil {
		t.Error("unencodable server_data: no error")
	}
	for name, pd := range map[string]*portalpb.SessionData{
		"nil":                    nil,
		"flags not JSON":         {ProtocolFlags: []byte(`{`)},
		"flags not an object":    {ProtocolFlags: []byte(`[1]`)},
		"server data not object": {ServerData: []byte(`"x"`)},
		"server data trailing":   {ServerData: []byte(`{}}`)},
	} {
		if _, err := SessionFromPB(pd); err == nil {
			t.Errorf("SessionFromPB(%s): no error", name)
		}
	}
}
