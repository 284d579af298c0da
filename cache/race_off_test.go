//go:build !race

package cache

const raceScale = 1
