//go:build race

package cache

// raceScale shrinks the long tests under the race detector, which slows
// them ~30x; the concurrency test keeps its full size.
const raceScale = 5
