package disk

import (
	_ "embed"
	"fmt"
	"sync"
)

// commandData is redis-server 7.0.15's COMMAND INFO and COMMAND DOCS for
// every command, in RESP2 then RESP3, captured by internal/cmdgen. COMMAND
// serves the entries of the supported commands from it byte for byte.
//
//go:embed testdata/commands-7.0.15.resp
var commandData []byte

type cmdIndex struct {
	info [2]map[string][]byte // [proto 2, proto 3] name -> COMMAND INFO entry
	docs [2]map[string][]byte // name -> COMMAND DOCS value
}

var (
	cmdOnce sync.Once
	cmdIdx  *cmdIndex
	cmdErr  error
)

// loadCommandData indexes commandData on first use.
func loadCommandData() (*cmdIndex, error) {
	cmdOnce.Do(func() { cmdIdx, cmdErr = indexCommandData(commandData) })
	return cmdIdx, cmdErr
}

// indexCommandData splits the four captured frames into per-command
// entries.
func indexCommandData(b []byte) (*cmdIndex, error) {
	idx := &cmdIndex{}
	pos := 0
	for p := 0; p < 2; p++ {
		for kind := 0; kind < 2; kind++ {
			n, ok := frameLen(b[pos:], 0)
			if !ok {
				return nil, fmt.Errorf("%w: embedded command data frame %d", ErrCorrupt, 2*p+kind)
			}
			elems, ok := aggregateElems(b[pos : pos+n])
			if !ok {
				return nil, fmt.Errorf("%w: embedded command data frame %d is not an aggregate", ErrCorrupt, 2*p+kind)
			}
			pos += n
			m := map[string][]byte{}
			if kind == 0 {
				for _, e := range elems {
					fields, ok := aggregateElems(e)
					if !ok || len(fields) == 0 {
						return nil, fmt.Errorf("%w: command info entry", ErrCorrupt)
					}
					name, ok := bulkValue(fields[0])
					if !ok {
						return nil, fmt.Errorf("%w: command info name", ErrCorrupt)
					}
					m[string(name)] = e
				}
				idx.info[p] = m
			} else {
				for i := 0; i+1 < len(elems); i += 2 {
					name, ok := bulkValue(elems[i])
					if !ok {
						return nil, fmt.Errorf("%w: command docs name", ErrCorrupt)
					}
					m[string(name)] = elems[i+1]
				}
				idx.docs[p] = m
			}
		}
	}
	return idx, nil
}
