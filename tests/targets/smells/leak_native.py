"""Native growth (leak): every 500th request mallocs a 1 MiB frame buffer through ctypes and
never frees it. No Python object holds the memory: only RSS shows it."""
import ctypes
import ctypes.util

from _service import serve

libc = ctypes.CDLL(ctypes.util.find_library("c"))
libc.malloc.restype = ctypes.c_void_p
libc.malloc.argtypes = [ctypes.c_size_t]
libc.memset.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_size_t]


def decode_frame(n):
    p = libc.malloc(n)
    libc.memset(p, 0, n)  # filled, never freed
    return p


def handle(request_id):
    if request_id % 500 == 0:
        decode_frame(1 << 20)


if __name__ == "__main__":
    serve(handle)
