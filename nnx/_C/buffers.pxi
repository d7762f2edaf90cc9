# The buffer cache (csrc/buffers.c) as a NumPy memory handler: inside `reusing_buffers()`, arrays of
# this thread (NumPy's handler is a context variable) are allocated through it, so a loop that frees
# and allocates the same big arrays every iteration reuses their already-mapped memory.

cdef extern from *:
    """
    static PyDataMem_Handler nnx_buffer_handler = {
        "nnx_buffer_cache", 1,
        {NULL, nnx_buffer_malloc, nnx_buffer_calloc, nnx_buffer_realloc, nnx_buffer_free}};
    static PyObject *nnx_buffer_handler_capsule(void)
    {
        return PyCapsule_New(&nnx_buffer_handler, "mem_handler", NULL);
    }
    """
    object nnx_buffer_handler_capsule()

cdef object _buffer_handler = nnx_buffer_handler_capsule()


class reusing_buffers:
    """`with reusing_buffers():` allocates this thread's NumPy arrays through the buffer cache: a big
    array freed inside the block (>= 1 MiB) is kept, and the next array of exactly its size reuses it;
    arrays still alive are never touched. On leaving the (outermost) block the kept memory is freed;
    arrays made inside it stay valid for as long as they are used."""

    def __enter__(self):
        nnx_buffer_cache_enter()
        try:
            self._previous = cnp.PyDataMem_SetHandler(_buffer_handler)
        except BaseException:
            nnx_buffer_cache_exit()
            raise
        return self

    def __exit__(self, *exc):
        cnp.PyDataMem_SetHandler(self._previous)
        nnx_buffer_cache_exit()
        return False


def buffer_cache_bytes():
    """The bytes the buffer cache keeps now (0 outside every reusing_buffers block)."""
    return nnx_buffer_cache_bytes()
