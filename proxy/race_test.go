//go:build race

package proxy

// raceEnabled: the race detector slows everything several times; timing
// goals are checked with a looser bound under it.
const raceEnabled = true
