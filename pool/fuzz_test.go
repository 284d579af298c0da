package pool

import (
	"bytes"
	"testing"
)

// FuzzDecode feeds arbitrary bytes to the item decoder: it must reject or
// accept without panicking, and an accepted item must re-encode to the same
// bytes.
func FuzzDecode(f *testing.F) {
	it := Item{Key: []byte("key"), Value: []byte("value"), Type: 2, NS: 1, DB: 3, Expire: 12345, Version: 7, Dirty: true}
	b := make([]byte, it.Size())
	it.encode(b)
	f.Add(b)
	f.Add([]byte{1, 0, 0, 0})
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, b []byte) {
		var v View
		if !decode(b, &v) {
			return
		}
		re := Item{Key: v.Key, Value: v.Value, Type: v.Type, NS: v.NS, DB: v.DB, Expire: v.Expire, Version: v.Version, Dirty: v.Dirty()}
		out := make([]byte, re.Size())
		re.encode(out)
		// Non-minimal varints or a zero optional field decode fine but
		// re-encode shorter; compare the decoded meaning instead then.
		var v2 View
		if !decode(out, &v2) || !bytes.Equal(v2.Key, v.Key) || !bytes.Equal(v2.Value, v.Value) ||
			v2.Type != v.Type || v2.NS != v.NS || v2.DB != v.DB || v2.Expire != v.Expire || v2.Version != v.Version {
			t.Fatalf("re-encode changed the item: %+v vs %+v", v, v2)
		}
		if v.Size > len(b) {
			t.Fatalf("size %d beyond input %d", v.Size, len(b))
		}
	})
}

// FuzzItem round-trips items built from fuzzed fields.
func FuzzItem(f *testing.F) {
	f.Add([]byte("k"), []byte("v"), byte(0), byte(0), uint32(0), uint64(0), uint64(0), false)
	f.Add([]byte(""), []byte("0123456789"), byte(9), byte(255), uint32(1<<31), uint64(1<<63), uint64(1), true)
	f.Fuzz(func(t *testing.T, k, val []byte, typ, ns byte, db uint32, exp, ver uint64, dirty bool) {
		it := Item{Key: k, Value: val, Type: typ, NS: ns, DB: db, Expire: exp, Version: ver, Dirty: dirty}
		b := make([]byte, it.Size())
		if n := it.encode(b); n != len(b) {
			t.Fatalf("encode %d bytes, Size %d", n, len(b))
		}
		var v View
		if !decode(b, &v) || !bytes.Equal(v.Key, k) || !bytes.Equal(v.Value, val) || v.Type != typ || v.NS != ns ||
			v.DB != db || v.Expire != exp || v.Version != ver || v.Dirty() != dirty || v.Size != len(b) {
			t.Fatalf("round trip failed: %+v", v)
		}
	})
}

// FuzzSegments runs fuzzed programs of Put/Free/Compact/Expired/SetLimit
// against a model of the pool (see runOps).
func FuzzSegments(f *testing.F) {
	f.Add([]byte{0, 10, 20, 0, 30, 40, 2, 0, 0, 3, 0, 0, 4, 15, 0, 5, 1, 0})
	f.Add(bytes.Repeat([]byte{0, 200, 255, 1, 100, 7, 2, 3, 4}, 40))
	f.Fuzz(func(t *testing.T, ops []byte) {
		if len(ops) > 6000 {
			ops = ops[:6000]
		}
		runOps(t, ops)
	})
}
