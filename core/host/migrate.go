package host

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"text/tabwriter"

	"github.com/portico-mud/portico/core/store"
	"github.com/spf13/cobra"
)

// migrateCmd is `portico migrate`: the SQLite database copied into a new
// PostgreSQL database.
func migrateCmd(load loader) *cobra.Command {
	var to string
	c := &cobra.Command{
		Use:   "migrate [--to postgres://USER:PASSWORD@HOST:PORT/DBNAME]",
		Short: "Copy the SQLite database (data_dir/portico.db) into a new, empty PostgreSQL database: the one --to names, or else server.database. The host must be stopped; afterwards, set server.database to the URL and start it",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := load()
			if err != nil {
				return err
			}
			if to == "" {
				to = cfg.Server.Database
			}
			if !store.IsPostgres(to) {
				return errors.New("migrate: give the PostgreSQL database with --to postgres://USER:PASSWORD@HOST:PORT/DBNAME (or set server.database)")
			}
			from := cfg.DBPath()
			if _, err := os.Stat(from); err != nil {
				return fmt.Errorf("migrate: no SQLite database to copy: %w", err)
			}
			// Held while copying: a host that starts meanwhile would write
			// to the SQLite database after the copy read it.
			if err := os.MkdirAll(cfg.RunDir(), 0o700); err != nil {
				return fmt.Errorf("migrate: %w", err)
			}
			lock, err := lockPIDFile(filepath.Join(cfg.RunDir(), "portico.pid"))
			if err != nil {
				return fmt.Errorf("migrate: %w: stop it first", err)
			}
			defer lock.release()

			opts := store.Options{Argon2: store.Argon2Params{MemoryKiB: cfg.Server.Argon2MemoryKiB, Time: cfg.Server.Argon2Time}}
			src, err := store.OpenSQLite(from, opts)
			if err != nil {
				return fmt.Errorf("migrate: %w", err)
			}
			defer src.Close()
			dst, err := store.OpenPostgres(to, opts)
			if err != nil {
				return fmt.Errorf("migrate: %w", err)
			}
			defer dst.Close()
			report, err := src.CopyTo(cmd.Context(), dst)
			if err != nil {
				return fmt.Errorf("migrate: %w", err)
			}
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "copied %s into %s:\n", src, dst)
			tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
			for _, t := range report {
				fmt.Fprintf(tw, "  %s\t%d rows\n", t.Table, t.Rows)
			}
			tw.Flush()
			if cfg.Server.Database == "" {
				fmt.Fprintln(out, "To run on it, set server.database (or PORTICO_SERVER_DATABASE) to its URL and start the host.")
			}
			return nil
		},
	}
	c.Flags().StringVar(&to, "to", "", "URL of the PostgreSQL database to copy into (it must exist and hold no account); default server.database")
	return c
}
