package host

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/portico-mud/portico/core/control"
	"github.com/portico-mud/portico/core/sessions"
	"github.com/portico-mud/portico/core/store"
	"github.com/spf13/cobra"
)

// cmdLimitsClear is the control command of `portico limits clear`.
const cmdLimitsClear = "limits_clear"

// limitsCmd is `portico limits clear [ADDRESS|ACCOUNT]`.
func limitsCmd(load loader) *cobra.Command {
	limits := &cobra.Command{Use: "limits", Short: "Lift the login and account-creation throttles"}
	limits.AddCommand(&cobra.Command{
		Use:   "clear [ADDRESS|ACCOUNT]",
		Short: "Lift the throttles of an address or an account (every one without an argument), in the running host or in the database",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			target := ""
			if len(args) == 1 {
				target = args[0]
			}
			cfg, err := load()
			if err != nil {
				return err
			}
			data, err := callHostOr(cfg, control.Request{Cmd: cmdLimitsClear, Args: map[string]string{"target": target}},
				func() (json.RawMessage, error) {
					var n int
					err := withStore(cfg, func(st *store.Store) (err error) {
						n, err = clearStoredThrottles(st, target)
						return err
					})
					if err != nil {
						return nil, err
					}
					return json.Marshal(map[string]int{"cleared": n})
				})
			var out struct {
				Cleared int `json:"cleared"`
			}
			if err == nil {
				err = json.Unmarshal(data, &out)
			}
			if err != nil {
				return fmt.Errorf("limits clear: %w", err)
			}
			what := "every address and account"
			if target != "" {
				what = target
			}
			fmt.Fprintf(cmd.OutOrStdout(), "cleared %d throttle counter(s) of %s\n", out.Cleared, what)
			return nil
		},
	})
	return limits
}

// clearStoredThrottles deletes target's throttle counters from the
// database, for `portico limits clear` when no host runs (a host keeps
// them in memory and saves them there).
func clearStoredThrottles(st *store.Store, target string) (int, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	now := time.Now()
	entries, err := st.LoadThrottles(ctx, now)
	if err != nil {
		return 0, err
	}
	var gone []store.ThrottleEntry
	for _, e := range entries {
		if sessions.ThrottleKeyMatches(e.Key, target) {
			gone = append(gone, store.ThrottleEntry{Key: e.Key})
		}
	}
	if len(gone) == 0 {
		return 0, nil
	}
	return len(gone), st.SaveThrottles(ctx, gone, now)
}
