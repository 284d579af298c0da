package disk

import (
	"strconv"
)

// protoMaxBulkLen is Redis's default proto-max-bulk-len (512 MiB), the
// largest string APPEND and SETRANGE may build.
const protoMaxBulkLen = 512 << 20

func init() {
	register(
		&command{name: "get", arity: 2, first: 1, last: 1, fn: getCmd},
		&command{name: "set", arity: -3, flags: flagWrite | flagPlainBatch, first: 1, last: 1, fn: setCmd},
		&command{name: "setnx", arity: 3, flags: flagWrite | flagPlainBatch, first: 1, last: 1, fn: setnxCmd},
		&command{name: "setex", arity: 4, flags: flagWrite | flagPlainBatch, first: 1, last: 1, fn: setexCmd},
		&command{name: "psetex", arity: 4, flags: flagWrite | flagPlainBatch, first: 1, last: 1, fn: setexCmd},
		&command{name: "mget", arity: -2, first: 1, last: -1, fn: mgetCmd},
		&command{name: "mset", arity: -3, flags: flagWrite, first: 1, last: -1, step: 2, fn: msetCmd},
		&command{name: "msetnx", arity: -3, flags: flagWrite, first: 1, last: -1, step: 2, fn: msetCmd},
		&command{name: "getset", arity: 3, flags: flagWrite | flagPlainBatch, first: 1, last: 1, fn: getsetCmd},
		&command{name: "getdel", arity: 2, flags: flagWrite | flagPlainBatch, first: 1, last: 1, fn: getdelCmd},
		&command{name: "getex", arity: -2, flags: flagWrite | flagPlainBatch, first: 1, last: 1, fn: getexCmd},
		&command{name: "incr", arity: 2, flags: flagWrite | flagPlainBatch, first: 1, last: 1, fn: incrCmd},
		&command{name: "decr", arity: 2, flags: flagWrite | flagPlainBatch, first: 1, last: 1, fn: incrCmd},
		&command{name: "incrby", arity: 3, flags: flagWrite | flagPlainBatch, first: 1, last: 1, fn: incrCmd},
		&command{name: "decrby", arity: 3, flags: flagWrite | flagPlainBatch, first: 1, last: 1, fn: incrCmd},
		&command{name: "incrbyfloat", arity: 3, flags: flagWrite | flagPlainBatch, first: 1, last: 1, fn: incrbyfloatCmd},
		&command{name: "append", arity: 3, flags: flagWrite | flagPlainBatch, first: 1, last: 1, fn: appendCmd},
		&command{name: "getrange", arity: 4, first: 1, last: 1, fn: getrangeCmd},
		&command{name: "substr", arity: 4, first: 1, last: 1, fn: getrangeCmd},
		&command{name: "setrange", arity: 4, flags: flagWrite | flagPlainBatch, first: 1, last: 1, fn: setrangeCmd},
		&command{name: "strlen", arity: 2, first: 1, last: 1, fn: strlenCmd},
	)
}

// getCmd is GET: the hot read path (one pebble Get, one copy into the tx
// arena, no allocation once the pools are warm).
func getCmd(t *tx, w *writer, args [][]byte) error {
	m, ok, err := t.lookupType(args[1], typeString)
	if err != nil {
		return err
	}
	if !ok {
		w.null()
		return nil
	}
	w.bulk(m.payload)
	return nil
}

// Option flags of SET and GETEX, as Redis names them.
const (
	setNX = 1 << iota
	setXX
	setGet
	setKeepTTL
	setPersist
	setEX
	setPX
	setEXAT
	setPXAT
)

// parseSetOptions parses the options of SET (isSet) or GETEX from args
// (starting after the value, or after the key for GETEX), following Redis
// 7.0's parseExtendedStringArgumentsOrReply check for check, and returns
// the expire argument (nil when none); optionExpire converts it.
func parseSetOptions(args [][]byte, isSet bool) (flags int, expArg []byte, err error) {
	for j := 0; j < len(args); j++ {
		opt := args[j]
		hasNext := j+1 < len(args)
		timeFlags := setEX | setPX | setEXAT | setPXAT
		switch {
		case isSet && eqFold(opt, "nx") && flags&setXX == 0:
			flags |= setNX
		case isSet && eqFold(opt, "xx") && flags&setNX == 0:
			flags |= setXX
		case isSet && eqFold(opt, "get"):
			flags |= setGet
		case isSet && eqFold(opt, "keepttl") && flags&(setPersist|timeFlags) == 0:
			flags |= setKeepTTL
		case !isSet && eqFold(opt, "persist") && flags&(setKeepTTL|timeFlags) == 0:
			flags |= setPersist
		case eqFold(opt, "ex") && flags&(setKeepTTL|setPersist|setEXAT|setPX|setPXAT) == 0 && hasNext:
			flags |= setEX
			expArg = args[j+1]
			j++
		case eqFold(opt, "px") && flags&(setKeepTTL|setPersist|setEX|setEXAT|setPXAT) == 0 && hasNext:
			flags |= setPX
			expArg = args[j+1]
			j++
		case eqFold(opt, "exat") && flags&(setKeepTTL|setPersist|setEX|setPX|setPXAT) == 0 && hasNext:
			flags |= setEXAT
			expArg = args[j+1]
			j++
		case eqFold(opt, "pxat") && flags&(setKeepTTL|setPersist|setEX|setEXAT|setPX) == 0 && hasNext:
			flags |= setPXAT
			expArg = args[j+1]
			j++
		default:
			return 0, nil, errSyntax
		}
	}
	return flags, expArg, nil
}

// optionExpire converts the expire argument of SET/GETEX options to an
// absolute unix ms time (0 when arg is nil).
func optionExpire(flags int, arg []byte, name string, now int64) (int64, error) {
	if arg == nil {
		return 0, nil
	}
	return expireMillis(arg, flags&(setEX|setEXAT) != 0, flags&(setEX|setPX) != 0, name, now)
}

// expireMillis converts an expire argument as Redis's
// getExpireMillisecondsOrReply does, including its rejection of values
// that overflow.
func expireMillis(arg []byte, seconds, relative bool, name string, now int64) (int64, error) {
	ms, err := argInt(arg)
	if err != nil {
		return 0, err
	}
	if ms <= 0 || (seconds && ms > maxInt64/1000) {
		return 0, invalidExpire(name)
	}
	if seconds {
		ms *= 1000
	}
	if relative {
		ms += now // wraps negative on overflow, as in Redis, and is refused below
	}
	if ms <= 0 {
		return 0, invalidExpire(name)
	}
	return ms, nil
}

func invalidExpire(name string) replyErr {
	return replyErr("ERR invalid expire time in '" + name + "' command")
}

func setCmd(t *tx, w *writer, args [][]byte) error {
	flags, expArg, err := parseSetOptions(args[3:], true)
	if err != nil {
		return err
	}
	expireAt, err := optionExpire(flags, expArg, "set", t.now)
	if err != nil {
		return err
	}
	return setGeneric(t, w, args[1], args[2], flags, expireAt, nil, nil)
}

// setGeneric is Redis's setGenericCommand; abort/okReply override the
// replies (SETNX answers 0/1).
func setGeneric(t *tx, w *writer, key, val []byte, flags int, expireAt int64, okReply, abortReply func()) error {
	old, found, err := t.lookup(key)
	if err != nil {
		return err
	}
	if flags&setGet != 0 && found && old.typ != typeString {
		return errWrongType
	}
	if (flags&setNX != 0 && found) || (flags&setXX != 0 && !found) {
		if flags&setGet != 0 {
			replyOld(w, &old, found)
		} else if abortReply != nil {
			abortReply()
		} else {
			w.null()
		}
		return nil
	}
	m := meta{typ: typeString, payload: val, expire: expireAt}
	if flags&setKeepTTL != 0 && found {
		m.expire = old.expire
	}
	if err := t.putMeta(key, &m); err != nil {
		return err
	}
	switch {
	case flags&setGet != 0:
		replyOld(w, &old, found)
	case okReply != nil:
		okReply()
	default:
		w.ok()
	}
	return nil
}

func replyOld(w *writer, old *meta, found bool) {
	if !found {
		w.null()
		return
	}
	w.bulk(old.payload)
}

func setnxCmd(t *tx, w *writer, args [][]byte) error {
	return setGeneric(t, w, args[1], args[2], setNX, 0, func() { w.int(1) }, func() { w.int(0) })
}

func setexCmd(t *tx, w *writer, args [][]byte) error {
	name := "setex"
	seconds := true
	if eqFold(args[0], "psetex") {
		name, seconds = "psetex", false
	}
	at, err := expireMillis(args[2], seconds, true, name, t.now)
	if err != nil {
		return err
	}
	return setGeneric(t, w, args[1], args[3], 0, at, nil, nil)
}

func mgetCmd(t *tx, w *writer, args [][]byte) error {
	mark := len(w.b)
	w.array(len(args) - 1)
	for _, k := range args[1:] {
		m, ok, err := t.lookup(k)
		if err != nil {
			w.b = w.b[:mark]
			return err
		}
		if !ok || m.typ != typeString {
			w.null()
			continue
		}
		w.bulk(m.payload)
	}
	return nil
}

func msetCmd(t *tx, w *writer, args [][]byte) error {
	nx := eqFold(args[0], "msetnx")
	if len(args)%2 == 0 {
		if nx {
			return arityErr("msetnx")
		}
		return arityErr("mset")
	}
	if nx {
		for i := 1; i < len(args); i += 2 {
			_, ok, err := t.lookup(args[i])
			if err != nil {
				return err
			}
			if ok {
				w.int(0)
				return nil
			}
		}
	}
	for i := 1; i < len(args); i += 2 {
		m := meta{typ: typeString, payload: args[i+1]}
		if err := t.putMeta(args[i], &m); err != nil {
			return err
		}
	}
	if nx {
		w.int(1)
	} else {
		w.ok()
	}
	return nil
}

func getsetCmd(t *tx, w *writer, args [][]byte) error {
	return setGeneric(t, w, args[1], args[2], setGet, 0, nil, nil)
}

func getdelCmd(t *tx, w *writer, args [][]byte) error {
	m, ok, err := t.lookupType(args[1], typeString)
	if err != nil {
		return err
	}
	if !ok {
		w.null()
		return nil
	}
	if _, err := t.deleteKey(args[1]); err != nil {
		return err
	}
	w.bulk(m.payload)
	return nil
}

func getexCmd(t *tx, w *writer, args [][]byte) error {
	flags, expArg, err := parseSetOptions(args[2:], false)
	if err != nil {
		return err
	}
	m, ok, err := t.lookupType(args[1], typeString)
	if err != nil {
		return err
	}
	if !ok {
		w.null()
		return nil
	}
	expireAt, err := optionExpire(flags, expArg, "getex", t.now)
	if err != nil {
		return err
	}
	switch {
	case flags&(setEXAT|setPXAT) != 0 && expireAt <= t.now:
		if _, err := t.deleteKey(args[1]); err != nil {
			return err
		}
	case expireAt != 0:
		m.expire = expireAt
		err = t.putMeta(args[1], &m)
	case flags&setPersist != 0 && m.expire != 0:
		m.expire = 0
		err = t.putMeta(args[1], &m)
	}
	if err != nil {
		return err
	}
	w.bulk(m.payload)
	return nil
}

func incrCmd(t *tx, w *writer, args [][]byte) error {
	var incr int64 = 1
	switch {
	case eqFold(args[0], "decr"):
		incr = -1
	case eqFold(args[0], "incrby"), eqFold(args[0], "decrby"):
		v, err := argInt(args[2])
		if err != nil {
			return err
		}
		incr = v
		if eqFold(args[0], "decrby") {
			if v == minInt64 {
				return replyErr("ERR decrement would overflow")
			}
			incr = -v
		}
	}
	m, ok, err := t.lookupType(args[1], typeString)
	if err != nil {
		return err
	}
	var cur int64
	if ok {
		if cur, ok = parseInt(m.payload); !ok {
			return errNotInt
		}
	} else {
		m = t.newMeta(typeString)
	}
	if (incr < 0 && cur < 0 && incr < minInt64-cur) || (incr > 0 && cur > 0 && incr > maxInt64-cur) {
		return errOverflow
	}
	cur += incr
	var tmp [20]byte
	m.payload = strconv.AppendInt(tmp[:0], cur, 10)
	if err := t.putMeta(args[1], &m); err != nil {
		return err
	}
	w.int(cur)
	return nil
}

func incrbyfloatCmd(t *tx, w *writer, args [][]byte) error {
	m, ok, err := t.lookupType(args[1], typeString)
	if err != nil {
		return err
	}
	cur, curInf := newLongDouble(), false
	if ok {
		var vok bool
		if cur, curInf, vok = parseLongDouble(m.payload); !vok {
			return errNotFloat
		}
	} else {
		m = t.newMeta(typeString)
	}
	incr, incrInf, iok := parseLongDouble(args[2])
	if !iok {
		return errNotFloat
	}
	if curInf || incrInf {
		return errNaNInf
	}
	s, ok := addLongDouble(cur, incr)
	if !ok {
		return errNaNInf
	}
	m.payload = []byte(s)
	if err := t.putMeta(args[1], &m); err != nil {
		return err
	}
	w.bulkString(s)
	return nil
}

// checkStringLength is Redis's check of a string about to grow to
// size+add bytes.
func checkStringLength(size, add int64) error {
	total := size + add
	if total > protoMaxBulkLen || total < size || total < add {
		return errMaxBulk
	}
	return nil
}

func appendCmd(t *tx, w *writer, args [][]byte) error {
	m, ok, err := t.lookupType(args[1], typeString)
	if err != nil {
		return err
	}
	if ok {
		if err := checkStringLength(int64(len(m.payload)), int64(len(args[2]))); err != nil {
			return err
		}
		m.payload = append(m.payload, args[2]...)
	} else {
		m = t.newMeta(typeString)
		m.payload = args[2]
	}
	if err := t.putMeta(args[1], &m); err != nil {
		return err
	}
	w.int(int64(len(m.payload)))
	return nil
}

func getrangeCmd(t *tx, w *writer, args [][]byte) error {
	start, err := argInt(args[2])
	if err != nil {
		return err
	}
	end, err := argInt(args[3])
	if err != nil {
		return err
	}
	m, ok, err := t.lookupType(args[1], typeString)
	if err != nil {
		return err
	}
	if !ok {
		w.bulk(nil)
		return nil
	}
	s := m.payload
	n := int64(len(s))
	if start < 0 && end < 0 && start > end {
		w.bulk(nil)
		return nil
	}
	if start < 0 {
		start += n
	}
	if end < 0 {
		end += n
	}
	start, end = max(start, 0), max(end, 0)
	if end >= n {
		end = n - 1
	}
	if start > end || n == 0 {
		w.bulk(nil)
		return nil
	}
	w.bulk(s[start : end+1])
	return nil
}

func setrangeCmd(t *tx, w *writer, args [][]byte) error {
	offset, err := argInt(args[2])
	if err != nil {
		return err
	}
	if offset < 0 {
		return replyErr("ERR offset is out of range")
	}
	val := args[3]
	m, ok, err := t.lookupType(args[1], typeString)
	if err != nil {
		return err
	}
	if !ok {
		if len(val) == 0 {
			w.int(0)
			return nil
		}
		m = t.newMeta(typeString)
	} else if len(val) == 0 {
		w.int(int64(len(m.payload)))
		return nil
	}
	if err := checkStringLength(offset, int64(len(val))); err != nil {
		return err
	}
	need := int(offset) + len(val)
	p := m.payload
	if len(p) < need {
		grown := make([]byte, need)
		copy(grown, p)
		p = grown
	}
	copy(p[offset:], val)
	m.payload = p
	if err := t.putMeta(args[1], &m); err != nil {
		return err
	}
	w.int(int64(len(p)))
	return nil
}

func strlenCmd(t *tx, w *writer, args [][]byte) error {
	m, ok, err := t.lookupType(args[1], typeString)
	if err != nil {
		return err
	}
	w.int(int64(len(m.payload) * int(b2i(ok))))
	return nil
}
