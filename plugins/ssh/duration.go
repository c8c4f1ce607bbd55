package main

import "github.com/portico-mud/portico/sdk"

// Duration is sdk.Duration: a config duration ("30s" or seconds).
type Duration = sdk.Duration
