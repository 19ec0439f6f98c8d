/* The compiled fast path of the DL/T 698.45 decoder (optional; see _accelerate.py).
 *
 * Two functions, both "optimistic": they decode the frames and APDUs that are well formed and
 * return the same objects the Python decoder builds, and answer None for anything else (a
 * malformed byte, a rare feature such as fragmentation or scrambling, an address not yet in the
 * cache). The caller then runs the Python decoder, which is the reference: it decodes the rare
 * case or raises the DecodeError with its offset and reason. The C code therefore never has to
 * explain a refusal, only to refuse at least everything the Python decoder refuses; the
 * equivalence is tested under Hypothesis (tests/protocol/test_accel.py).
 *
 * The APDU side interprets a program that Python compiles from the service schema at import
 * (nested tuples, opcode first); codecs it has no opcode for call their Python reader through
 * a Reader positioned at the current byte.
 *
 * Frame layout and CRC: DL/T 698.45-2017 clause 6 (see link.py); CRC-16/X-25 (reflected
 * polynomial 0x8408, initial 0xFFFF, final XOR 0xFFFF), check value 0x906E over "123456789".
 */

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

enum {
    OP_U8 = 1,
    OP_U16 = 2,
    OP_U32 = 3,
    OP_PIID = 4,
    OP_BOOL = 5,
    OP_OCTETS = 6,
    OP_FIXED = 7,    /* (op, size) */
    OP_DATA = 8,
    OP_OAD = 9,
    OP_OPTIONAL = 10, /* (op, node) */
    OP_SEQUENCE = 11, /* (op, node) */
    OP_RECORD = 12,   /* (op, cls, setters or None, (node, ...)) */
    OP_TABLE = 13,    /* (op, 256-tuple): a byte looked up; None refuses (DAR, enums) */
    OP_DAR_OR = 14,   /* (op, dar table, node) */
    OP_PYTHON = 15,   /* (op, read(reader)) */
    OP_MAC = 16,      /* choice 0, then octets */
    OP_PAYLOAD = 17,  /* (op, cls, setters, protection table, allow_dar, plaintext) */
    OP_VERIFICATION = 18, /* (op, cls, setters, kind table, SID cls, SID setters, b"") */
    OP_RESULT_RECORD = 19, /* (op, cls, setters or None, RCSD node, dar table) */
    OP_RCSD = 20,     /* (op, RCSD cls, setters, CSD cls, setters, ROAD cls, setters) */
};

/* What configure() was given; references held for the life of the process. */
static PyObject *controls;       /* 256-tuple: Control or None */
static PyObject *addresses;      /* dict: AF+SA bytes -> ServerAddress */
static PyTypeObject *frame_type; /* LinkFrame */
static PyObject *frame_setters;  /* member descriptors: control, address, client, apdu, fragment */
static PyTypeObject *fragment_type; /* Fragment */
static PyObject *fragment_setters;  /* member descriptors: number, kind */
static PyObject *fragment_kinds;    /* 4-tuple: FragmentKind by bits 14-15 of the word */
static PyTypeObject *data_type;  /* Data (a NamedTuple) */
static PyTypeObject *oad_type;   /* OAD (a NamedTuple) */
static PyObject *data_tags;      /* 256-tuple: DataType member or None */
static PyObject *data_readers;   /* 256-tuple: Python reader(reader, depth) or None */
static PyObject *reader_type;    /* axdr.Reader */
static PyObject *single_services; /* 256-tuple: program or None (services without a choice) */
static PyObject *choice_services; /* 256-tuple: 256-tuple of programs, or None */
static long max_depth;
static int configured;

static uint16_t crc_table[256];

static void build_crc_table(void) {
    for (int i = 0; i < 256; i++) {
        uint16_t crc = (uint16_t)i;
        for (int bit = 0; bit < 8; bit++) {
            crc = (crc & 1) ? (uint16_t)((crc >> 1) ^ 0x8408) : (uint16_t)(crc >> 1);
        }
        crc_table[i] = crc;
    }
}

static uint16_t crc16(const uint8_t *data, Py_ssize_t size) {
    uint16_t crc = 0xFFFF;
    for (Py_ssize_t i = 0; i < size; i++) {
        crc = (uint16_t)((crc >> 8) ^ crc_table[(crc ^ data[i]) & 0xFF]);
    }
    return (uint16_t)(crc ^ 0xFFFF);
}

/* The cursor over the bytes being decoded. */
typedef struct {
    PyObject *owner; /* the bytes object (for Python readers) */
    const uint8_t *buf;
    Py_ssize_t size;
    Py_ssize_t pos;
} Cursor;

/* All failures return NULL; the entry points clear any exception and answer None. */

static int read_length(Cursor *c, Py_ssize_t *out) {
    if (c->pos >= c->size) {
        return -1;
    }
    uint8_t first = c->buf[c->pos++];
    if (first < 0x80) {
        *out = first;
        return 0;
    }
    int count = first & 0x7F;
    if (count == 0 || count > 2 || c->pos + count > c->size) {
        return -1;
    }
    Py_ssize_t value = 0;
    for (int i = 0; i < count; i++) {
        value = (value << 8) | c->buf[c->pos++];
    }
    *out = value;
    return 0;
}

static PyObject *take_bytes(Cursor *c, Py_ssize_t count) {
    if (count < 0 || count > c->size - c->pos) {
        return NULL;
    }
    PyObject *out = PyBytes_FromStringAndSize((const char *)c->buf + c->pos, count);
    c->pos += count;
    return out;
}

static PyObject *read_octets(Cursor *c) {
    Py_ssize_t length;
    if (read_length(c, &length) < 0) {
        return NULL;
    }
    return take_bytes(c, length);
}

/* A tuple subclass instance (a NamedTuple) from n new references, stolen. */
static PyObject *new_named(PyTypeObject *type, Py_ssize_t n, PyObject **items) {
    PyObject *out = type->tp_alloc(type, n);
    if (out == NULL) {
        for (Py_ssize_t i = 0; i < n; i++) {
            Py_XDECREF(items[i]);
        }
        return NULL;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        PyTuple_SET_ITEM(out, i, items[i]);
    }
    return out;
}

/* An instance of a slotted class with its fields set through their member descriptors, as
 * the dataclass __init__ would (used only for classes without __post_init__). Borrows values. */
static PyObject *new_slotted(PyTypeObject *type, PyObject *setters, PyObject **values) {
    PyObject *out = type->tp_alloc(type, 0);
    if (out == NULL) {
        return NULL;
    }
    Py_ssize_t n = PyTuple_GET_SIZE(setters);
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *descriptor = PyTuple_GET_ITEM(setters, i);
        if (Py_TYPE(descriptor)->tp_descr_set(descriptor, out, values[i]) < 0) {
            Py_DECREF(out);
            return NULL;
        }
    }
    return out;
}

/* Run a Python reader: reader = Reader(data, pos); value = read(reader[, depth]). */
static PyObject *call_python(Cursor *c, PyObject *read, PyObject *depth) {
    PyObject *position = PyLong_FromSsize_t(c->pos);
    if (position == NULL) {
        return NULL;
    }
    PyObject *reader = PyObject_CallFunctionObjArgs(reader_type, c->owner, position, NULL);
    Py_DECREF(position);
    if (reader == NULL) {
        return NULL;
    }
    PyObject *value = PyObject_CallFunctionObjArgs(read, reader, depth, NULL);
    if (value != NULL) {
        PyObject *moved = PyObject_GetAttrString(reader, "pos");
        Py_ssize_t pos = moved == NULL ? -1 : PyLong_AsSsize_t(moved);
        Py_XDECREF(moved);
        if (pos < c->pos || pos > c->size) {
            Py_CLEAR(value);
        } else {
            c->pos = pos;
        }
    }
    Py_DECREF(reader);
    return value;
}

static PyObject *read_data(Cursor *c, long depth);

/* OAD(oi, attribute, element, feature): OI 16 bits, then attribute number (bits 0-4) and
 * feature (bits 5-7), then the element index. */
static PyObject *read_oad(Cursor *c) {
    if (c->size - c->pos < 4) {
        return NULL;
    }
    const uint8_t *p = c->buf + c->pos;
    c->pos += 4;
    PyObject *items[4] = {
        PyLong_FromLong((p[0] << 8) | p[1]),
        PyLong_FromLong(p[2] & 0x1F),
        PyLong_FromLong(p[3]),
        PyLong_FromLong(p[2] >> 5),
    };
    for (int i = 0; i < 4; i++) {
        if (items[i] == NULL) {
            for (int j = 0; j < 4; j++) {
                Py_XDECREF(items[j]);
            }
            return NULL;
        }
    }
    return new_named(oad_type, 4, items);
}

static int is_printable(const uint8_t *p, Py_ssize_t n) {
    for (Py_ssize_t i = 0; i < n; i++) {
        if (p[i] < 0x20 || p[i] > 0x7E) {
            return 0;
        }
    }
    return 1;
}

/* A calendar value (date_time, date, time, date_time_s): fixed big-endian unsigned fields,
 * made as the slotted class's Python reader makes it (cls(*struct.unpack(...))). ``spec`` is
 * (cls, setters, sizes): one byte per field, its size (1 or 2); _accelerate.py builds it from
 * the struct the Python reader unpacks with. */
static PyObject *read_calendar(Cursor *c, PyObject *spec) {
    PyObject *cls = PyTuple_GET_ITEM(spec, 0);
    PyObject *setters = PyTuple_GET_ITEM(spec, 1);
    PyObject *sizes = PyTuple_GET_ITEM(spec, 2);
    Py_ssize_t n = PyBytes_GET_SIZE(sizes);
    const uint8_t *size = (const uint8_t *)PyBytes_AS_STRING(sizes);
    Py_ssize_t total = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        total += size[i];
    }
    if (n > 8 || c->size - c->pos < total) {
        return NULL;
    }
    const uint8_t *p = c->buf + c->pos;
    PyObject *values[8];
    Py_ssize_t made = 0;
    PyObject *out = NULL;
    for (; made < n; made++) {
        long value = size[made] == 2 ? (p[0] << 8) | p[1] : p[0];
        p += size[made];
        values[made] = PyLong_FromLong(value);
        if (values[made] == NULL) {
            goto finish;
        }
    }
    out = new_slotted((PyTypeObject *)cls, setters, values);
    if (out != NULL) {
        c->pos += total;
    }
finish:
    for (Py_ssize_t i = 0; i < made; i++) {
        Py_DECREF(values[i]);
    }
    return out;
}

static PyObject *read_data_value(Cursor *c, int tag, long depth) {
    const uint8_t *p;
    switch (tag) {
    case 0: /* null */
        Py_RETURN_NONE;
    case 1: /* array */
    case 2: /* structure */
    {
        if (depth >= max_depth) {
            return NULL;
        }
        Py_ssize_t count;
        if (read_length(c, &count) < 0 || count > c->size - c->pos) {
            return NULL;
        }
        PyObject *items = PyTuple_New(count);
        if (items == NULL) {
            return NULL;
        }
        for (Py_ssize_t i = 0; i < count; i++) {
            PyObject *item = read_data(c, depth + 1);
            if (item == NULL) {
                Py_DECREF(items);
                return NULL;
            }
            PyTuple_SET_ITEM(items, i, item);
        }
        return items;
    }
    case 3: /* bool */
        if (c->pos >= c->size || c->buf[c->pos] > 1) {
            return NULL;
        }
        return PyBool_FromLong(c->buf[c->pos++]);
    case 9:  /* octet-string */
    case 86: /* MAC */
    case 87: /* RN */
        return read_octets(c);
    case 10: /* visible-string: printable ASCII only */
    {
        Py_ssize_t length;
        if (read_length(c, &length) < 0 || length > c->size - c->pos) {
            return NULL;
        }
        p = c->buf + c->pos;
        if (!is_printable(p, length)) {
            return NULL;
        }
        c->pos += length;
        return PyUnicode_DecodeASCII((const char *)p, length, "strict");
    }
    case 12: /* UTF8-string */
    {
        Py_ssize_t length;
        if (read_length(c, &length) < 0 || length > c->size - c->pos) {
            return NULL;
        }
        p = c->buf + c->pos;
        c->pos += length;
        return PyUnicode_DecodeUTF8((const char *)p, length, "strict");
    }
    case 81: /* OAD */
        return read_oad(c);
    default:
        break;
    }
    /* Fixed-size numbers, big-endian. */
    Py_ssize_t size;
    switch (tag) {
    case 15: case 17: case 22: size = 1; break;        /* integer, unsigned, enum */
    case 16: case 18: case 80: size = 2; break;        /* long, long-unsigned, OI */
    case 5: case 6: case 23: size = 4; break;          /* double-long(-unsigned), float32 */
    case 20: case 21: case 24: size = 8; break;        /* long64(-unsigned), float64 */
    default: size = 0; break;
    }
    if (size == 0) {
        PyObject *read = PyTuple_GET_ITEM(data_readers, tag);
        if (read == Py_None) {
            return NULL;
        }
        if (PyTuple_Check(read)) {
            return read_calendar(c, read);
        }
        PyObject *level = PyLong_FromLong(depth);
        if (level == NULL) {
            return NULL;
        }
        PyObject *value = call_python(c, read, level);
        Py_DECREF(level);
        return value;
    }
    if (c->size - c->pos < size) {
        return NULL;
    }
    p = c->buf + c->pos;
    c->pos += size;
    switch (tag) {
    case 15: return PyLong_FromLong((int8_t)p[0]);
    case 17: case 22: return PyLong_FromLong(p[0]);
    case 16: return PyLong_FromLong((int16_t)((p[0] << 8) | p[1]));
    case 18: case 80: return PyLong_FromLong((p[0] << 8) | p[1]);
    case 5:
        return PyLong_FromLong((int32_t)(((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) |
                                         ((uint32_t)p[2] << 8) | p[3]));
    case 6:
        return PyLong_FromUnsignedLong(((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) |
                                       ((uint32_t)p[2] << 8) | p[3]);
    case 23: {
        double value = PyFloat_Unpack4((const char *)p, 0);
        return value == -1.0 && PyErr_Occurred() ? NULL : PyFloat_FromDouble(value);
    }
    case 24: {
        double value = PyFloat_Unpack8((const char *)p, 0);
        return value == -1.0 && PyErr_Occurred() ? NULL : PyFloat_FromDouble(value);
    }
    default: {
        uint64_t value = 0;
        for (int i = 0; i < 8; i++) {
            value = (value << 8) | p[i];
        }
        if (tag == 20) {
            return PyLong_FromLongLong((int64_t)value);
        }
        return PyLong_FromUnsignedLongLong(value);
    }
    }
}

static PyObject *read_data(Cursor *c, long depth) {
    if (c->pos >= c->size) {
        return NULL;
    }
    int tag = c->buf[c->pos];
    PyObject *member = PyTuple_GET_ITEM(data_tags, tag);
    if (member == Py_None) {
        return NULL;
    }
    c->pos++;
    PyObject *value = read_data_value(c, tag, depth);
    if (value == NULL) {
        return NULL;
    }
    Py_INCREF(member);
    PyObject *items[2] = {member, value};
    return new_named(data_type, 2, items);
}

static PyObject *run(PyObject *node, Cursor *c);

static PyObject *run_record(PyObject *node, Cursor *c) {
    PyObject *cls = PyTuple_GET_ITEM(node, 1);
    PyObject *setters = PyTuple_GET_ITEM(node, 2);
    PyObject *fields = PyTuple_GET_ITEM(node, 3);
    Py_ssize_t n = PyTuple_GET_SIZE(fields);
    PyObject *values[16];
    if (n > 16) {
        return NULL;
    }
    Py_ssize_t done = 0;
    PyObject *out = NULL;
    for (; done < n; done++) {
        values[done] = run(PyTuple_GET_ITEM(fields, done), c);
        if (values[done] == NULL) {
            goto finish;
        }
    }
    if (setters == Py_None) {
        out = PyObject_Vectorcall(cls, values, (size_t)n, NULL);
    } else {
        out = new_slotted((PyTypeObject *)cls, setters, values);
    }
finish:
    for (Py_ssize_t i = 0; i < done; i++) {
        Py_DECREF(values[i]);
    }
    return out;
}

static PyObject *run_payload(PyObject *node, Cursor *c) {
    /* SecurityPayload: choice 0 plaintext / 1 ciphertext + octets; 2 a DAR (responses). */
    PyObject *cls = PyTuple_GET_ITEM(node, 1);
    PyObject *setters = PyTuple_GET_ITEM(node, 2);
    PyObject *protections = PyTuple_GET_ITEM(node, 3);
    int allow_dar = PyObject_IsTrue(PyTuple_GET_ITEM(node, 4));
    PyObject *plaintext = PyTuple_GET_ITEM(node, 5);
    if (c->pos >= c->size) {
        return NULL;
    }
    uint8_t choice = c->buf[c->pos++];
    PyObject *values[3];
    if (choice == 2 && allow_dar) {
        if (c->pos >= c->size) {
            return NULL;
        }
        values[0] = plaintext;
        values[1] = PyBytes_FromStringAndSize(NULL, 0);
        values[2] = PyLong_FromLong(c->buf[c->pos++]);
    } else if (choice <= 1) {
        values[0] = PyTuple_GET_ITEM(protections, choice);
        values[1] = read_octets(c);
        values[2] = Py_None;
        Py_INCREF(Py_None);
    } else {
        return NULL;
    }
    PyObject *out = NULL;
    if (values[1] != NULL && values[2] != NULL) {
        out = new_slotted((PyTypeObject *)cls, setters, values);
    }
    Py_XDECREF(values[1]);
    Py_XDECREF(values[2]);
    return out;
}

/* SID: a 32-bit identification, then octets (its additional data). */
static PyObject *read_sid(Cursor *c, PyObject *cls, PyObject *setters) {
    if (c->size - c->pos < 4) {
        return NULL;
    }
    const uint8_t *p = c->buf + c->pos;
    c->pos += 4;
    PyObject *values[2];
    values[0] = PyLong_FromUnsignedLong(((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) |
                                        ((uint32_t)p[2] << 8) | p[3]);
    values[1] = values[0] == NULL ? NULL : read_octets(c);
    PyObject *out = NULL;
    if (values[1] != NULL) {
        out = new_slotted((PyTypeObject *)cls, setters, values);
    }
    Py_XDECREF(values[0]);
    Py_XDECREF(values[1]);
    return out;
}

static PyObject *run_verification(PyObject *node, Cursor *c) {
    /* A SECURITY-Request's verification (security.Verification.read): choice 0 SID_MAC (SID,
     * then the MAC as octets), 1 RN (octets), 2 RN_MAC (RN, then MAC, octets each), 3 SID.
     * The kind table maps the choice byte to its VerificationKind member (None: refused);
     * _accelerate.py checks that the members are exactly these four choices. */
    PyObject *cls = PyTuple_GET_ITEM(node, 1);
    PyObject *setters = PyTuple_GET_ITEM(node, 2);
    PyObject *kinds = PyTuple_GET_ITEM(node, 3);
    PyObject *sid_cls = PyTuple_GET_ITEM(node, 4);
    PyObject *sid_setters = PyTuple_GET_ITEM(node, 5);
    PyObject *empty = PyTuple_GET_ITEM(node, 6);
    if (c->pos >= c->size) {
        return NULL;
    }
    uint8_t choice = c->buf[c->pos++];
    PyObject *kind = PyTuple_GET_ITEM(kinds, choice);
    if (kind == Py_None || choice > 3) {
        return NULL;
    }
    PyObject *values[4] = {kind, Py_None, empty, empty}; /* kind, sid, random, mac */
    PyObject *made[2] = {NULL, NULL};
    PyObject *out = NULL;
    if (choice == 0 || choice == 3) {
        made[0] = read_sid(c, sid_cls, sid_setters);
        if (made[0] == NULL) {
            goto finish;
        }
        values[1] = made[0];
        if (choice == 0) {
            made[1] = read_octets(c);
            if (made[1] == NULL) {
                goto finish;
            }
            values[3] = made[1];
        }
    } else {
        made[0] = read_octets(c);
        if (made[0] == NULL) {
            goto finish;
        }
        values[2] = made[0];
        if (choice == 2) {
            made[1] = read_octets(c);
            if (made[1] == NULL) {
                goto finish;
            }
            values[3] = made[1];
        }
    }
    out = new_slotted((PyTypeObject *)cls, setters, values);
finish:
    Py_XDECREF(made[0]);
    Py_XDECREF(made[1]);
    return out;
}

/* A-ResultRecord: OAD, RCSD, then CHOICE { DAR [0], SEQUENCE OF row [1] } where a row is one
 * Data per column of the RCSD (common.py's hand-written reader, which stays the reference:
 * rows without columns, or more rows than bytes left, are declined for it to refuse). */
static PyObject *run_result_record(PyObject *node, Cursor *c) {
    PyObject *cls = PyTuple_GET_ITEM(node, 1);
    PyObject *setters = PyTuple_GET_ITEM(node, 2);
    PyObject *values[3] = {NULL, NULL, NULL};
    PyObject *out = NULL;
    values[0] = read_oad(c);
    if (values[0] == NULL) {
        return NULL;
    }
    values[1] = run(PyTuple_GET_ITEM(node, 3), c);
    if (values[1] == NULL || c->pos >= c->size) {
        goto finish;
    }
    uint8_t choice = c->buf[c->pos++];
    if (choice == 0) {
        if (c->pos >= c->size) {
            goto finish;
        }
        values[2] = PyTuple_GET_ITEM(PyTuple_GET_ITEM(node, 4), c->buf[c->pos++]);
        Py_INCREF(values[2]);
    } else if (choice == 1) {
        PyObject *columns = PyObject_GetAttrString(values[1], "columns");
        Py_ssize_t width = columns == NULL ? -1 : PyObject_Length(columns);
        Py_XDECREF(columns);
        Py_ssize_t count;
        if (width < 0 || read_length(c, &count) < 0 || (count && !width) ||
            count * width > c->size - c->pos) {
            goto finish;
        }
        PyObject *rows = PyTuple_New(count);
        if (rows == NULL) {
            goto finish;
        }
        for (Py_ssize_t i = 0; i < count; i++) {
            PyObject *row = PyTuple_New(width);
            if (row == NULL) {
                Py_DECREF(rows);
                goto finish;
            }
            PyTuple_SET_ITEM(rows, i, row);
            for (Py_ssize_t j = 0; j < width; j++) {
                PyObject *value = read_data(c, 0);
                if (value == NULL) {
                    Py_DECREF(rows);
                    goto finish;
                }
                PyTuple_SET_ITEM(row, j, value);
            }
        }
        values[2] = rows;
    } else {
        goto finish;
    }
    if (setters == Py_None) {
        out = PyObject_Vectorcall(cls, values, 3, NULL);
    } else {
        out = new_slotted((PyTypeObject *)cls, setters, values);
    }
finish:
    for (int i = 0; i < 3; i++) {
        Py_XDECREF(values[i]);
    }
    return out;
}

/* ROAD: an OAD, then SEQUENCE OF OAD (its columns). */
static PyObject *read_road(Cursor *c, PyObject *cls, PyObject *setters) {
    PyObject *values[2] = {read_oad(c), NULL};
    Py_ssize_t count;
    if (values[0] == NULL || read_length(c, &count) < 0 || count > (c->size - c->pos) / 4) {
        Py_XDECREF(values[0]);
        return NULL;
    }
    values[1] = PyTuple_New(count);
    PyObject *out = NULL;
    if (values[1] == NULL) {
        goto finish;
    }
    for (Py_ssize_t i = 0; i < count; i++) {
        PyObject *oad = read_oad(c);
        if (oad == NULL) {
            goto finish;
        }
        PyTuple_SET_ITEM(values[1], i, oad);
    }
    out = new_slotted((PyTypeObject *)cls, setters, values);
finish:
    Py_XDECREF(values[0]);
    Py_XDECREF(values[1]);
    return out;
}

/* RCSD: SEQUENCE OF CSD, each CSD a CHOICE { OAD [0], ROAD [1] }. */
static PyObject *run_rcsd(PyObject *node, Cursor *c) {
    PyObject *cls = PyTuple_GET_ITEM(node, 1);
    PyObject *setters = PyTuple_GET_ITEM(node, 2);
    PyObject *csd_cls = PyTuple_GET_ITEM(node, 3);
    PyObject *csd_setters = PyTuple_GET_ITEM(node, 4);
    PyObject *road_cls = PyTuple_GET_ITEM(node, 5);
    PyObject *road_setters = PyTuple_GET_ITEM(node, 6);
    Py_ssize_t count;
    if (read_length(c, &count) < 0 || count > (c->size - c->pos) / 5) {
        return NULL;
    }
    PyObject *columns = PyTuple_New(count);
    if (columns == NULL) {
        return NULL;
    }
    for (Py_ssize_t i = 0; i < count; i++) {
        if (c->pos >= c->size || c->buf[c->pos] > 1) {
            Py_DECREF(columns);
            return NULL;
        }
        uint8_t choice = c->buf[c->pos++];
        PyObject *column = choice == 0 ? read_oad(c) : read_road(c, road_cls, road_setters);
        if (column == NULL) {
            Py_DECREF(columns);
            return NULL;
        }
        PyObject *csd = new_slotted((PyTypeObject *)csd_cls, csd_setters, &column);
        Py_DECREF(column);
        if (csd == NULL) {
            Py_DECREF(columns);
            return NULL;
        }
        PyTuple_SET_ITEM(columns, i, csd);
    }
    PyObject *out = new_slotted((PyTypeObject *)cls, setters, &columns);
    Py_DECREF(columns);
    return out;
}

static PyObject *run(PyObject *node, Cursor *c) {
    long op = PyLong_AsLong(PyTuple_GET_ITEM(node, 0));
    const uint8_t *p;
    switch (op) {
    case OP_U8:
        if (c->pos >= c->size) {
            return NULL;
        }
        return PyLong_FromLong(c->buf[c->pos++]);
    case OP_PIID:
        if (c->pos >= c->size || c->buf[c->pos] & 0x40) {
            return NULL;
        }
        return PyLong_FromLong(c->buf[c->pos++]);
    case OP_BOOL:
        if (c->pos >= c->size || c->buf[c->pos] > 1) {
            return NULL;
        }
        return PyBool_FromLong(c->buf[c->pos++]);
    case OP_U16:
        if (c->size - c->pos < 2) {
            return NULL;
        }
        p = c->buf + c->pos;
        c->pos += 2;
        return PyLong_FromLong((p[0] << 8) | p[1]);
    case OP_U32:
        if (c->size - c->pos < 4) {
            return NULL;
        }
        p = c->buf + c->pos;
        c->pos += 4;
        return PyLong_FromUnsignedLong(((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) |
                                       ((uint32_t)p[2] << 8) | p[3]);
    case OP_OCTETS:
        return read_octets(c);
    case OP_FIXED:
        return take_bytes(c, PyLong_AsSsize_t(PyTuple_GET_ITEM(node, 1)));
    case OP_DATA:
        return read_data(c, 0);
    case OP_OAD:
        return read_oad(c);
    case OP_OPTIONAL:
        if (c->pos >= c->size || c->buf[c->pos] > 1) {
            return NULL;
        }
        if (c->buf[c->pos++] == 0) {
            Py_RETURN_NONE;
        }
        return run(PyTuple_GET_ITEM(node, 1), c);
    case OP_SEQUENCE: {
        Py_ssize_t count;
        if (read_length(c, &count) < 0 || count > c->size - c->pos) {
            return NULL;
        }
        PyObject *inner = PyTuple_GET_ITEM(node, 1);
        PyObject *items = PyTuple_New(count);
        if (items == NULL) {
            return NULL;
        }
        for (Py_ssize_t i = 0; i < count; i++) {
            PyObject *item = run(inner, c);
            if (item == NULL) {
                Py_DECREF(items);
                return NULL;
            }
            PyTuple_SET_ITEM(items, i, item);
        }
        return items;
    }
    case OP_RECORD:
        return run_record(node, c);
    case OP_TABLE: {
        if (c->pos >= c->size) {
            return NULL;
        }
        PyObject *value = PyTuple_GET_ITEM(PyTuple_GET_ITEM(node, 1), c->buf[c->pos++]);
        if (value == Py_None) {
            return NULL;
        }
        Py_INCREF(value);
        return value;
    }
    case OP_DAR_OR: {
        if (c->pos >= c->size) {
            return NULL;
        }
        uint8_t choice = c->buf[c->pos++];
        if (choice == 0) {
            if (c->pos >= c->size) {
                return NULL;
            }
            PyObject *value = PyTuple_GET_ITEM(PyTuple_GET_ITEM(node, 1), c->buf[c->pos++]);
            Py_INCREF(value);
            return value;
        }
        if (choice == 1) {
            return run(PyTuple_GET_ITEM(node, 2), c);
        }
        return NULL;
    }
    case OP_PYTHON:
        return call_python(c, PyTuple_GET_ITEM(node, 1), NULL);
    case OP_MAC:
        if (c->pos >= c->size || c->buf[c->pos] != 0) {
            return NULL;
        }
        c->pos++;
        return read_octets(c);
    case OP_PAYLOAD:
        return run_payload(node, c);
    case OP_VERIFICATION:
        return run_verification(node, c);
    case OP_RESULT_RECORD:
        return run_result_record(node, c);
    case OP_RCSD:
        return run_rcsd(node, c);
    default:
        PyErr_Format(PyExc_SystemError, "unknown decoder opcode %ld", op);
        return NULL;
    }
}

/* None when the fast path declines, so that the caller runs the Python decoder. */
static PyObject *declined(void) {
    PyErr_Clear();
    Py_RETURN_NONE;
}

static PyObject *accel_decode_apdu(PyObject *Py_UNUSED(module), PyObject *data) {
    if (!configured || !PyBytes_CheckExact(data) || PyBytes_GET_SIZE(data) == 0) {
        return declined();
    }
    Cursor c = {data, (const uint8_t *)PyBytes_AS_STRING(data), PyBytes_GET_SIZE(data), 0};
    uint8_t tag = c.buf[c.pos++];
    PyObject *program = PyTuple_GET_ITEM(single_services, tag);
    if (program == Py_None) {
        PyObject *choices = PyTuple_GET_ITEM(choice_services, tag);
        if (choices == Py_None || c.pos >= c.size) {
            return declined();
        }
        program = PyTuple_GET_ITEM(choices, c.buf[c.pos++]);
        if (program == Py_None) {
            return declined();
        }
    }
    PyObject *out = run(program, &c);
    if (out == NULL || c.pos != c.size) {
        Py_XDECREF(out);
        return declined();
    }
    return out;
}

static PyObject *accel_decode_data(PyObject *Py_UNUSED(module), PyObject *args) {
    PyObject *data;
    Py_ssize_t pos;
    long depth;
    if (!PyArg_ParseTuple(args, "O!nl", &PyBytes_Type, &data, &pos, &depth)) {
        return NULL;
    }
    if (!configured || pos < 0 || pos >= PyBytes_GET_SIZE(data) || depth < 0) {
        return declined();
    }
    Cursor c = {data, (const uint8_t *)PyBytes_AS_STRING(data), PyBytes_GET_SIZE(data), pos};
    PyObject *value = read_data(&c, depth);
    if (value == NULL) {
        return declined();
    }
    PyObject *out = Py_BuildValue("(Nn)", value, c.pos);
    return out == NULL ? declined() : out;
}

static PyObject *accel_decode_frame(PyObject *Py_UNUSED(module), PyObject *data) {
    if (!configured || !PyBytes_CheckExact(data)) {
        return declined();
    }
    const uint8_t *b = (const uint8_t *)PyBytes_AS_STRING(data);
    Py_ssize_t n = PyBytes_GET_SIZE(data);
    Py_ssize_t start = 0;
    while (start < n && b[start] == 0xFE) {
        start++;
    }
    /* 68 L L C AF SA CA HCS HCS FCS FCS 16: at least 12 bytes with a 1-byte SA. */
    if (n - start < 12 || b[start] != 0x68) {
        return declined();
    }
    unsigned raw = b[start + 1] | (b[start + 2] << 8);
    if (raw & 0xC000) { /* kilobyte unit or the reserved bit: left to Python */
        return declined();
    }
    Py_ssize_t end = start + (Py_ssize_t)raw + 2;
    if (end != n || b[end - 1] != 0x16) {
        return declined();
    }
    uint8_t control_byte = b[start + 3];
    PyObject *control = PyTuple_GET_ITEM(controls, control_byte);
    if (control == Py_None || control_byte & 0x08) { /* scrambled: Python */
        return declined();
    }
    Py_ssize_t address_end = start + 5 + (b[start + 4] & 0x0F) + 1;
    Py_ssize_t header_end = address_end + 1; /* after CA */
    if (header_end + 2 > end - 3) {
        return declined();
    }
    if (crc16(b + start + 1, header_end - start - 1) !=
        (b[header_end] | (b[header_end + 1] << 8))) {
        return declined();
    }
    if (crc16(b + start + 1, end - 3 - start - 1) != (b[end - 3] | (b[end - 2] << 8))) {
        return declined();
    }
    PyObject *key = PyBytes_FromStringAndSize((const char *)b + start + 4,
                                              address_end - start - 4);
    if (key == NULL) {
        return declined();
    }
    PyObject *address = PyDict_GetItemWithError(addresses, key); /* borrowed */
    Py_DECREF(key);
    if (address == NULL) {
        return declined();
    }
    Py_ssize_t user_start = header_end + 2, user_end = end - 3;
    PyObject *fragment = NULL;
    if (control_byte & 0x20) { /* fragmented: the fragment word, then the fragment's data */
        if (user_end - user_start < 2) {
            return declined();
        }
        unsigned word = b[user_start] | (b[user_start + 1] << 8);
        if (word & 0x3000) { /* reserved bits */
            return declined();
        }
        PyObject *parts[2] = {PyLong_FromLong(word & 0x0FFF),
                              PyTuple_GET_ITEM(fragment_kinds, word >> 14)};
        if (parts[0] == NULL) {
            return declined();
        }
        fragment = new_slotted(fragment_type, fragment_setters, parts);
        Py_DECREF(parts[0]);
        if (fragment == NULL) {
            return declined();
        }
        user_start += 2;
    }
    PyObject *values[5];
    values[0] = control;
    values[1] = address;
    values[2] = PyLong_FromLong(b[address_end]);
    values[3] = PyBytes_FromStringAndSize((const char *)b + user_start, user_end - user_start);
    values[4] = fragment == NULL ? Py_None : fragment;
    PyObject *out = NULL;
    if (values[2] != NULL && values[3] != NULL) {
        out = new_slotted(frame_type, frame_setters, values);
    }
    Py_XDECREF(values[2]);
    Py_XDECREF(values[3]);
    Py_XDECREF(fragment);
    return out == NULL ? declined() : out;
}

static PyObject *accel_crc16(PyObject *Py_UNUSED(module), PyObject *data) {
    Py_buffer view;
    if (PyObject_GetBuffer(data, &view, PyBUF_SIMPLE) < 0) {
        return NULL;
    }
    uint16_t crc = crc16((const uint8_t *)view.buf, view.len);
    PyBuffer_Release(&view);
    return PyLong_FromLong(crc);
}

static int check_table(PyObject *table, const char *name) {
    if (!PyTuple_CheckExact(table) || PyTuple_GET_SIZE(table) != 256) {
        PyErr_Format(PyExc_TypeError, "%s must be a tuple of 256 entries", name);
        return -1;
    }
    return 0;
}

static PyObject *accel_configure(PyObject *Py_UNUSED(module), PyObject *args,
                                 PyObject *kwargs) {
    static char *names[] = {"controls",      "addresses",        "frame_type",
                            "frame_setters", "data_type",        "oad_type",
                            "data_tags",     "data_readers",     "reader_type",
                            "single",        "choices",          "max_depth",
                            "fragment_type", "fragment_setters", "fragment_kinds",
                            NULL};
    PyObject *values[11];
    PyObject *fragments[3];
    long depth;
    if (!PyArg_ParseTupleAndKeywords(
            args, kwargs, "OO!O!O!O!O!OOOOOlO!O!O!", names, &values[0], &PyDict_Type,
            &values[1], &PyType_Type, &values[2], &PyTuple_Type, &values[3], &PyType_Type,
            &values[4], &PyType_Type, &values[5], &values[6], &values[7], &values[8], &values[9],
            &values[10], &depth, &PyType_Type, &fragments[0], &PyTuple_Type, &fragments[1],
            &PyTuple_Type, &fragments[2])) {
        return NULL;
    }
    if (PyTuple_GET_SIZE(fragments[1]) != 2 || PyTuple_GET_SIZE(fragments[2]) != 4) {
        PyErr_SetString(PyExc_TypeError,
                        "fragment_setters must hold the 2 Fragment fields, fragment_kinds 4");
        return NULL;
    }
    if (check_table(values[0], "controls") < 0 || check_table(values[6], "data_tags") < 0 ||
        check_table(values[7], "data_readers") < 0 || check_table(values[9], "single") < 0 ||
        check_table(values[10], "choices") < 0) {
        return NULL;
    }
    if (PyTuple_GET_SIZE(values[3]) != 5) {
        PyErr_SetString(PyExc_TypeError, "frame_setters must hold the 5 LinkFrame fields");
        return NULL;
    }
    for (int i = 0; i < 11; i++) {
        Py_INCREF(values[i]);
    }
    Py_XSETREF(controls, values[0]);
    Py_XSETREF(addresses, values[1]);
    Py_XSETREF(frame_type, (PyTypeObject *)values[2]);
    Py_XSETREF(frame_setters, values[3]);
    Py_XSETREF(data_type, (PyTypeObject *)values[4]);
    Py_XSETREF(oad_type, (PyTypeObject *)values[5]);
    Py_XSETREF(data_tags, values[6]);
    Py_XSETREF(data_readers, values[7]);
    Py_XSETREF(reader_type, values[8]);
    Py_XSETREF(single_services, values[9]);
    Py_XSETREF(choice_services, values[10]);
    for (int i = 0; i < 3; i++) {
        Py_INCREF(fragments[i]);
    }
    Py_XSETREF(fragment_type, (PyTypeObject *)fragments[0]);
    Py_XSETREF(fragment_setters, fragments[1]);
    Py_XSETREF(fragment_kinds, fragments[2]);
    max_depth = depth;
    configured = 1;
    Py_RETURN_NONE;
}

/* In _accel_open.c: the glue of esam.profile.open_answer. */
PyObject *accel_open_answer(PyObject *module, PyObject *const *args, Py_ssize_t nargs);
int accel_open_init(void);

static PyMethodDef methods[] = {
    {"decode_frame", accel_decode_frame, METH_O,
     "The LinkFrame of a well-formed, unscrambled frame, else None."},
    {"crc16", accel_crc16, METH_O, "CRC-16/X-25 of a bytes-like object (protocol/crc.py)."},
    {"decode_apdu", accel_decode_apdu, METH_O,
     "The APDU object of a well-formed APDU, else None."},
    {"decode_data", accel_decode_data, METH_VARARGS,
     "(Data, offset after it) of the well-formed Data at (data, pos, depth), else None."},
    {"open_answer", (PyCFunction)(void (*)(void))accel_open_answer, METH_FASTCALL,
     "A meter's answer opened through the given cryptography contexts (esam.profile)."},
    {"configure", (PyCFunction)(void (*)(void))accel_configure, METH_VARARGS | METH_KEYWORDS,
     "Give the decoder the tables and programs compiled by _accelerate.py."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module_def = {
    PyModuleDef_HEAD_INIT,
    .m_name = "_accel",
    .m_doc = "The compiled fast path of the DL/T 698.45 decoder (see _accelerate.py).",
    .m_size = -1,
    .m_methods = methods,
};

PyMODINIT_FUNC PyInit__accel(void) {
    build_crc_table();
    if (accel_open_init() < 0) {
        return NULL;
    }
    PyObject *module = PyModule_Create(&module_def);
    /* the last opcode this build knows: _accelerate.py refuses a build older than its programs */
    if (module != NULL && PyModule_AddIntConstant(module, "LAST_OP", OP_RCSD) < 0) {
        Py_DECREF(module);
        return NULL;
    }
    return module;
}
