package writeapply

import (
	"math"
	"slices"
	"strconv"
)

// Flags of SET and GETEX, as Redis's parseExtendedStringArgumentsOrReply
// collects them.
const (
	fNX = 1 << iota
	fXX
	fGet
	fKeepTTL
	fPersist
	fEX
	fPX
	fEXAT
	fPXAT
)

const (
	unitSeconds = iota
	unitMillis
)

// parseExtended mirrors parseExtendedStringArgumentsOrReply: options from
// args[start:]; NX, XX, GET and KEEPTTL only for SET, PERSIST only for
// GETEX; an option that clashes with one already seen, or an expire option
// without a value, is a syntax error. A repeated EX (or PX…) is allowed and
// the last value wins.
func (x *exec) parseExtended(start int, isSet bool) (flags int, expire []byte, unit int, ok bool) {
	args := x.args
	unit = unitSeconds
	for j := start; j < len(args); j++ {
		opt := args[j]
		hasNext := j < len(args)-1
		const expires = fEX | fPX | fEXAT | fPXAT
		switch {
		case isSet && eqFold(opt, "nx") && flags&fXX == 0:
			flags |= fNX
		case isSet && eqFold(opt, "xx") && flags&fNX == 0:
			flags |= fXX
		case isSet && eqFold(opt, "get"):
			flags |= fGet
		case isSet && eqFold(opt, "keepttl") && flags&(fPersist|expires) == 0:
			flags |= fKeepTTL
		case !isSet && eqFold(opt, "persist") && flags&(expires|fKeepTTL) == 0:
			flags |= fPersist
		case eqFold(opt, "ex") && flags&(fKeepTTL|fPersist|fEXAT|fPX|fPXAT) == 0 && hasNext:
			flags |= fEX
			unit = unitSeconds
			expire = args[j+1]
			j++
		case eqFold(opt, "px") && flags&(fKeepTTL|fPersist|fEX|fEXAT|fPXAT) == 0 && hasNext:
			flags |= fPX
			unit = unitMillis
			expire = args[j+1]
			j++
		case eqFold(opt, "exat") && flags&(fKeepTTL|fPersist|fEX|fPX|fPXAT) == 0 && hasNext:
			flags |= fEXAT
			unit = unitSeconds
			expire = args[j+1]
			j++
		case eqFold(opt, "pxat") && flags&(fKeepTTL|fPersist|fEX|fEXAT|fPX) == 0 && hasNext:
			flags |= fPXAT
			unit = unitMillis
			expire = args[j+1]
			j++
		default:
			x.dst = appendErr(x.dst, msgSyntax)
			return 0, nil, 0, false
		}
	}
	return flags, expire, unit, true
}

// expireMillis mirrors getExpireMillisecondsOrReply: a positive integer, in
// range once converted to milliseconds, made absolute for EX/PX, and still
// positive afterwards (an overflowing sum wraps negative in C, as here).
func (x *exec) expireMillis(expire []byte, flags, unit int, name string) (int64, bool) {
	ms, ok := parseInt(expire)
	if !ok {
		x.dst = appendErr(x.dst, msgNotInt)
		return 0, false
	}
	if ms <= 0 || (unit == unitSeconds && ms > math.MaxInt64/1000) {
		x.dst = appendExpireErr(x.dst, name)
		return 0, false
	}
	if unit == unitSeconds {
		ms *= 1000
	}
	if flags&(fEX|fPX) != 0 {
		ms += x.now
	}
	if ms <= 0 {
		x.dst = appendExpireErr(x.dst, name)
		return 0, false
	}
	return ms, true
}

func runSet(x *exec) {
	flags, expire, unit, ok := x.parseExtended(3, true)
	if !ok {
		return
	}
	x.setGeneric(flags, x.args[2], expire, unit, "set", "", "")
}

func runSetnx(x *exec) {
	x.setGeneric(fNX, x.args[2], nil, 0, "setnx", ":1\r\n", ":0\r\n")
}

func runSetex(x *exec) {
	x.setGeneric(fEX, x.args[3], x.args[2], unitSeconds, "setex", "", "")
}

func runPsetex(x *exec) {
	x.setGeneric(fPX, x.args[3], x.args[2], unitMillis, "psetex", "", "")
}

// setGeneric mirrors setGenericCommand: the expire is validated first, then
// GET replies the old value (or fails on a non-string), then NX/XX decide.
func (x *exec) setGeneric(flags int, val, expire []byte, unit int, name string, okReply, abortReply string) {
	var when int64
	if expire != nil {
		var ok bool
		if when, ok = x.expireMillis(expire, flags, unit, name); !ok {
			return
		}
	}
	st := x.state(0)
	if flags&fGet != 0 {
		if !x.getGeneric(st) {
			return
		}
	}
	found := st.Kind != Absent
	if (flags&fNX != 0 && found) || (flags&fXX != 0 && !found) {
		if flags&fGet == 0 {
			if abortReply != "" {
				x.dst = append(x.dst, abortReply...)
			} else {
				x.dst = appendNull(x.dst, x.proto)
			}
		}
		return
	}
	var keep int64
	if flags&fKeepTTL != 0 {
		keep = st.ExpireAt
	}
	*st = Value{Kind: String, Str: val, ExpireAt: keep}
	if expire != nil {
		st.ExpireAt = when
	}
	x.changed = true
	if flags&fGet == 0 {
		if okReply != "" {
			x.dst = append(x.dst, okReply...)
		} else {
			x.dst = appendOK(x.dst)
		}
	}
}

// getGeneric mirrors getGenericCommand: null for a missing key, WRONGTYPE
// (and false) for a non-string, else the value.
func (x *exec) getGeneric(st *Value) bool {
	switch st.Kind {
	case Absent:
		x.dst = appendNull(x.dst, x.proto)
	case String:
		x.dst = appendBulk(x.dst, st.Str)
	default:
		x.dst = appendErr(x.dst, msgWrongType)
		return false
	}
	return true
}

func runGetset(x *exec) {
	st := x.state(0)
	if !x.getGeneric(st) {
		return
	}
	*st = Value{Kind: String, Str: x.args[2]}
	x.changed = true
}

func runGetdel(x *exec) {
	st := x.state(0)
	if !x.getGeneric(st) {
		return
	}
	if st.Kind != Absent {
		*st = Value{}
		x.changed = true
	}
}

func runGetex(x *exec) {
	flags, expire, unit, ok := x.parseExtended(2, false)
	if !ok {
		return
	}
	st := x.state(0)
	switch st.Kind {
	case Absent:
		x.dst = appendNull(x.dst, x.proto)
		return
	case Hash:
		x.dst = appendErr(x.dst, msgWrongType)
		return
	}
	var when int64
	if expire != nil {
		if when, ok = x.expireMillis(expire, flags, unit, "getex"); !ok {
			return
		}
	}
	x.dst = appendBulk(x.dst, st.Str)
	switch {
	case flags&(fPXAT|fEXAT) != 0 && when <= x.now:
		// checkAlreadyExpired: an absolute time already passed deletes.
		*st = Value{}
		x.changed = true
	case expire != nil:
		st.ExpireAt = when
		x.changed = true
	case flags&fPersist != 0 && st.ExpireAt != 0:
		st.ExpireAt = 0
		x.changed = true
	}
}

func runMset(x *exec) { x.msetGeneric(false) }

func runMsetnx(x *exec) { x.msetGeneric(true) }

func (x *exec) msetGeneric(nx bool) {
	if len(x.args)%2 == 0 {
		x.dst = appendArityErr(x.dst, x.cmd.name)
		return
	}
	n := len(x.args) / 2
	if nx {
		for i := 0; i < n; i++ {
			if x.state(i).Kind != Absent {
				x.dst = append(x.dst, ":0\r\n"...)
				return
			}
		}
	}
	for i := 0; i < n; i++ {
		*x.state(i) = Value{Kind: String, Str: x.args[2*i+2]}
	}
	x.changed = true
	if nx {
		x.dst = append(x.dst, ":1\r\n"...)
	} else {
		x.dst = appendOK(x.dst)
	}
}

func runIncr(x *exec) { x.incrDecr(1) }
func runDecr(x *exec) { x.incrDecr(-1) }

func runIncrby(x *exec) {
	incr, ok := parseInt(x.args[2])
	if !ok {
		x.dst = appendErr(x.dst, msgNotInt)
		return
	}
	x.incrDecr(incr)
}

func runDecrby(x *exec) {
	incr, ok := parseInt(x.args[2])
	if !ok {
		x.dst = appendErr(x.dst, msgNotInt)
		return
	}
	if incr == math.MinInt64 {
		x.dst = appendErr(x.dst, msgDecrOverflow)
		return
	}
	x.incrDecr(-incr)
}

// addOverflows is Redis's check before value += incr.
func addOverflows(old, incr int64) bool {
	return (incr < 0 && old < 0 && incr < math.MinInt64-old) ||
		(incr > 0 && old > 0 && incr > math.MaxInt64-old)
}

func (x *exec) incrDecr(incr int64) {
	st := x.state(0)
	var v int64
	switch st.Kind {
	case Hash:
		x.dst = appendErr(x.dst, msgWrongType)
		return
	case String:
		var ok bool
		if v, ok = parseInt(st.Str); !ok {
			x.dst = appendErr(x.dst, msgNotInt)
			return
		}
	}
	if addOverflows(v, incr) {
		x.dst = appendErr(x.dst, msgOverflow)
		return
	}
	v += incr
	b := x.keep(strconv.AppendInt(x.scratch(), v, 10))
	*st = Value{Kind: String, Str: b, ExpireAt: st.ExpireAt}
	x.changed = true
	x.dst = appendInt(x.dst, v)
}

func runIncrbyfloat(x *exec) {
	st := x.state(0)
	value := ldFromInt(0)
	switch st.Kind {
	case Hash:
		x.dst = appendErr(x.dst, msgWrongType)
		return
	case String:
		var ok bool
		if value, ok = parseLD(st.Str); !ok {
			x.dst = appendErr(x.dst, msgNotFloat)
			return
		}
	}
	incr, ok := parseLD(x.args[2])
	if !ok {
		x.dst = appendErr(x.dst, msgNotFloat)
		return
	}
	sum, ok := addLD(value, incr)
	if !ok || sum.inf != 0 {
		x.dst = appendErr(x.dst, msgNaNInf)
		return
	}
	b := x.keep(appendHumanLD(x.scratch(), sum))
	*st = Value{Kind: String, Str: b, ExpireAt: st.ExpireAt}
	x.changed = true
	x.dst = appendBulk(x.dst, b)
}

// stringTooLong is checkStringLength: the result would pass
// proto-max-bulk-len (or the sum overflows).
func stringTooLong(size, add uint64) bool {
	total := size + add
	return total > protoMaxBulkLen || total < size || total < add
}

func runAppend(x *exec) {
	st := x.state(0)
	app := x.args[2]
	switch st.Kind {
	case Absent:
		*st = Value{Kind: String, Str: app}
	case Hash:
		x.dst = appendErr(x.dst, msgWrongType)
		return
	default:
		if stringTooLong(uint64(len(st.Str)), uint64(len(app))) {
			x.dst = appendErr(x.dst, msgTooBig)
			return
		}
		b := append(x.scratch(), st.Str...)
		b = x.keep(append(b, app...))
		st.Str = b
	}
	x.changed = true
	x.dst = appendInt(x.dst, int64(len(st.Str)))
}

func runSetrange(x *exec) {
	offset, ok := parseInt(x.args[2])
	if !ok {
		x.dst = appendErr(x.dst, msgNotInt)
		return
	}
	if offset < 0 {
		x.dst = appendErr(x.dst, msgOffset)
		return
	}
	val := x.args[3]
	st := x.state(0)
	var old []byte
	switch st.Kind {
	case Absent:
		if len(val) == 0 {
			x.dst = append(x.dst, ":0\r\n"...)
			return
		}
	case Hash:
		x.dst = appendErr(x.dst, msgWrongType)
		return
	default:
		old = st.Str
		if len(val) == 0 {
			x.dst = appendInt(x.dst, int64(len(old)))
			return
		}
	}
	if stringTooLong(uint64(offset), uint64(len(val))) {
		x.dst = appendErr(x.dst, msgTooBig)
		return
	}
	n := max(int(offset)+len(val), len(old))
	b := append(x.scratch(), old...)
	if len(b) < n {
		b = slices.Grow(b, n-len(b))[:n]
		clear(b[len(old):])
	}
	copy(b[offset:], val)
	b = x.keep(b)
	if st.Kind == Absent {
		*st = Value{Kind: String}
	}
	st.Str = b
	x.changed = true
	x.dst = appendInt(x.dst, int64(len(b)))
}
