package writeapply

import (
	"bytes"
	"strconv"
)

// Redis's defaults for keeping a hash as a listpack (insertion-ordered);
// beyond them it becomes a hashtable and its iteration order is Redis's own.
const (
	listpackMaxEntries = 128
	listpackMaxValue   = 64
)

func (a *Applier) maxEntries() int64 {
	if a.ListpackEntries > 0 {
		return a.ListpackEntries
	}
	return listpackMaxEntries
}

func (a *Applier) maxValue() int64 {
	if a.ListpackValue > 0 {
		return a.ListpackValue
	}
	return listpackMaxValue
}

// hashFind returns the index in fields (alternating field, value) of field,
// or -1: a linear scan, like Redis's listpack lookup.
func hashFind(fields [][]byte, field []byte) int {
	for i := 0; i+1 < len(fields); i += 2 {
		if bytes.Equal(fields[i], field) {
			return i
		}
	}
	return -1
}

// hashForWrite mirrors hashTypeLookupWriteOrCreate: WRONGTYPE for a string,
// else a scratch copy of the field list (empty for a missing key) that the
// command may change and then install with hashInstall.
func (x *exec) hashForWrite(st *Value) ([][]byte, bool) {
	if st.Kind == String {
		x.dst = appendErr(x.dst, msgWrongType)
		return nil, false
	}
	return append(x.a.fields[:0], st.Fields...), true
}

// hashInstall makes fields the key's new hash (or deletes the key when it is
// empty), keeping its expiry and tracking the listpack → hashtable
// conversion.
func (x *exec) hashInstall(st *Value, fields [][]byte, unordered bool) {
	x.a.fields = fields
	if len(fields) == 0 {
		*st = Value{}
		return
	}
	if int64(len(fields)/2) > x.a.maxEntries() {
		unordered = true
	}
	*st = Value{Kind: Hash, Fields: fields, ExpireAt: st.ExpireAt, Unordered: st.Unordered || unordered}
}

func (x *exec) tooLongForListpack(bs ...[]byte) bool {
	for _, b := range bs {
		if int64(len(b)) > x.a.maxValue() {
			return true
		}
	}
	return false
}

// hashSet sets field to value in place or appends it; it reports whether
// the field is new.
func hashSet(fields [][]byte, field, value []byte) ([][]byte, bool) {
	if i := hashFind(fields, field); i >= 0 {
		fields[i+1] = value
		return fields, false
	}
	return append(fields, field, value), true
}

func runHset(x *exec)  { x.hsetGeneric(true) }
func runHmset(x *exec) { x.hsetGeneric(false) }

func (x *exec) hsetGeneric(isHset bool) {
	if len(x.args)%2 == 1 {
		x.dst = appendArityErr(x.dst, x.cmd.name)
		return
	}
	st := x.state(0)
	fields, ok := x.hashForWrite(st)
	if !ok {
		return
	}
	unordered := false
	var created int64
	for i := 2; i+1 < len(x.args); i += 2 {
		f, v := x.args[i], x.args[i+1]
		if x.tooLongForListpack(f, v) {
			unordered = true
		}
		var isNew bool
		if fields, isNew = hashSet(fields, f, v); isNew {
			created++
		}
	}
	x.hashInstall(st, fields, unordered)
	x.changed = true
	if isHset {
		x.dst = appendInt(x.dst, created)
	} else {
		x.dst = appendOK(x.dst)
	}
}

func runHsetnx(x *exec) {
	st := x.state(0)
	if st.Kind == String {
		x.dst = appendErr(x.dst, msgWrongType)
		return
	}
	f, v := x.args[2], x.args[3]
	// hashTypeTryConversion runs before the existence check: a long field or
	// value converts an existing hash even when nothing is set.
	unordered := x.tooLongForListpack(f, v)
	if st.Kind == Hash && hashFind(st.Fields, f) >= 0 {
		if unordered && !st.Unordered {
			st.Unordered = true
			x.changed = true // no data changed, but the order caveat must stick
		}
		x.dst = append(x.dst, ":0\r\n"...)
		return
	}
	fields, _ := x.hashForWrite(st)
	fields = append(fields, f, v)
	x.hashInstall(st, fields, unordered)
	x.changed = true
	x.dst = append(x.dst, ":1\r\n"...)
}

func runHdel(x *exec) {
	st := x.state(0)
	switch st.Kind {
	case Absent:
		x.dst = append(x.dst, ":0\r\n"...)
		return
	case String:
		x.dst = appendErr(x.dst, msgWrongType)
		return
	}
	fields, _ := x.hashForWrite(st)
	var deleted int64
	for _, f := range x.args[2:] {
		if i := hashFind(fields, f); i >= 0 {
			fields = append(fields[:i], fields[i+2:]...)
			deleted++
			if len(fields) == 0 {
				break
			}
		}
	}
	if deleted > 0 {
		x.hashInstall(st, fields, false)
		x.changed = true
	}
	x.dst = appendInt(x.dst, deleted)
}

func runHincrby(x *exec) {
	incr, ok := parseInt(x.args[3])
	if !ok {
		x.dst = appendErr(x.dst, msgNotInt)
		return
	}
	st := x.state(0)
	fields, ok := x.hashForWrite(st)
	if !ok {
		return
	}
	f := x.args[2]
	var v int64
	if i := hashFind(fields, f); i >= 0 {
		if v, ok = parseInt(fields[i+1]); !ok {
			x.dst = appendErr(x.dst, msgHashNotInt)
			return
		}
	}
	if addOverflows(v, incr) {
		x.dst = appendErr(x.dst, msgOverflow)
		return
	}
	v += incr
	b := x.keep(strconv.AppendInt(x.scratch(), v, 10))
	fields, _ = hashSet(fields, f, b)
	x.hashInstall(st, fields, x.tooLongForListpack(f))
	x.changed = true
	x.dst = appendInt(x.dst, v)
}

func runHincrbyfloat(x *exec) {
	incr, ok := parseLD(x.args[3])
	if !ok {
		x.dst = appendErr(x.dst, msgNotFloat)
		return
	}
	if incr.inf != 0 {
		x.dst = appendErr(x.dst, msgIncrNaNInf)
		return
	}
	st := x.state(0)
	fields, ok := x.hashForWrite(st)
	if !ok {
		return
	}
	f := x.args[2]
	value := ldFromInt(0)
	if i := hashFind(fields, f); i >= 0 {
		if value, ok = parseLD(fields[i+1]); !ok {
			x.dst = appendErr(x.dst, msgHashNotFloat)
			return
		}
	}
	sum, ok := addLD(value, incr)
	if !ok || sum.inf != 0 {
		x.dst = appendErr(x.dst, msgNaNInf)
		return
	}
	b := x.keep(appendHumanLD(x.scratch(), sum))
	fields, _ = hashSet(fields, f, b)
	x.hashInstall(st, fields, x.tooLongForListpack(f, b))
	x.changed = true
	x.dst = appendBulk(x.dst, b)
}
