//go:build unix

package pool

import "syscall"

const haveMmap = true

// acquire takes n bytes of zeroed memory. mmap'd memory is outside the Go
// heap: the GC neither scans it nor counts it toward GOGC's heap goal, and
// munmap returns it to the OS at once (heap memory would wait for the
// scavenger, inflating RSS after a quota shrink).
func (p *Pool) acquire(n int) []byte {
	if p.heap {
		return make([]byte, n)
	}
	b, err := syscall.Mmap(-1, 0, n, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_ANON|syscall.MAP_PRIVATE)
	if err != nil {
		panic("pool: mmap: " + err.Error())
	}
	return b
}

func (p *Pool) release(b []byte) {
	if p.heap {
		return
	}
	if err := syscall.Munmap(b); err != nil {
		panic("pool: munmap: " + err.Error())
	}
}
