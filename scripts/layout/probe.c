/* Offsets and sizes of the CPython structures memwatch reads, compiled against one release's
 * internal headers (libpython3.X-dev, or a source build's Include/). Prints "name value" lines
 * whose names are those of memwatch's layout table (`memwatch layout --json`), so that
 * tests/heap_layout.rs can compare the table with the compiler's figures.
 *
 * Build: scripts/layout/from-headers.sh INCLUDE_DIR (see there). Never shipped, never run
 * against a target: it only reads headers. */
#define Py_BUILD_CORE 1
#include <Python.h>
#include <stddef.h>
#include <stdio.h>
#include "frameobject.h"
#if PY_VERSION_HEX >= 0x030B0000
#include "internal/pycore_frame.h"
#include "internal/pycore_dict.h"
#endif
#if PY_VERSION_HEX >= 0x030E0000
#include "internal/pycore_interpframe.h"
#endif
#if PY_VERSION_HEX >= 0x03090000
#include "internal/pycore_runtime.h"
#include "internal/pycore_interp.h"
#else
#include "internal/pycore_pystate.h"
#endif
#if PY_VERSION_HEX >= 0x030C0000
#include "internal/pycore_moduleobject.h"
#endif
#if PY_VERSION_HEX >= 0x030D0000 && PY_VERSION_HEX < 0x030F0000
#include "internal/pycore_runtime.h"
#endif
#if PY_VERSION_HEX >= 0x030F0000
#include "internal/pycore_debug_offsets.h"
#endif

#define P(name, value) printf("%s %lld\n", name, (long long)(value))
#define O(name, type, field) P(name, offsetof(type, field))

int main(void) {
    P("version_hex", PY_VERSION_HEX);
#ifdef Py_DEBUG
    P("py_debug", 1);
#else
    P("py_debug", 0);
#endif
#ifdef Py_TRACE_REFS
    P("py_trace_refs", 1);
#else
    P("py_trace_refs", 0);
#endif
    P("sizeof_pyobject", sizeof(PyObject));
    P("sizeof_gc_head", sizeof(PyGC_Head));
    O("ob_type", PyObject, ob_type);
    O("ob_size", PyVarObject, ob_size);

    /* _PyRuntime -> interpreter -> gc state / modules */
    O("runtime_interpreters_head", _PyRuntimeState, interpreters.head);
#if PY_VERSION_HEX < 0x03090000
    O("runtime_gc", _PyRuntimeState, gc);
#else
    O("interp_gc", PyInterpreterState, gc);
#endif
#if PY_VERSION_HEX >= 0x030C0000
    O("interp_modules", PyInterpreterState, imports.modules);
#else
    O("interp_modules", PyInterpreterState, modules);
#endif
    O("interp_next", PyInterpreterState, next);
    O("interp_sysdict", PyInterpreterState, sysdict);
    O("interp_builtins", PyInterpreterState, builtins);

    /* gc state */
    O("gc_enabled", struct _gc_runtime_state, enabled);
#if PY_VERSION_HEX >= 0x030E0000 && PY_VERSION_HEX < 0x030E05C1 && !defined(Py_GIL_DISABLED)
    /* 3.14.0-3.14.4: young, old[2] (incremental GC) */
    O("gc_generations", struct _gc_runtime_state, young);
#else
    O("gc_generations", struct _gc_runtime_state, generations);
#endif
    P("gc_generation_stride", sizeof(struct gc_generation));
    O("gc_permanent", struct _gc_runtime_state, permanent_generation);
    O("gc_collecting", struct _gc_runtime_state, collecting);
    P("sizeof_gc_state", sizeof(struct _gc_runtime_state));

    /* type objects */
    O("tp_name", PyTypeObject, tp_name);
    O("tp_basicsize", PyTypeObject, tp_basicsize);
    O("tp_itemsize", PyTypeObject, tp_itemsize);
    O("tp_flags", PyTypeObject, tp_flags);
    O("tp_members", PyTypeObject, tp_members);
    O("tp_base", PyTypeObject, tp_base);
    O("tp_dict", PyTypeObject, tp_dict);
    O("tp_dictoffset", PyTypeObject, tp_dictoffset);
    O("tp_weaklistoffset", PyTypeObject, tp_weaklistoffset);
    O("tp_mro", PyTypeObject, tp_mro);
    P("sizeof_type", sizeof(PyTypeObject));
    P("sizeof_heap_type", sizeof(PyHeapTypeObject));
    O("ht_qualname", PyHeapTypeObject, ht_qualname);
    O("ht_cached_keys", PyHeapTypeObject, ht_cached_keys);

    /* containers */
    O("tuple_items", PyTupleObject, ob_item);
    O("list_items", PyListObject, ob_item);
    O("list_allocated", PyListObject, allocated);
    O("dict_used", PyDictObject, ma_used);
    O("dict_keys", PyDictObject, ma_keys);
    O("dict_values", PyDictObject, ma_values);
    P("sizeof_dict", sizeof(PyDictObject));
#if PY_VERSION_HEX >= 0x030B0000
    O("keys_log2_size", PyDictKeysObject, dk_log2_size);
    O("keys_log2_index_bytes", PyDictKeysObject, dk_log2_index_bytes);
    O("keys_kind", PyDictKeysObject, dk_kind);
    O("keys_usable", PyDictKeysObject, dk_usable);
    O("keys_nentries", PyDictKeysObject, dk_nentries);
    O("keys_indices", PyDictKeysObject, dk_indices);
    P("sizeof_dict_entry", sizeof(PyDictKeyEntry));
    P("sizeof_unicode_entry", sizeof(PyDictUnicodeEntry));
#endif
#if PY_VERSION_HEX >= 0x030D0000
    O("split_values_start", PyDictValues, values);
#endif
    O("set_fill", PySetObject, fill);
    O("set_used", PySetObject, used);
    O("set_mask", PySetObject, mask);
    O("set_table", PySetObject, table);
    O("set_smalltable", PySetObject, smalltable);
    P("sizeof_set", sizeof(PySetObject));
    O("bytearray_alloc", PyByteArrayObject, ob_alloc);
#if PY_VERSION_HEX >= 0x030F0000
    O("bytearray_bytes_object", PyByteArrayObject, ob_bytes_object);
#endif
    O("bytearray_bytes", PyByteArrayObject, ob_bytes);
    O("bytes_sval", PyBytesObject, ob_sval);
    O("cell_ref", PyCellObject, ob_ref);
    O("method_func", PyMethodObject, im_func);
    O("method_self", PyMethodObject, im_self);
#if PY_VERSION_HEX >= 0x030C0000
    O("module_dict", PyModuleObject, md_dict);
    O("module_state", PyModuleObject, md_state);
#endif
#if PY_VERSION_HEX >= 0x030C0000
    O("long_tag", PyLongObject, long_value.lv_tag);
    O("long_digits", PyLongObject, long_value.ob_digit);
#else
    O("long_digits", PyLongObject, ob_digit);
#endif
    O("float_value", PyFloatObject, ob_fval);

    /* str */
    O("str_length", PyASCIIObject, length);
    O("str_state", PyASCIIObject, state);
    P("str_ascii_data", sizeof(PyASCIIObject));
    P("str_compact_data", sizeof(PyCompactUnicodeObject));
    O("str_utf8_length", PyCompactUnicodeObject, utf8_length);
    O("str_utf8", PyCompactUnicodeObject, utf8);
    O("str_legacy_data", PyUnicodeObject, data);

    /* functions */
    O("func_code", PyFunctionObject, func_code);
    O("func_globals", PyFunctionObject, func_globals);
    O("func_name", PyFunctionObject, func_name);
    O("func_qualname", PyFunctionObject, func_qualname);
    O("func_defaults", PyFunctionObject, func_defaults);
    O("func_kwdefaults", PyFunctionObject, func_kwdefaults);
    O("func_closure", PyFunctionObject, func_closure);
    O("func_module", PyFunctionObject, func_module);
    O("func_doc", PyFunctionObject, func_doc);
    O("func_dict", PyFunctionObject, func_dict);
    O("func_annotations", PyFunctionObject, func_annotations);
#if PY_VERSION_HEX >= 0x030A0000
    O("func_builtins", PyFunctionObject, func_builtins);
#endif
#if PY_VERSION_HEX >= 0x030C0000
    O("func_typeparams", PyFunctionObject, func_typeparams);
#endif
#if PY_VERSION_HEX >= 0x030E0000
    O("func_annotate", PyFunctionObject, func_annotate);
#endif
    P("sizeof_function", sizeof(PyFunctionObject));

    /* frames, generators, code */
#if PY_VERSION_HEX >= 0x030B0000
    O("frame_data", PyFrameObject, _f_frame_data);
    O("frame_f_frame", PyFrameObject, f_frame);
#if PY_VERSION_HEX >= 0x030D0000
    O("iframe_code", _PyInterpreterFrame, f_executable);
#else
    O("iframe_code", _PyInterpreterFrame, f_code);
#endif
    O("iframe_localsplus", _PyInterpreterFrame, localsplus);
    O("gen_iframe", PyGenObject, gi_iframe);
    P("frame_specials", FRAME_SPECIALS_SIZE);
    O("code_nlocalsplus", PyCodeObject, co_nlocalsplus);
    O("code_localsplusnames", PyCodeObject, co_localsplusnames);
    O("code_nfreevars", PyCodeObject, co_nfreevars);
#endif
#if PY_VERSION_HEX >= 0x030B0000 && PY_VERSION_HEX < 0x030C0000
    O("gen_code", PyGenObject, gi_code);
#endif
    O("code_stacksize", PyCodeObject, co_stacksize);
#if PY_VERSION_HEX < 0x030B0000
    O("frame_f_code", PyFrameObject, f_code);
    O("code_nlocals", PyCodeObject, co_nlocals);
    O("code_cellvars", PyCodeObject, co_cellvars);
    O("code_freevars", PyCodeObject, co_freevars);
    P("sizeof_frame", sizeof(PyFrameObject));
#endif
#if PY_VERSION_HEX >= 0x030C0000
    O("code_framesize", PyCodeObject, co_framesize);
#endif

    /* where _Py_DebugOffsets keeps each field (3.13+) */
#if PY_VERSION_HEX >= 0x030D0000
    P("debug_sizeof", sizeof(_Py_DebugOffsets));
    O("debug.version", _Py_DebugOffsets, version);
    O("debug.free_threaded", _Py_DebugOffsets, free_threaded);
    O("debug.runtime_state.size", _Py_DebugOffsets, runtime_state.size);
    O("debug.runtime_state.interpreters_head", _Py_DebugOffsets, runtime_state.interpreters_head);
    O("debug.interpreter_state.size", _Py_DebugOffsets, interpreter_state.size);
    O("debug.interpreter_state.next", _Py_DebugOffsets, interpreter_state.next);
    O("debug.interpreter_state.gc", _Py_DebugOffsets, interpreter_state.gc);
    O("debug.interpreter_state.imports_modules", _Py_DebugOffsets, interpreter_state.imports_modules);
    O("debug.interpreter_state.sysdict", _Py_DebugOffsets, interpreter_state.sysdict);
    O("debug.interpreter_state.builtins", _Py_DebugOffsets, interpreter_state.builtins);
    O("debug.interpreter_frame.executable", _Py_DebugOffsets, interpreter_frame.executable);
    O("debug.interpreter_frame.localsplus", _Py_DebugOffsets, interpreter_frame.localsplus);
    O("debug.interpreter_state.threads_head", _Py_DebugOffsets, interpreter_state.threads_head);
    O("debug.thread_state.next", _Py_DebugOffsets, thread_state.next);
    O("debug.thread_state.thread_id", _Py_DebugOffsets, thread_state.thread_id);
    O("debug.thread_state.current_frame", _Py_DebugOffsets, thread_state.current_frame);
    O("debug.interpreter_frame.previous", _Py_DebugOffsets, interpreter_frame.previous);
    O("debug.interpreter_frame.instr_ptr", _Py_DebugOffsets, interpreter_frame.instr_ptr);
    O("debug.interpreter_frame.owner", _Py_DebugOffsets, interpreter_frame.owner);
    O("debug.code_object.filename", _Py_DebugOffsets, code_object.filename);
    O("debug.code_object.name", _Py_DebugOffsets, code_object.name);
    O("debug.code_object.linetable", _Py_DebugOffsets, code_object.linetable);
    O("debug.code_object.firstlineno", _Py_DebugOffsets, code_object.firstlineno);
    O("debug.code_object.co_code_adaptive", _Py_DebugOffsets, code_object.co_code_adaptive);
    O("debug.pyobject.size", _Py_DebugOffsets, pyobject.size);
    O("debug.pyobject.ob_type", _Py_DebugOffsets, pyobject.ob_type);
    O("debug.type_object.size", _Py_DebugOffsets, type_object.size);
    O("debug.type_object.tp_name", _Py_DebugOffsets, type_object.tp_name);
    O("debug.type_object.tp_flags", _Py_DebugOffsets, type_object.tp_flags);
    O("debug.tuple_object.ob_item", _Py_DebugOffsets, tuple_object.ob_item);
    O("debug.list_object.ob_item", _Py_DebugOffsets, list_object.ob_item);
    O("debug.dict_object.ma_keys", _Py_DebugOffsets, dict_object.ma_keys);
    O("debug.dict_object.ma_values", _Py_DebugOffsets, dict_object.ma_values);
    O("debug.long_object.lv_tag", _Py_DebugOffsets, long_object.lv_tag);
    O("debug.long_object.ob_digit", _Py_DebugOffsets, long_object.ob_digit);
    O("debug.bytes_object.ob_sval", _Py_DebugOffsets, bytes_object.ob_sval);
    O("debug.unicode_object.state", _Py_DebugOffsets, unicode_object.state);
    O("debug.unicode_object.length", _Py_DebugOffsets, unicode_object.length);
    O("debug.unicode_object.asciiobject_size", _Py_DebugOffsets, unicode_object.asciiobject_size);
    O("debug.gc.size", _Py_DebugOffsets, gc.size);
    O("debug.gc.collecting", _Py_DebugOffsets, gc.collecting);
#if PY_VERSION_HEX >= 0x030F0000
    O("debug.type_object.tp_basicsize", _Py_DebugOffsets, type_object.tp_basicsize);
    O("debug.type_object.tp_dictoffset", _Py_DebugOffsets, type_object.tp_dictoffset);
    O("debug.heap_type_object.size", _Py_DebugOffsets, heap_type_object.size);
    O("debug.heap_type_object.ht_cached_keys", _Py_DebugOffsets, heap_type_object.ht_cached_keys);
#endif
#if PY_VERSION_HEX >= 0x030E0000
    O("debug.set_object.used", _Py_DebugOffsets, set_object.used);
    O("debug.set_object.table", _Py_DebugOffsets, set_object.table);
    O("debug.set_object.mask", _Py_DebugOffsets, set_object.mask);
#endif
#if PY_VERSION_HEX >= 0x030F0000
    O("debug.unicode_object.compactunicodeobject_size", _Py_DebugOffsets, unicode_object.compactunicodeobject_size);
    O("debug.gen_object.gi_iframe", _Py_DebugOffsets, gen_object.gi_iframe);
#endif
#endif

    /* threads and frames (the line probe) */
#if PY_VERSION_HEX >= 0x030B0000
    O("interp_threads_head", PyInterpreterState, threads.head);
#else
    O("interp_threads_head", PyInterpreterState, tstate_head);
#endif
    O("tstate_next", PyThreadState, next);
    O("tstate_thread_id", PyThreadState, thread_id);
#if PY_VERSION_HEX < 0x030B0000
    O("tstate_frame", PyThreadState, frame);
    O("frame_back", PyFrameObject, f_back);
    O("frame_instr", PyFrameObject, f_lasti);
#else
#if PY_VERSION_HEX < 0x030D0000
    O("tstate_frame", PyThreadState, cframe);
    O("cframe_current_frame", _PyCFrame, current_frame);
    O("frame_instr", _PyInterpreterFrame, prev_instr);
#else
    O("tstate_frame", PyThreadState, current_frame);
    O("frame_instr", _PyInterpreterFrame, instr_ptr);
#endif
    O("frame_back", _PyInterpreterFrame, previous);
    O("code_adaptive", PyCodeObject, co_code_adaptive);
#endif
#if PY_VERSION_HEX >= 0x030C0000
    O("frame_owner", _PyInterpreterFrame, owner);
#endif
#if PY_VERSION_HEX >= 0x030C0000 && PY_VERSION_HEX < 0x030E0000
    P("frame_owned_by_cstack", FRAME_OWNED_BY_CSTACK);
#endif
#if PY_VERSION_HEX >= 0x030E0000
    P("frame_owned_by_interpreter", FRAME_OWNED_BY_INTERPRETER);
#endif
    O("code_filename", PyCodeObject, co_filename);
    O("code_name", PyCodeObject, co_name);
    O("code_firstlineno", PyCodeObject, co_firstlineno);
#if PY_VERSION_HEX < 0x030A0000
    O("code_linetable", PyCodeObject, co_lnotab);
#else
    O("code_linetable", PyCodeObject, co_linetable);
#endif
    return 0;
}
