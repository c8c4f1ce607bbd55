package store

import (
	"encoding/base64"
	"regexp"
	"strings"
	"testing"

	"golang.org/x/crypto/argon2"
)

var testParams = Argon2Params{MemoryKiB: 64, Time: 1, Threads: 1}

func TestHashPasswordFormat(t *testing.T) {
	phc := regexp.MustCompile(`^\$argon2id\$v=19\$m=([0-9]+),t=([0-9]+),p=([0-9]+)\$([A-Za-z0-9+/]+)\$([A-Za-z0-9+/]+)$`)
	h1, err := HashPassword("hunter2", testParams)
	if err != nil {
		t.Fatal(err)
	}
	m := phc.FindStringSubmatch(h1)
	if m == nil {
		t.Fatalf("hash %q is not an argon2id PHC string", h1)
	}
	if m[1] != "64" || m[2] != "1" || m[3] != "1" {
		t.Errorf("params m=%s,t=%s,p=%s, want 64,1,1", m[1], m[2], m[3])
	}
	salt, err := base64.RawStdEncoding.DecodeString(m[4])
	if err != nil || len(salt) != 16 {
		t.Errorf("salt %q: %d bytes, %v; want 16 bytes of unpadded base64", m[4], len(salt), err)
	}
	key, err := base64.RawStdEncoding.DecodeString(m[5])
	if err != nil || len(key) != 32 {
		t.Errorf("key %q: %d bytes, %v; want 32 bytes of unpadded base64", m[5], len(key), err)
	}
	h2, err := HashPassword("hunter2", testParams)
	if err != nil {
		t.Fatal(err)
	}
	if h1 == h2 {
		t.Error("two hashes of one password are equal: salt not random")
	}

	// Zero fields take the defaults, field by field.
	h, err := HashPassword("x", Argon2Params{MemoryKiB: 64, Time: 1})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(h, "$argon2id$v=19$m=64,t=1,p=1$") {
		t.Errorf("hash %q, want m=64,t=1,p=1", h)
	}

	for _, p := range []Argon2Params{
		{MemoryKiB: 64, Time: 1 << 20, Threads: 1},
		{MemoryKiB: 1 << 30, Time: 1, Threads: 1},
		{MemoryKiB: 8, Time: 1, Threads: 4}, // below 8 KiB per thread
	} {
		if h, err := HashPassword("x", p); err == nil {
			t.Errorf("HashPassword with %+v = %q, want an error", p, h)
		}
	}
}

func TestVerifyPassword(t *testing.T) {
	for _, p := range []Argon2Params{testParams, {MemoryKiB: 128, Time: 2, Threads: 2}} {
		h, err := HashPassword("pässwörd", p)
		if err != nil {
			t.Fatal(err)
		}
		if ok, err := VerifyPassword(h, "pässwörd"); !ok || err != nil {
			t.Errorf("VerifyPassword(right) = %v, %v; want true", ok, err)
		}
		for _, wrong := range []string{"", "passwörd", "pässwörd ", "Pässwörd"} {
			if ok, err := VerifyPassword(h, wrong); ok || err != nil {
				t.Errorf("VerifyPassword(%q) = %v, %v; want false, nil", wrong, ok, err)
			}
		}
	}
	// A hash made elsewhere, with other parameters, an 8-byte salt and a
	// 16-byte key, verifies with what it records.
	other := Argon2Params{MemoryKiB: 32, Time: 3, Threads: 1}
	salt := []byte("saltsalt")
	h := encodeHash(other, salt, argon2.IDKey([]byte("x"), salt, other.Time, other.MemoryKiB, other.Threads, 16))
	if ok, err := VerifyPassword(h, "x"); !ok || err != nil {
		t.Errorf("VerifyPassword(foreign hash) = %v, %v; want true", ok, err)
	}
	if ok, err := VerifyPassword(h, "y"); ok || err != nil {
		t.Errorf("VerifyPassword(foreign hash, wrong) = %v, %v; want false, nil", ok, err)
	}
}

func TestVerifyPasswordMalformed(t *testing.T) {
	good, err := HashPassword("pw", testParams)
	if err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(good, "$")
	salt, key := parts[4], parts[5]
	join := func(p ...string) string { return strings.Join(p, "$") }
	tests := []string{
		"",
		"$",
		"plaintext",
		"$argon2id",
		"$argon2id$v=19",
		"$argon2id$v=19$m=64,t=1,p=1",
		"$argon2id$v=19$m=64,t=1,p=1$" + salt,
		"$argon2id$v=19$m=64,t=1,p=1$" + salt + "$",
		good + "$",
		"x" + good,
		strings.Replace(good, "argon2id", "argon2i", 1),
		strings.Replace(good, "argon2id", "bcrypt", 1),
		strings.Replace(good, "v=19", "v=16", 1),
		strings.Replace(good, "v=19", "v=", 1),
		strings.Replace(good, "v=19", "19", 1),
		strings.Replace(good, "v=19", "v=99999999999999999999", 1),
		join("", "argon2id", "v=19", "m=64,t=1", salt, key),
		join("", "argon2id", "v=19", "m=64,t=1,p=1,k=2", salt, key),
		join("", "argon2id", "v=19", "t=1,m=64,p=1", salt, key),
		join("", "argon2id", "v=19", "m=64,t=0,p=1", salt, key),
		join("", "argon2id", "v=19", "m=64,t=1,p=0", salt, key),
		join("", "argon2id", "v=19", "m=0,t=1,p=1", salt, key),
		join("", "argon2id", "v=19", "m=-64,t=1,p=1", salt, key),
		join("", "argon2id", "v=19", "m=+64,t=1,p=1", salt, key),
		join("", "argon2id", "v=19", "m=064,t=1,p=1", salt, key),
		join("", "argon2id", "v=19", "m=64,t=1,p=256", salt, key),
		join("", "argon2id", "v=19", "m=4294967295,t=1,p=1", salt, key),
		join("", "argon2id", "v=19", "m=4294967296,t=1,p=1", salt, key),
		join("", "argon2id", "v=19", "m=64,t=4294967295,p=1", salt, key),
		join("", "argon2id", "v=19", "m=64,t=1,p=1", "!!!!", key),
		join("", "argon2id", "v=19", "m=64,t=1,p=1", salt+"==", key),
		join("", "argon2id", "v=19", "m=64,t=1,p=1", "", key),
		join("", "argon2id", "v=19", "m=64,t=1,p=1", "c2FsdA", key), // 4-byte salt
		join("", "argon2id", "v=19", "m=64,t=1,p=1", salt, ""),
		join("", "argon2id", "v=19", "m=64,t=1,p=1", salt, key[:8]),
		join("", "argon2id", "v=19", "m=64,t=1,p=1", salt, strings.Repeat("A", 400)),
		join("", "argon2id", "v=19", "m=64,t=1,p=1", salt, key+"\n"),
	}
	for _, enc := range tests {
		ok, err := VerifyPassword(enc, "pw")
		if err == nil || ok {
			t.Errorf("VerifyPassword(%q) = %v, %v; want false and an error", enc, ok, err)
			continue
		}
		if !strings.HasPrefix(err.Error(), "store: verify password: ") {
			t.Errorf("VerifyPassword(%q) error %q lacks store: context", enc, err)
		}
	}
	if ok, err := VerifyPassword(good, "pw"); !ok || err != nil {
		t.Fatalf("VerifyPassword(good) = %v, %v", ok, err)
	}
}

func FuzzVerifyPassword(f *testing.F) {
	good, err := HashPassword("pw", testParams)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good, "pw")
	f.Add("$argon2id$v=19$m=64,t=1,p=1$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "x")
	f.Add("$argon2id$v=19$m=,t=,p=$$", "")
	f.Fuzz(func(t *testing.T, encoded, password string) {
		p, _, _, err := decodeHash(encoded)
		if err == nil && (p.MemoryKiB > 4096 || p.Time > 4) {
			t.Skip("valid but too costly to run while fuzzing")
		}
		ok, err := VerifyPassword(encoded, password)
		if err != nil && ok {
			t.Fatalf("VerifyPassword = true with error %v", err)
		}
	})
}
