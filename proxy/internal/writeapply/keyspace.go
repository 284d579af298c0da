package writeapply

import "math"

// Flags of the EXPIRE family.
const (
	eNX = 1 << iota
	eXX
	eGT
	eLT
)

func runDel(x *exec) {
	var n int64
	for i := 1; i < len(x.args); i++ {
		st := x.state(i - 1)
		if st.Kind != Absent {
			*st = Value{}
			n++
		}
	}
	if n > 0 {
		x.changed = true
	}
	x.dst = appendInt(x.dst, n)
}

func runExpire(x *exec)    { x.expireGeneric(x.now, unitSeconds) }
func runPexpire(x *exec)   { x.expireGeneric(x.now, unitMillis) }
func runExpireat(x *exec)  { x.expireGeneric(0, unitSeconds) }
func runPexpireat(x *exec) { x.expireGeneric(0, unitMillis) }

// expireGeneric mirrors expireGenericCommand: options first (an unknown one
// is reported before the time is even parsed), then the time with overflow
// checks, then the key, then NX/XX/GT/LT against the current expiry (none
// counts as infinite), and a time not in the future deletes the key.
func (x *exec) expireGeneric(basetime int64, unit int) {
	var flags int
	for _, opt := range x.args[3:] {
		switch {
		case eqFold(opt, "nx"):
			flags |= eNX
		case eqFold(opt, "xx"):
			flags |= eXX
		case eqFold(opt, "gt"):
			flags |= eGT
		case eqFold(opt, "lt"):
			flags |= eLT
		default:
			x.dst = appendErrSanitized(x.dst, "ERR Unsupported option ", opt, "")
			return
		}
	}
	if flags&eNX != 0 && flags&(eXX|eGT|eLT) != 0 {
		x.dst = appendErr(x.dst, msgNXandOthers)
		return
	}
	if flags&eGT != 0 && flags&eLT != 0 {
		x.dst = appendErr(x.dst, msgGTandLT)
		return
	}
	when, ok := parseInt(x.args[2])
	if !ok {
		x.dst = appendErr(x.dst, msgNotInt)
		return
	}
	if unit == unitSeconds {
		if when > math.MaxInt64/1000 || when < math.MinInt64/1000 {
			x.dst = appendExpireErr(x.dst, x.cmd.name)
			return
		}
		when *= 1000
	}
	if when > math.MaxInt64-basetime {
		x.dst = appendExpireErr(x.dst, x.cmd.name)
		return
	}
	when += basetime
	st := x.state(0)
	if st.Kind == Absent {
		x.dst = append(x.dst, ":0\r\n"...)
		return
	}
	if flags != 0 {
		current := st.ExpireAt
		if current == 0 {
			current = -1
		}
		if (flags&eNX != 0 && current != -1) ||
			(flags&eXX != 0 && current == -1) ||
			(flags&eGT != 0 && (when <= current || current == -1)) ||
			(flags&eLT != 0 && current != -1 && when >= current) {
			x.dst = append(x.dst, ":0\r\n"...)
			return
		}
	}
	if when <= x.now {
		*st = Value{}
	} else {
		st.ExpireAt = when
	}
	x.changed = true
	x.dst = append(x.dst, ":1\r\n"...)
}

func runPersist(x *exec) {
	st := x.state(0)
	if st.Kind != Absent && st.ExpireAt != 0 {
		st.ExpireAt = 0
		x.changed = true
		x.dst = append(x.dst, ":1\r\n"...)
		return
	}
	x.dst = append(x.dst, ":0\r\n"...)
}
