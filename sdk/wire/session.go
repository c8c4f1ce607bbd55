package wire

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/portico-mud/portico/sdk/contract"
	"github.com/portico-mud/portico/sdk/portalpb"
)

func unixNano(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

func fromUnixNano(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n)
}

func encodeMap(m map[string]any) ([]byte, error) {
	if len(m) == 0 {
		return nil, nil
	}
	return json.Marshal(m)
}

func decodeMap(b []byte) (map[string]any, error) {
	if len(b) == 0 {
		return map[string]any{}, nil
	}
	v, err := contract.DecodeJSON(b)
	if err != nil {
		return nil, err
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("not a JSON object")
	}
	return m, nil
}

func encodeFlags(f *contract.Flags) ([]byte, error) {
	if f.Len() == 0 {
		return nil, nil
	}
	return f.AppendJSON(nil)
}

func decodeFlags(b []byte) (contract.Flags, error) {
	var f contract.Flags
	if len(b) == 0 {
		return f, nil
	}
	err := f.UnmarshalJSON(b)
	return f, err
}

// SessionToPB converts session data for the wire.
func SessionToPB(d contract.SessionData) (*portalpb.SessionData, error) {
	flags, err := encodeFlags(&d.ProtocolFlags)
	if err != nil {
		return nil, fmt.Errorf("wire: encode protocol_flags of session %d: %w", d.Sessid, err)
	}
	sd, err := encodeMap(d.ServerData)
	if err != nil {
		return nil, fmt.Errorf("wire: encode server_data of session %d: %w", d.Sessid, err)
	}
	return &portalpb.SessionData{
		Sessid:              d.Sessid,
		ProtocolKey:         d.ProtocolKey,
		Address:             d.Address,
		Suid:                d.Suid,
		Uid:                 d.UID,
		Csessid:             d.Csessid,
		Uname:               d.UName,
		LoggedIn:            d.LoggedIn,
		Puid:                d.PUID,
		ConnTime:            unixNano(d.ConnTime),
		CmdLast:             unixNano(d.CmdLast),
		CmdLastVisible:      unixNano(d.CmdLastVisible),
		CmdTotal:            d.CmdTotal,
		ProtocolFlags:       flags,
		ServerData:          sd,
		CmdsetStorageString: d.CmdsetStorageString,
	}, nil
}

// SessionFromPB converts wire session data back.
func SessionFromPB(p *portalpb.SessionData) (contract.SessionData, error) {
	if p == nil {
		return contract.SessionData{}, fmt.Errorf("wire: missing session data")
	}
	flags, err := decodeFlags(p.ProtocolFlags)
	if err != nil {
		return contract.SessionData{}, fmt.Errorf("wire: decode protocol_flags of session %d: %w", p.Sessid, err)
	}
	sd, err := decodeMap(p.ServerData)
	if err != nil {
		return contract.SessionData{}, fmt.Errorf("wire: decode server_data of session %d: %w", p.Sessid, err)
	}
	return contract.SessionData{
		Sessid:              p.Sessid,
		ProtocolKey:         p.ProtocolKey,
		Address:             p.Address,
		Suid:                p.Suid,
		UID:                 p.Uid,
		Csessid:             p.Csessid,
		UName:               p.Uname,
		LoggedIn:            p.LoggedIn,
		PUID:                p.Puid,
		ConnTime:            fromUnixNano(p.ConnTime),
		CmdLast:             fromUnixNano(p.CmdLast),
		CmdLastVisible:      fromUnixNano(p.CmdLastVisible),
		CmdTotal:            p.CmdTotal,
		ProtocolFlags:       flags,
		ServerData:          sd,
		CmdsetStorageString: p.CmdsetStorageString,
	}, nil
}
