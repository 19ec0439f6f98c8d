/* The profile's opening of a meter's answer (esam/profile.py open_answer), its glue compiled;
 * part of the _accel extension (setup.py builds it with _accel.c, whose module exposes it).
 *
 * Every cryptographic step stays with the objects the caller passes, which are
 * `cryptography`'s: a pristine keyed SM4-CMAC context (copied, never updated), the SM4-ECB
 * encryptor and decryptor under the answer's encryption key, and an unused SM3 context (copied).
 * What runs here is only what the Python function does around those calls: the bytes of the
 * MAC input, the constant-time comparison of the 4-byte MAC, the XOR that makes CBC decryption
 * out of the ECB decryption of the blocks (NIST SP 800-38A 6.2), and the removal of ISO/IEC
 * 9797-1 padding method 2. Answers the plaintext, or None for every refusal (the caller raises
 * its IntegrityError), in the same order of checks as the Python function, which stays the
 * reference (tests/esam/test_open_answer_compiled.py holds the two equal). */

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

static PyObject *s_copy, *s_update, *s_finalize;

static PyObject *call_update(PyObject *context, const uint8_t *data, Py_ssize_t size) {
    PyObject *chunk = PyBytes_FromStringAndSize((const char *)data, size);
    if (chunk == NULL) {
        return NULL;
    }
    PyObject *out = PyObject_CallMethodOneArg(context, s_update, chunk);
    Py_DECREF(chunk);
    return out;
}

/* copy(pristine), update(data), finalize(): the digest as a new bytes object. */
static PyObject *one_shot(PyObject *pristine, const uint8_t *data, Py_ssize_t size) {
    PyObject *context = PyObject_CallMethodNoArgs(pristine, s_copy);
    if (context == NULL) {
        return NULL;
    }
    PyObject *done = call_update(context, data, size);
    PyObject *digest = NULL;
    if (done != NULL) {
        Py_DECREF(done);
        digest = PyObject_CallMethodNoArgs(context, s_finalize);
    }
    Py_DECREF(context);
    if (digest != NULL && !PyBytes_Check(digest)) {
        Py_DECREF(digest);
        PyErr_SetString(PyExc_TypeError, "a digest that is not bytes");
        return NULL;
    }
    return digest;
}

static int byte_argument(PyObject *value, const char *name, uint8_t *out) {
    long v = PyLong_AsLong(value);
    if (v == -1 && PyErr_Occurred()) {
        return -1;
    }
    if (v < 0 || v > 255) {
        PyErr_Format(PyExc_ValueError, "%s must be in range(0, 256)", name);
        return -1;
    }
    *out = (uint8_t)v;
    return 0;
}

#define MAC_BYTES 4
#define BLOCK 16

static PyObject *open_blocks(PyObject *encryptor, PyObject *decryptor, PyObject *sm3_empty,
                             uint8_t direction, const Py_buffer *binding,
                             const Py_buffer *data) {
    const uint8_t *ciphertext = (const uint8_t *)data->buf;
    Py_ssize_t n = data->len;
    /* IV = SM4-ECB(key, SM3("IV" || direction || len(binding) || binding)[:16]) */
    uint8_t *seed_input = PyMem_Malloc((size_t)binding->len + 4);
    if (seed_input == NULL) {
        return PyErr_NoMemory();
    }
    seed_input[0] = 'I';
    seed_input[1] = 'V';
    seed_input[2] = direction;
    seed_input[3] = (uint8_t)binding->len;
    memcpy(seed_input + 4, binding->buf, (size_t)binding->len);
    PyObject *seed = one_shot(sm3_empty, seed_input, binding->len + 4);
    PyMem_Free(seed_input);
    if (seed == NULL) {
        return NULL;
    }
    if (PyBytes_GET_SIZE(seed) < BLOCK) {
        Py_DECREF(seed);
        PyErr_SetString(PyExc_ValueError, "an SM3 digest shorter than a block");
        return NULL;
    }
    PyObject *iv = call_update(encryptor, (const uint8_t *)PyBytes_AS_STRING(seed), BLOCK);
    Py_DECREF(seed);
    if (iv == NULL) {
        return NULL;
    }
    PyObject *blocks = PyObject_CallMethodOneArg(decryptor, s_update, data->obj);
    if (blocks == NULL) {
        Py_DECREF(iv);
        return NULL;
    }
    if (!PyBytes_Check(iv) || PyBytes_GET_SIZE(iv) != BLOCK || !PyBytes_Check(blocks) ||
        PyBytes_GET_SIZE(blocks) != n) {
        Py_DECREF(iv);
        Py_DECREF(blocks);
        PyErr_SetString(PyExc_ValueError, "SM4-ECB gave other than whole blocks back");
        return NULL;
    }
    const uint8_t *chain = (const uint8_t *)PyBytes_AS_STRING(iv);
    const uint8_t *decrypted = (const uint8_t *)PyBytes_AS_STRING(blocks);
#define PLAIN(i) ((uint8_t)(decrypted[i] ^ ((i) < BLOCK ? chain[i] : ciphertext[(i) - BLOCK])))
    /* padding method 2: 80 then 0 to 15 zeros */
    Py_ssize_t last = n - 1;
    while (last >= 0 && PLAIN(last) == 0) {
        last--;
    }
    PyObject *out = Py_None;
    if (last >= 0 && PLAIN(last) == 0x80 && n - last - 1 < BLOCK) {
        out = PyBytes_FromStringAndSize(NULL, last);
        if (out != NULL) {
            uint8_t *plain = (uint8_t *)PyBytes_AS_STRING(out);
            for (Py_ssize_t i = 0; i < last; i++) {
                plain[i] = PLAIN(i);
            }
        }
    } else {
        Py_INCREF(out);
    }
#undef PLAIN
    Py_DECREF(iv);
    Py_DECREF(blocks);
    return out;
}

PyObject *accel_open_answer(PyObject *Py_UNUSED(module), PyObject *const *args,
                            Py_ssize_t nargs) {
    /* (cmac, encryptor, decryptor, sm3_empty, label, direction, binding, protection, data,
     *  tag) */
    if (nargs != 10) {
        PyErr_SetString(PyExc_TypeError, "open_answer takes 10 arguments");
        return NULL;
    }
    uint8_t label, direction, protection;
    if (byte_argument(args[4], "label", &label) < 0 ||
        byte_argument(args[5], "direction", &direction) < 0 ||
        byte_argument(args[7], "protection", &protection) < 0) {
        return NULL;
    }
    Py_buffer binding, data, tag;
    if (PyObject_GetBuffer(args[6], &binding, PyBUF_SIMPLE) < 0) {
        return NULL;
    }
    if (PyObject_GetBuffer(args[8], &data, PyBUF_SIMPLE) < 0) {
        PyBuffer_Release(&binding);
        return NULL;
    }
    if (PyObject_GetBuffer(args[9], &tag, PyBUF_SIMPLE) < 0) {
        PyBuffer_Release(&binding);
        PyBuffer_Release(&data);
        return NULL;
    }
    PyObject *out = NULL;
    if (binding.len > 255) {
        out = Py_None;
        Py_INCREF(out);
        goto finish;
    }
    /* MAC = SM4-CMAC(label || len(binding) || binding || protection || data)[:4] */
    Py_ssize_t size = 2 + binding.len + 1 + data.len;
    uint8_t *input = PyMem_Malloc((size_t)size);
    if (input == NULL) {
        PyErr_NoMemory();
        goto finish;
    }
    input[0] = label;
    input[1] = (uint8_t)binding.len;
    memcpy(input + 2, binding.buf, (size_t)binding.len);
    input[2 + binding.len] = protection;
    memcpy(input + 3 + binding.len, data.buf, (size_t)data.len);
    PyObject *digest = one_shot(args[0], input, size);
    PyMem_Free(input);
    if (digest == NULL) {
        goto finish;
    }
    int good = PyBytes_GET_SIZE(digest) >= MAC_BYTES && tag.len == MAC_BYTES;
    if (good) {
        const uint8_t *expected = (const uint8_t *)PyBytes_AS_STRING(digest);
        const uint8_t *given = (const uint8_t *)tag.buf;
        uint8_t difference = 0;
        for (int i = 0; i < MAC_BYTES; i++) { /* constant time over the 4 bytes */
            difference |= (uint8_t)(expected[i] ^ given[i]);
        }
        good = difference == 0;
    }
    Py_DECREF(digest);
    if (!good) {
        out = Py_None;
        Py_INCREF(out);
    } else if (protection != 1) {
        out = args[8]; /* plaintext: the data as given */
        Py_INCREF(out);
    } else if (data.len == 0 || data.len % BLOCK) {
        out = Py_None;
        Py_INCREF(out);
    } else {
        out = open_blocks(args[1], args[2], args[3], direction, &binding, &data);
    }
finish:
    PyBuffer_Release(&binding);
    PyBuffer_Release(&data);
    PyBuffer_Release(&tag);
    return out;
}

/* The method names, interned once (called from PyInit__accel). */
int accel_open_init(void) {
    s_copy = PyUnicode_InternFromString("copy");
    s_update = PyUnicode_InternFromString("update");
    s_finalize = PyUnicode_InternFromString("finalize");
    return s_copy == NULL || s_update == NULL || s_finalize == NULL ? -1 : 0;
}
