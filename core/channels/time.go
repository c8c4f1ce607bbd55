package channels

import "time"

func unixTime(sec int64) string { return time.Unix(sec, 0).UTC().Format("2006-01-02 15:04:05Z") }
