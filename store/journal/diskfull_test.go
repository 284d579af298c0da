//go:build linux

package journal

import (
	"context"
	"errors"
	"os/exec"
	"syscall"
	"testing"
)

// mountTmpfs mounts a tmpfs of the given size on a fresh directory, or skips
// the test when mounting is not permitted.
func mountTmpfs(t *testing.T, size string) string {
	t.Helper()
	dir := t.TempDir()
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, "size="+size); err != nil {
		t.Skipf("cannot mount a %s tmpfs to fill the disk (needs root or CAP_SYS_ADMIN): %v", size, err)
	}
	t.Cleanup(func() {
		if err := syscall.Unmount(dir, 0); err != nil {
			// A lazy unmount still frees the memory once nothing uses it.
			if err2 := syscall.Unmount(dir, syscall.MNT_DETACH); err2 != nil {
				t.Errorf("unmount %s: %v", dir, err)
			}
		}
	})
	return dir
}

// TestDiskFull fills a 1 MiB tmpfs: Append fails with an error wrapping
// ENOSPC, nothing of the failed write stays in the file, every acknowledged
// record replays, and the journal works again once Confirm frees space.
func TestDiskFull(t *testing.T) {
	for _, mode := range []string{FsyncAlways, FsyncNo} {
		t.Run(mode, func(t *testing.T) {
			dir := mountTmpfs(t, "1m")
			// Not a divisor of the tmpfs size, so the disk fills in the middle
			// of a segment and a write lands partly.
			opts, lb := testOptions(dir, mode, 100_000)
			j := mustOpen(t, opts)
			value := make([]byte, 1000)
			var want []Entry
			var full error
			for i := 0; i < 5000 && full == nil; i++ {
				for k := range value {
					value[k] = byte(i + k)
				}
				e := &Entry{Key: []byte{byte(i), byte(i >> 8)}, Kind: KindSet, Value: value}
				seq, err := j.Append(context.Background(), e)
				if err != nil {
					full = err
					break
				}
				want = append(want, canonical(e, seq))
			}
			if !errors.Is(full, syscall.ENOSPC) {
				t.Fatalf("Append on a full disk = %v, want an error wrapping ENOSPC", full)
			}
			t.Logf("disk full after %d appends: %v", len(want), full)
			// Still full: still an error, and still no seq consumed.
			if _, err := j.Append(context.Background(), &Entry{Kind: KindSet, Key: []byte("k"), Value: value}); !errors.Is(err, syscall.ENOSPC) {
				t.Fatalf("second Append = %v, want ENOSPC", err)
			}
			last := want[len(want)-1].Seq
			st := j.Stats()
			if st.LastSeq != last {
				t.Fatalf("LastSeq = %d after failed appends, want %d", st.LastSeq, last)
			}
			// The part of the failed write that did land was cut off again.
			var onDisk int64
			for _, f := range segmentFiles(t, dir) {
				onDisk += fileSize(t, f)
			}
			if onDisk != st.Bytes {
				t.Fatalf("segments hold %d bytes, the journal accounts for %d: a partial write was left behind", onDisk, st.Bytes)
			}

			// Confirming frees the sealed segments; appends work again and
			// take the next seq.
			if err := j.Confirm(last - 50); err != nil {
				t.Fatalf("Confirm: %v", err)
			}
			e := &Entry{Kind: KindSet, Key: []byte("after"), Value: value}
			seq, err := j.Append(context.Background(), e)
			if err != nil {
				t.Fatalf("Append after Confirm freed space: %v", err)
			}
			if seq != last+1 {
				t.Fatalf("seq after ENOSPC = %d, want %d", seq, last+1)
			}
			want = append(want, canonical(e, seq))
			mustClose(t, j)

			j = mustOpen(t, opts)
			defer mustClose(t, j)
			checkEntries(t, replayAll(t, j), want[len(want)-51:])
			if contains(lb.String(), "torn tail") {
				t.Fatalf("a failed write left a partial record behind:\n%s", lb.String())
			}
		})
	}
}

// TestDiskFullAtReopen: a journal whose disk is full still opens and
// replays (recovery needs no new space), and reports ENOSPC on Append.
func TestDiskFullAtReopen(t *testing.T) {
	dir := mountTmpfs(t, "256k")
	opts, _ := testOptions(dir, FsyncAlways, 1<<20)
	j := mustOpen(t, opts)
	var want []Entry
	for i := 0; ; i++ {
		e := testEntry(i)
		e.Value = make([]byte, 900)
		e.Kind = KindSet
		seq, err := j.Append(context.Background(), e)
		if err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatalf("Append: %v", err)
			}
			break
		}
		want = append(want, canonical(e, seq))
	}
	mustClose(t, j)
	if out, err := exec.Command("df", dir).CombinedOutput(); err == nil {
		t.Logf("%s", out)
	}
	j = mustOpen(t, opts)
	defer mustClose(t, j)
	checkEntries(t, replayAll(t, j), want)
	if _, err := j.Append(context.Background(), &Entry{Kind: KindSet, Key: []byte("k"), Value: make([]byte, 5000)}); !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("Append = %v, want ENOSPC", err)
	}
}

// TestDiskFullOneSegment fills a tmpfs with a single (large) active
// segment: once every record is confirmed, Confirm replaces the segment to
// free the space, even though the next segment's header would not fit, and
// appends work again with the next seq; a reopen replays only what came
// after.
func TestDiskFullOneSegment(t *testing.T) {
	dir := mountTmpfs(t, "512k")
	opts, lb := testOptions(dir, FsyncNo, 64<<20)
	j := mustOpen(t, opts)
	value := make([]byte, 1000)
	var last uint64
	for i := 0; ; i++ {
		seq, err := j.Append(context.Background(), &Entry{Kind: KindSet, Key: []byte{byte(i), byte(i >> 8)}, Value: value})
		if err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatalf("Append: %v", err)
			}
			break
		}
		last = seq
	}
	if n := len(segmentFiles(t, dir)); n != 1 {
		t.Fatalf("%d segment files, want 1 (the test needs the disk full of one active segment)", n)
	}
	if err := j.Confirm(last); err != nil {
		t.Fatalf("Confirm: %v", err)
	}
	e := &Entry{Kind: KindSet, Key: []byte("after"), Value: value}
	seq, err := j.Append(context.Background(), e)
	if err != nil {
		t.Fatalf("Append after confirming everything on a full disk: %v\n%s", err, lb.String())
	}
	if seq != last+1 {
		t.Fatalf("seq = %d, want %d", seq, last+1)
	}
	mustClose(t, j)
	j = mustOpen(t, opts)
	defer mustClose(t, j)
	checkEntries(t, replayAll(t, j), []Entry{canonical(e, seq)})
}
