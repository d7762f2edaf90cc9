/* buffers.c — a cache of big freed array buffers, for loops that allocate the same big arrays again and
 * again (Model.predict over batches of 1000 images: conv1's 86.5 MB output, pool1's 21.6 MB, ...).
 *
 * Why: malloc serves a block this big with a fresh mmap and returns it to the system on free, so every
 * batch pays to map and zero its pages again on first touch: 10 ms to fill a fresh 86.5 MB array
 * against 3 ms for one already mapped (Zen 4, one thread), a third of conv1's time at batch 1000.
 *
 * How: the four functions below are an allocator (NumPy's PyDataMem_Handler, wired in
 * nnx/_C/buffers.pxi). While at least one scope is open (nnx_buffer_cache_enter / _exit), a freed block
 * of at least NNX_BUFFER_MIN bytes is kept (NNX_BUFFER_SLOTS blocks, NNX_BUFFER_MAX_BYTES in all)
 * instead of freed, and the next request of exactly its size takes it back. Only freed blocks are
 * reused, so no live array is ever overwritten. When the last scope closes, every kept block is freed.
 * Cost: a scan of NNX_BUFFER_SLOTS entries under a spin lock per big allocation; small ones go straight
 * to malloc. Blocks allocated here may be freed here after the scope closed: then they are freed.
 */
#define _DEFAULT_SOURCE /* madvise and MADV_HUGEPAGE under -std=c11 */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "nnx.h"

#ifdef __linux__
#include <sys/mman.h>
#endif

#define NNX_BUFFER_MIN ((size_t)1 << 20)
#define NNX_BUFFER_SLOTS 16
#define NNX_BUFFER_MAX_BYTES ((size_t)1 << 30)
#define NNX_BUFFER_HUGE ((size_t)4 << 20)

static struct {
    void *ptr;
    size_t size;
} slots[NNX_BUFFER_SLOTS];
static size_t kept_bytes;
static int scopes;                      /* open scopes; blocks are kept while > 0 */
static atomic_flag busy = ATOMIC_FLAG_INIT; /* guards slots, kept_bytes and scopes */

static void lock(void)
{
    while (atomic_flag_test_and_set_explicit(&busy, memory_order_acquire))
        ;
}

static void unlock(void) { atomic_flag_clear_explicit(&busy, memory_order_release); }

/* A kept block of exactly `size` bytes, taken out of the cache, or NULL. */
static void *take(size_t size)
{
    void *p = NULL;
    if (size < NNX_BUFFER_MIN)
        return NULL;
    lock();
    for (int i = 0; i < NNX_BUFFER_SLOTS; i++)
        if (slots[i].ptr && slots[i].size == size) {
            p = slots[i].ptr;
            slots[i].ptr = NULL;
            kept_bytes -= size;
            break;
        }
    unlock();
    return p;
}

/* As NumPy's own allocator does: ask for transparent huge pages on a big block (with THP set to
 * 'madvise', else 4 KiB pages: 512 times the page faults and TLB misses). */
static void *huge_pages(void *p, size_t size)
{
#if defined(__linux__) && defined(MADV_HUGEPAGE)
    if (p && size >= NNX_BUFFER_HUGE) {
        uintptr_t first = ((uintptr_t)p + 4095) & ~(uintptr_t)4095, end = ((uintptr_t)p + size) & ~(uintptr_t)4095;
        if (end > first)
            madvise((void *)first, end - first, MADV_HUGEPAGE);
    }
#else
    (void)size;
#endif
    return p;
}

void *nnx_buffer_malloc(void *ctx, size_t size)
{
    (void)ctx;
    void *p = take(size);
    return p ? p : huge_pages(malloc(size), size);
}

void *nnx_buffer_calloc(void *ctx, size_t count, size_t elem)
{
    (void)ctx;
    if (elem && count > (size_t)-1 / elem)
        return NULL;
    void *p = take(count * elem);
    if (!p)
        return huge_pages(calloc(count, elem), count * elem);
    return memset(p, 0, count * elem);
}

void *nnx_buffer_realloc(void *ctx, void *ptr, size_t size)
{
    (void)ctx;
    return huge_pages(realloc(ptr, size), size);
}

void nnx_buffer_free(void *ctx, void *ptr, size_t size)
{
    (void)ctx;
    if (ptr && size >= NNX_BUFFER_MIN) {
        int kept = 0;
        lock();
        if (scopes > 0 && kept_bytes + size <= NNX_BUFFER_MAX_BYTES)
            for (int i = 0; i < NNX_BUFFER_SLOTS && !kept; i++)
                if (!slots[i].ptr) {
                    slots[i].ptr = ptr;
                    slots[i].size = size;
                    kept_bytes += size;
                    kept = 1;
                }
        unlock();
        if (kept)
            return;
    }
    free(ptr);
}

void nnx_buffer_cache_enter(void)
{
    lock();
    scopes++;
    unlock();
}

void nnx_buffer_cache_exit(void)
{
    void *drop[NNX_BUFFER_SLOTS];
    int count = 0;
    lock();
    if (--scopes == 0) {
        for (int i = 0; i < NNX_BUFFER_SLOTS; i++)
            if (slots[i].ptr) {
                drop[count++] = slots[i].ptr;
                slots[i].ptr = NULL;
            }
        kept_bytes = 0;
    }
    unlock();
    for (int i = 0; i < count; i++)
        free(drop[i]);
}

size_t nnx_buffer_cache_bytes(void)
{
    lock();
    size_t bytes = kept_bytes;
    unlock();
    return bytes;
}
