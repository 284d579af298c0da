package writeapply

import (
	"strconv"
	"testing"
)

// BenchmarkApply answers: what does executing a write locally cost in
// write-back mode, per command, and does it allocate? Run with
//
//	go test -run XXX -bench Apply -benchtime 200000x ./proxy/internal/writeapply/
//
// The caller's side is simulated as the cache would do it: the new state is
// copied into storage the caller owns before the next command.
func BenchmarkApply(b *testing.B) {
	const now = 1_700_000_000_000
	b.Run("SET", func(b *testing.B) {
		args := bytesArgs([]string{"SET", "user:1000:name", "some value of moderate size"})
		cur := []Value{{Kind: String, Str: []byte("old")}}
		var a Applier
		dst := make([]byte, 0, 64)
		b.ReportAllocs()
		for b.Loop() {
			_, dst, _, _ = a.Apply(now, RESP2, args, cur, dst[:0])
		}
		if string(dst) != "+OK\r\n" {
			b.Fatalf("reply %q", dst)
		}
	})
	b.Run("INCR", func(b *testing.B) {
		args := bytesArgs([]string{"INCR", "counter"})
		own := make([]byte, 0, 32)
		own = append(own, "1000"...)
		cur := []Value{{Kind: String, Str: own}}
		var a Applier
		dst := make([]byte, 0, 64)
		b.ReportAllocs()
		n := 0
		for b.Loop() {
			var next []Value
			next, dst, _, _ = a.Apply(now, RESP2, args, cur, dst[:0])
			own = append(own[:0], next[0].Str...)
			cur[0].Str = own
			n++
		}
		if got, want := string(own), strconv.Itoa(1000+n); got != want {
			b.Fatalf("value %q, want %q", got, want)
		}
	})
	b.Run("HSET10", func(b *testing.B) {
		fields := make([][]byte, 0, 20)
		for i := 0; i < 10; i++ {
			fields = append(fields, []byte("field"+strconv.Itoa(i)), []byte("value"+strconv.Itoa(i)))
		}
		cur := []Value{{Kind: Hash, Fields: fields}}
		args := bytesArgs([]string{"HSET", "h", "field7", "new value"})
		var a Applier
		dst := make([]byte, 0, 64)
		b.ReportAllocs()
		for b.Loop() {
			_, dst, _, _ = a.Apply(now, RESP2, args, cur, dst[:0])
		}
		if string(dst) != ":0\r\n" {
			b.Fatalf("reply %q", dst)
		}
	})
	b.Run("HSET10new", func(b *testing.B) {
		fields := make([][]byte, 0, 20)
		for i := 0; i < 10; i++ {
			fields = append(fields, []byte("field"+strconv.Itoa(i)), []byte("value"+strconv.Itoa(i)))
		}
		cur := []Value{{Kind: Hash, Fields: fields}}
		args := bytesArgs([]string{"HSET", "h", "field10", "new value"})
		var a Applier
		dst := make([]byte, 0, 64)
		b.ReportAllocs()
		for b.Loop() {
			_, dst, _, _ = a.Apply(now, RESP2, args, cur, dst[:0])
		}
		if string(dst) != ":1\r\n" {
			b.Fatalf("reply %q", dst)
		}
	})
	b.Run("INCRBYFLOAT", func(b *testing.B) {
		args := bytesArgs([]string{"INCRBYFLOAT", "f", "0.1"})
		cur := []Value{{Kind: String, Str: []byte("10.5")}}
		var a Applier
		dst := make([]byte, 0, 64)
		b.ReportAllocs()
		for b.Loop() {
			_, dst, _, _ = a.Apply(now, RESP2, args, cur, dst[:0])
		}
		if string(dst) != "$4\r\n10.6\r\n" {
			b.Fatalf("reply %q", dst)
		}
	})
}
