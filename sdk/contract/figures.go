package contract

// Names of a plugin's own figures (PluginFigures.counters and gauges):
// the plugin (sdk Portal.AddFigure, SetFigure) and the host, which serves
// each as a label value of its metrics, check them alike.

// MaxFigures bounds a plugin's own figures of each kind: each becomes a
// series on the host's scrape.
const MaxFigures = 64

// ValidFigureName reports whether name may name a plugin's own figure: a
// lower case letter, then lower case letters, digits and underscores, at
// most 63 in all.
func ValidFigureName(name string) bool {
	if name == "" || len(name) > 63 || name[0] < 'a' || name[0] > 'z' {
		return false
	}
	for i := 1; i < len(name); i++ {
		c := name[i]
		if (c < 'a' || c > 'z') && (c < '0' || c > '9') && c != '_' {
			return false
		}
	}
	return true
}
