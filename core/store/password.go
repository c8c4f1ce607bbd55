package store

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/crypto/argon2"
)

// Default argon2id parameters, after the OWASP password storage cheat sheet
// (m=19456 KiB, t=2, p=1), with a 16-byte salt and a 32-byte key.
const (
	// DefaultArgon2MemoryKiB is the default argon2id memory cost, in KiB.
	DefaultArgon2MemoryKiB uint32 = 19456
	// DefaultArgon2Time is the default number of argon2id passes.
	DefaultArgon2Time uint32 = 2
	// DefaultArgon2Threads is the default argon2id parallelism.
	DefaultArgon2Threads uint8 = 1

	saltLen = 16
	keyLen  = 32
)

// Bounds on argon2id parameters, both those asked of HashPassword and those
// read back from an encoded hash: a hash string is data, and one that asked
// for terabytes of memory or a million passes must fail to parse rather than
// exhaust the machine.
const (
	maxArgon2MemoryKiB = 1 << 21 // 2 GiB
	maxArgon2Time      = 1 << 10
	minHashSaltLen     = 8
	maxHashSaltLen     = 64
	minHashKeyLen      = 16
	maxHashKeyLen      = 128
)

// Argon2Params are the argon2id cost parameters used to hash new passwords.
// A zero field means its default (DefaultArgon2MemoryKiB, DefaultArgon2Time,
// DefaultArgon2Threads). Existing hashes carry their own parameters, so
// changing these never invalidates a stored password.
type Argon2Params struct {
	// MemoryKiB is the memory cost in KiB (argon2 m).
	MemoryKiB uint32
	// Time is the number of passes over the memory (argon2 t).
	Time uint32
	// Threads is the degree of parallelism (argon2 p).
	Threads uint8
}

// withDefaults returns p with every zero field replaced by its default.
func (p Argon2Params) withDefaults() Argon2Params {
	if p.MemoryKiB == 0 {
		p.MemoryKiB = DefaultArgon2MemoryKiB
	}
	if p.Time == 0 {
		p.Time = DefaultArgon2Time
	}
	if p.Threads == 0 {
		p.Threads = DefaultArgon2Threads
	}
	return p
}

// validate reports whether p, with defaults already applied, is within the
// bounds VerifyPassword accepts.
func (p Argon2Params) validate() error {
	switch {
	case p.Time < 1 || p.Time > maxArgon2Time:
		return fmt.Errorf("argon2 time %d out of range [1, %d]", p.Time, maxArgon2Time)
	case p.Threads < 1:
		return errors.New("argon2 threads must be at least 1")
	case p.MemoryKiB < 8*uint32(p.Threads) || p.MemoryKiB > maxArgon2MemoryKiB:
		return fmt.Errorf("argon2 memory %d KiB out of range [%d, %d] for %d threads",
			p.MemoryKiB, 8*uint32(p.Threads), maxArgon2MemoryKiB, p.Threads)
	}
	return nil
}

// HashPassword hashes password with argon2id under p (zero fields take their
// defaults) and a fresh random 16-byte salt, and returns the hash as a PHC
// string: $argon2id$v=19$m=<KiB>,t=<time>,p=<threads>$<salt>$<key>, salt and
// key in unpadded standard base64. It applies no password policy.
func HashPassword(password string, p Argon2Params) (string, error) {
	p = p.withDefaults()
	if err := p.validate(); err != nil {
		return "", fmt.Errorf("store: hash password: %w", err)
	}
	salt := make([]byte, saltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("store: hash password: salt: %w", err)
	}
	key := argon2.IDKey([]byte(password), salt, p.Time, p.MemoryKiB, p.Threads, keyLen)
	return encodeHash(p, salt, key), nil
}

// encodeHash formats an argon2id PHC string.
func encodeHash(p Argon2Params, salt, key []byte) string {
	b64 := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s",
		argon2.Version, p.MemoryKiB, p.Time, p.Threads,
		b64.EncodeToString(salt), b64.EncodeToString(key))
}

// VerifyPassword reports whether password matches encoded, an argon2id PHC
// string as HashPassword makes. The hash is recomputed with the parameters,
// salt and key length recorded in encoded, not with the current defaults, and
// compared in constant time. A malformed encoded string, or one whose
// parameters are out of bounds, yields false and an error.
func VerifyPassword(encoded, password string) (bool, error) {
	p, salt, key, err := decodeHash(encoded)
	if err != nil {
		return false, fmt.Errorf("store: verify password: %w", err)
	}
	got := argon2.IDKey([]byte(password), salt, p.Time, p.MemoryKiB, p.Threads, uint32(len(key)))
	return subtle.ConstantTimeCompare(got, key) == 1, nil
}

// decodeHash parses an argon2id PHC string strictly.
func decodeHash(encoded string) (p Argon2Params, salt, key []byte, err error) {
	parts := strings.Split(encoded, "$")
	// "", "argon2id", "v=19", "m=..,t=..,p=..", salt, key
	if len(parts) != 6 || parts[0] != "" {
		return p, nil, nil, errors.New("malformed hash: want $argon2id$v=..$m=..,t=..,p=..$salt$key")
	}
	if parts[1] != "argon2id" {
		return p, nil, nil, fmt.Errorf("unsupported hash algorithm %q", truncate(parts[1], 20))
	}
	v, ok := strings.CutPrefix(parts[2], "v=")
	if !ok {
		return p, nil, nil, errors.New("malformed hash: missing version")
	}
	if version, err := strconv.ParseUint(v, 10, 32); err != nil || version != argon2.Version {
		return p, nil, nil, fmt.Errorf("unsupported argon2 version %q", truncate(v, 20))
	}
	params := strings.Split(parts[3], ",")
	if len(params) != 3 {
		return p, nil, nil, errors.New("malformed hash: want parameters m=..,t=..,p=..")
	}
	m, err := parseParam(params[0], "m", 32)
	if err != nil {
		return p, nil, nil, err
	}
	t, err := parseParam(params[1], "t", 32)
	if err != nil {
		return p, nil, nil, err
	}
	th, err := parseParam(params[2], "p", 8)
	if err != nil {
		return p, nil, nil, err
	}
	p = Argon2Params{MemoryKiB: uint32(m), Time: uint32(t), Threads: uint8(th)}
	if err := p.validate(); err != nil {
		return Argon2Params{}, nil, nil, fmt.Errorf("malformed hash: %w", err)
	}
	// The decoder skips '\r' and '\n'; a stored hash must not contain them.
	if !isBase64(parts[4]) || !isBase64(parts[5]) {
		return Argon2Params{}, nil, nil, errors.New("malformed hash: salt and key must be unpadded standard base64")
	}
	b64 := base64.RawStdEncoding.Strict()
	if salt, err = b64.DecodeString(parts[4]); err != nil {
		return Argon2Params{}, nil, nil, fmt.Errorf("malformed hash: salt: %w", err)
	}
	if len(salt) < minHashSaltLen || len(salt) > maxHashSaltLen {
		return Argon2Params{}, nil, nil, fmt.Errorf("malformed hash: salt length %d out of range [%d, %d]",
			len(salt), minHashSaltLen, maxHashSaltLen)
	}
	if key, err = b64.DecodeString(parts[5]); err != nil {
		return Argon2Params{}, nil, nil, fmt.Errorf("malformed hash: key: %w", err)
	}
	if len(key) < minHashKeyLen || len(key) > maxHashKeyLen {
		return Argon2Params{}, nil, nil, fmt.Errorf("malformed hash: key length %d out of range [%d, %d]",
			len(key), minHashKeyLen, maxHashKeyLen)
	}
	return p, salt, key, nil
}

// parseParam parses one "name=decimal" argon2 parameter.
func parseParam(s, name string, bits int) (uint64, error) {
	v, ok := strings.CutPrefix(s, name+"=")
	if !ok {
		return 0, fmt.Errorf("malformed hash: want parameter %s=", name)
	}
	// ParseUint in base 10 takes no sign and no separators, but it does take
	// leading zeros; reject those so that one hash has one spelling.
	if len(v) > 1 && v[0] == '0' {
		return 0, fmt.Errorf("malformed hash: parameter %s has leading zeros", name)
	}
	n, err := strconv.ParseUint(v, 10, bits)
	if err != nil {
		return 0, fmt.Errorf("malformed hash: parameter %s=%q is not a %d-bit unsigned integer",
			name, truncate(v, 20), bits)
	}
	return n, nil
}

// isBase64 reports whether s holds only standard base64 alphabet bytes.
func isBase64(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '+' || c == '/') {
			return false
		}
	}
	return true
}

// needsRehash reports whether encoded was made with parameters other than p
// (or cannot be parsed), so that it should be replaced at the next login.
func needsRehash(encoded string, p Argon2Params) bool {
	got, salt, key, err := decodeHash(encoded)
	return err != nil || got != p || len(salt) != saltLen || len(key) != keyLen
}

// truncate shortens s to at most n bytes for use in an error message.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
