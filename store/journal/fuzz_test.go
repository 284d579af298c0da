package journal

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// FuzzDecodeRecord: the decoder never panics, never reads past its input,
// and whatever it accepts is canonical (re-encodes to the same bytes) and
// passes checkEntry, so every accepted record could have been written by
// Append. findValidRecord, recovery's resync scan, runs on the same input.
func FuzzDecodeRecord(f *testing.F) {
	for i := range 12 {
		rec := appendRecord(nil, testEntry(i), uint64(i+1))
		f.Add(rec)
		f.Add(rec[:len(rec)-1])             // torn
		f.Add(append(rec, rec...))          // two frames back to back
		f.Add(append([]byte{0, 0}, rec...)) // misaligned
		flipped := bytes.Clone(rec)
		flipped[len(flipped)/2] ^= 0x10
		f.Add(flipped)
	}
	f.Add([]byte{})
	f.Add(make([]byte, 64))
	f.Fuzz(func(t *testing.T, data []byte) {
		var e Entry
		n, st := decodeRecord(data, &e)
		if st == decodeOK {
			if n < frameHeaderSize+payloadFixedSize || n > len(data) {
				t.Fatalf("decoded size %d out of range (input %d bytes)", n, len(data))
			}
			if err := checkEntry(&e); err != nil {
				t.Fatalf("decoded an entry Append would refuse: %v (%+v)", err, e)
			}
			if re := appendRecord(nil, &e, e.Seq); !bytes.Equal(re, data[:n]) {
				t.Fatalf("not canonical:\n in  %x\n out %x", data[:n], re)
			}
			if recordSize(&e) != n {
				t.Fatalf("recordSize %d != decoded size %d", recordSize(&e), n)
			}
		} else if n != 0 {
			t.Fatalf("failed decode (%v) returned size %d", st, n)
		}
		minSeq := uint64(1)
		if st == decodeOK {
			minSeq = e.Seq
		}
		if off, seq, ok := findValidRecord(data, minSeq); ok {
			if _, st := decodeRecord(data[off:], &e); st != decodeOK || e.Seq != seq || seq < minSeq {
				t.Fatalf("findValidRecord reported offset %d (seq %d), which does not decode: %v", off, seq, st)
			}
		} else if st == decodeOK {
			t.Fatal("findValidRecord missed the valid record at offset 0")
		}
	})
}

// FuzzRecoverTail cuts the newest segment somewhere inside its last record,
// or overwrites bytes there, and appends arbitrary bytes: recovery never
// panics, never loses the intact records before the damage, either cuts the
// tail (and then takes and replays new appends) or reports corruption
// located in the damaged region, and never reports corruption unless a
// valid later record really follows the damage.
func FuzzRecoverTail(f *testing.F) {
	const n = 6
	tmpl := f.TempDir()
	opts, _ := testOptions(tmpl, FsyncNo, 0)
	j, err := Open(context.Background(), opts)
	if err != nil {
		f.Fatal(err)
	}
	var want []Entry
	for i := range n {
		e := testEntry(i + 20)
		seq, err := j.Append(context.Background(), e)
		if err != nil {
			f.Fatal(err)
		}
		want = append(want, canonical(e, seq))
	}
	if err := j.Close(); err != nil {
		f.Fatal(err)
	}
	seg, err := os.ReadFile(filepath.Join(tmpl, segmentName(1)))
	if err != nil {
		f.Fatal(err)
	}
	lastStart := len(seg) - recordSize(testEntry(n-1+20))

	f.Add(uint16(0), uint16(0), []byte{})
	f.Add(uint16(5), uint16(0), []byte{})
	f.Add(uint16(0xffff), uint16(0), []byte{1, 2, 3})
	f.Add(uint16(0xffff), uint16(0), appendRecord(nil, testEntry(99), 2)) // an old seq after the end
	f.Add(uint16(3), uint16(0), make([]byte, 100))
	f.Add(uint16(0xffff), uint16(12), []byte{0xff, 0xff})
	f.Add(uint16(0xffff), uint16(40), []byte("garbage garbage garbage garbage garbage garbage"))
	f.Fuzz(func(t *testing.T, cut, overwriteAt uint16, garbage []byte) {
		if len(garbage) > 4096 {
			garbage = garbage[:4096]
		}
		// Keep a prefix of the last record, then either append the garbage
		// after it (overwriteAt == 0) or write it over the record from
		// overwriteAt-1 on.
		keep := lastStart + int(cut)%(len(seg)-lastStart+1)
		file := bytes.Clone(seg[:keep])
		if overwriteAt == 0 {
			file = append(file, garbage...)
		} else {
			at := lastStart + int(overwriteAt-1)%(len(seg)-lastStart)
			file = append(bytes.Clone(seg[:at]), garbage...)
			if at+len(garbage) < len(seg) {
				file = append(file, seg[at+len(garbage):]...)
			}
		}
		dir := t.TempDir()
		path := filepath.Join(dir, segmentName(1))
		if err := os.WriteFile(path, file, 0o644); err != nil {
			t.Fatal(err)
		}
		o := opts
		o.Dir = dir
		j, err := Open(context.Background(), o)
		if err != nil {
			var ce *CorruptError
			if !errors.As(err, &ce) {
				t.Fatalf("Open: %v (not a *CorruptError)", err)
			}
			if ce.File != path || ce.Offset < int64(lastStart) {
				t.Fatalf("corruption reported at %s:%d, before the damaged record at %d", ce.File, ce.Offset, lastStart)
			}
			if ce.Offset+1 > int64(len(file)) {
				t.Fatalf("corruption reported at %d past the end of the %d byte file", ce.Offset, len(file))
			}
			if _, _, ok := findValidRecord(file[ce.Offset+1:], n); !ok {
				if _, st := decodeRecord(file[ce.Offset:], new(Entry)); st != decodeOK {
					t.Fatalf("corruption reported at %d with no valid later record: %v", ce.Offset, err)
				}
			}
			return
		}
		got, err := tryReplay(j)
		if err != nil {
			t.Fatalf("Replay after a successful Open: %v", err)
		}
		if len(got) < n-1 {
			t.Fatalf("lost intact records: replayed %d, want at least %d", len(got), n-1)
		}
		checkEntries(t, got[:n-1], want[:n-1])
		for i := n - 1; i < len(got); i++ {
			if got[i].Seq != uint64(i+1) {
				t.Fatalf("replayed seq %d at position %d", got[i].Seq, i)
			}
		}
		e := testEntry(7)
		seq, err := j.Append(context.Background(), e)
		if err != nil {
			t.Fatalf("Append after recovery: %v", err)
		}
		if seq != uint64(len(got)+1) {
			t.Fatalf("Append after recovery got seq %d, want %d", seq, len(got)+1)
		}
		if err := j.Close(); err != nil {
			t.Fatal(err)
		}
		j, err = Open(context.Background(), o)
		if err != nil {
			t.Fatalf("reopen after recovery and Append: %v", err)
		}
		defer j.Close()
		again, err := tryReplay(j)
		if err != nil {
			t.Fatalf("Replay after reopen: %v", err)
		}
		checkEntries(t, again, append(got, canonical(e, seq)))
	})
}
