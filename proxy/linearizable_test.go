package proxy

import (
	"fmt"
	"math/rand/v2"
	"os"
	"sort"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"

	"github.com/respcache/respcache/internal/redistest"
)

// kvInput is one operation of the linearizability check.
type kvInput struct {
	op    string // get, set, del, incr
	key   string
	value string // set
}

// kvOutput is what the client saw.
type kvOutput struct {
	value  string // get (absent: ""), incr (the new value)
	exists bool   // get: the key existed; del: it was deleted
	err    string
}

type kvState struct {
	exists bool
	value  string
}

// kvModel is a Redis string keyspace restricted to GET, SET, DEL and INCR.
var kvModel = porcupine.Model{
	Partition: func(history []porcupine.Operation) [][]porcupine.Operation {
		byKey := map[string][]porcupine.Operation{}
		for _, op := range history {
			k := op.Input.(kvInput).key
			byKey[k] = append(byKey[k], op)
		}
		out := make([][]porcupine.Operation, 0, len(byKey))
		for _, ops := range byKey {
			out = append(out, ops)
		}
		return out
	},
	Init: func() any { return kvState{} },
	Step: func(state, input, output any) (bool, any) {
		st, in, out := state.(kvState), input.(kvInput), output.(kvOutput)
		switch in.op {
		case "get":
			return out.err == "" && out.exists == st.exists && (!st.exists || out.value == st.value), st
		case "set":
			return out.err == "", kvState{exists: true, value: in.value}
		case "del":
			return out.err == "" && out.exists == st.exists, kvState{}
		case "incr":
			n := int64(0)
			if st.exists {
				v, err := strconv.ParseInt(st.value, 10, 64)
				if err != nil {
					return out.err != "", st
				}
				n = v
			}
			next := strconv.FormatInt(n+1, 10)
			return out.err == "" && out.value == next, kvState{exists: true, value: next}
		}
		return false, st
	},
	Equal: func(a, b any) bool { return a.(kvState) == b.(kvState) },
	DescribeOperation: func(input, output any) string {
		return fmt.Sprintf("%v -> %v", input, output)
	},
}

// TestCacheLinearizable runs concurrent GET/SET/DEL/INCR on a few keys
// through one respcache (write-through, tracking on) and checks the history
// with porcupine.
func TestCacheLinearizable(t *testing.T) {
	// "off" takes the invalidation link away: then the write path alone
	// must keep the cache linearizable (with the link, its invalidations
	// could hide a write-path bug).
	// Three rounds each: the races it catches need unlucky timing (the
	// MULTI interleaving and waiter bugs it found showed once in ~10-60
	// runs before they were fixed; 100 runs pass now).
	for _, inv := range []string{"tracking", "off"} {
		t.Run(inv, func(t *testing.T) {
			for round := 0; round < 3 && !t.Failed(); round++ {
				testLinearizable(t, inv)
			}
		})
	}
}

func testLinearizable(t *testing.T, invalidation string) {
	rs := redistest.Start(t)
	p := startCached(t, rs.Addr(), CacheConfig{NegativeTTL: time.Minute, Invalidation: invalidation})
	const clients, opsPerClient = 8, 250
	keys := []string{"lin:a", "lin:b", "lin:c"}
	var mu sync.Mutex
	var history []porcupine.Operation
	start := time.Now()
	var wg sync.WaitGroup
	for id := 0; id < clients; id++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			conn, err := redistest.DialRaw(p.Addr, 5*time.Second)
			if err != nil {
				t.Error(err)
				return
			}
			defer conn.Close()
			rng := rand.New(rand.NewPCG(uint64(id), 7))
			for i := 0; i < opsPerClient; i++ {
				in := kvInput{key: keys[rng.IntN(len(keys))]}
				var args []string
				switch r := rng.IntN(10); {
				case r < 5:
					in.op, args = "get", []string{"GET", in.key}
				case r < 7:
					in.op, in.value = "set", strconv.Itoa(rng.IntN(100))
					args = []string{"SET", in.key, in.value}
				case r < 8:
					in.op, args = "del", []string{"DEL", in.key}
				default:
					in.op, args = "incr", []string{"INCR", in.key}
				}
				call := time.Since(start).Nanoseconds()
				reply, err := conn.Do(args...)
				ret := time.Since(start).Nanoseconds()
				if err != nil {
					t.Error(err)
					return
				}
				out := parseKVReply(in.op, reply)
				mu.Lock()
				history = append(history, porcupine.Operation{ClientId: id, Input: in, Call: call, Output: out, Return: ret})
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	res, info := porcupine.CheckOperationsVerbose(kvModel, history, 60*time.Second)
	if res != porcupine.Ok {
		t.Errorf("history of %d operations is %s", len(history), res)
		for _, part := range info.PartialLinearizationsOperations() {
			if len(part) > 0 && len(part[0]) > 0 {
				t.Logf("longest partial linearization ends at %+v", part[0][len(part[0])-1])
			}
		}
		if os.Getenv("LIN_DUMP") != "" { // the operations around the failure, for debugging
			for _, part := range info.PartialLinearizationsOperations() {
				if len(part) == 0 || len(part[0]) == 0 {
					continue
				}
				last := part[0][len(part[0])-1]
				key := last.Input.(kvInput).key
				var ops []porcupine.Operation
				for _, op := range history {
					if op.Input.(kvInput).key == key && op.Call > last.Call-20_000_000 && op.Call < last.Return+20_000_000 {
						ops = append(ops, op)
					}
				}
				sort.Slice(ops, func(i, j int) bool { return ops[i].Call < ops[j].Call })
				for _, op := range ops {
					t.Logf("c%d %v %v [%d, %d]", op.ClientId, op.Input, op.Output, op.Call/1000, op.Return/1000)
				}
			}
		}
	}
	if in := p.srv.Info(); in.CacheHits == 0 {
		t.Errorf("no cache hits: the check did not exercise the cache (%+v)", in)
	}
}

func parseKVReply(op string, r []byte) kvOutput {
	s := string(r)
	if len(s) > 0 && s[0] == '-' {
		return kvOutput{err: s}
	}
	switch op {
	case "get":
		if s == "$-1\r\n" {
			return kvOutput{}
		}
		var n int
		fmt.Sscanf(s, "$%d\r\n", &n)
		i := len(s) - 2 - n
		return kvOutput{exists: true, value: s[i : i+n]}
	case "del":
		return kvOutput{exists: s == ":1\r\n"}
	case "incr":
		return kvOutput{value: s[1 : len(s)-2]}
	}
	return kvOutput{}
}
