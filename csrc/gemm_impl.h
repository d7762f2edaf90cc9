/* gemm_impl.h — every rung of the GEMM ladder for one element type.
 *
 * A template: csrc/gemm.c includes it once for float and once for double after defining
 *   T              the element type
 *   NAME(f)        f with a type suffix (static helpers)
 *   GEMM_PUBLIC    the exported function (nnx_sgemm / nnx_dgemm)
 *   GEMM_KERNELS   the micro-kernel table, indexed by nnx_simd: {run, direct, mr, nr, mc, kc, nc, edges}
 * See gemm.c for the algorithm, its cost and the list of optimisation steps.
 */

/* Element (i, j) of op(X) for a row-major X with leading dimension ld, transposed when t != 0. */
#define GEMM_AT(x, ld, t, i, j) ((t) ? (x)[(ptrdiff_t)(j) * (ld) + (i)] : (x)[(ptrdiff_t)(i) * (ld) + (j)])

typedef void (*NAME(ukernel_fn))(ptrdiff_t kc, T alpha, const T *a, const T *b, T beta, T *c, ptrdiff_t ldc);

typedef void (*NAME(direct_fn))(ptrdiff_t kc, T alpha, const T *a, ptrdiff_t a_rs, ptrdiff_t a_ks, const T *b,
                                ptrdiff_t ldb, T beta, T *c, ptrdiff_t ldc);

typedef struct {
    NAME(ukernel_fn) run;
    NAME(direct_fn) direct; /* the same tile, A and B read in place (gemm_ukernel.h, UK_DIRECT) */
    ptrdiff_t mr, nr;     /* register tile */
    ptrdiff_t mc, kc, nc; /* cache blocks: A block mc x kc in L2, B panel kc x nc in L3 */
    ptrdiff_t edge_step;  /* edge[q] computes only (q + 1) * edge_step rows of a tile (0: no edge kernels) */
    NAME(ukernel_fn) edge[2];
    NAME(direct_fn) direct_edge[2];
} NAME(kernel);

static const NAME(kernel) NAME(kernels)[3] = GEMM_KERNELS;

/* C = beta * C, where beta == 0 writes zeros without reading C (it may hold NaN). */
static void NAME(scale_c)(ptrdiff_t m, ptrdiff_t n, T beta, T *c, ptrdiff_t ldc)
{
    if (beta == 1)
        return;
    for (ptrdiff_t i = 0; i < m; i++)
        for (ptrdiff_t j = 0; j < n; j++)
            c[i * ldc + j] = beta == 0 ? 0 : beta * c[i * ldc + j];
}

/* ---- Rung 0, naive: i-j-p. One dot product per element of C; the p loop walks down a column of B
 * with stride ldb, so for large n every multiply-add costs a cache miss. */
static void NAME(gemm_naive)(int ta, int tb, ptrdiff_t m, ptrdiff_t n, ptrdiff_t k, T alpha, const T *a,
                             ptrdiff_t lda, const T *b, ptrdiff_t ldb, T beta, T *c, ptrdiff_t ldc)
{
    for (ptrdiff_t i = 0; i < m; i++)
        for (ptrdiff_t j = 0; j < n; j++) {
            T sum = 0;
            for (ptrdiff_t p = 0; p < k; p++)
                sum += GEMM_AT(a, lda, ta, i, p) * GEMM_AT(b, ldb, tb, p, j);
            T *cij = c + i * ldc + j;
            *cij = beta == 0 ? alpha * sum : alpha * sum + beta * *cij;
        }
}

/* ---- Rung 1, reordered: i-p-j. The inner loop streams a row of B and a row of C contiguously and
 * has no dependence between iterations, so it vectorises; a(i, p) stays in a register. */
static void NAME(gemm_reordered)(int ta, int tb, ptrdiff_t m, ptrdiff_t n, ptrdiff_t k, T alpha,
                                 const T *a, ptrdiff_t lda, const T *b, ptrdiff_t ldb, T beta, T *c,
                                 ptrdiff_t ldc)
{
    NAME(scale_c)(m, n, beta, c, ldc);
    for (ptrdiff_t i = 0; i < m; i++) {
        T *restrict ci = c + i * ldc;
        for (ptrdiff_t p = 0; p < k; p++) {
            T aip = alpha * GEMM_AT(a, lda, ta, i, p);
            if (tb)
                for (ptrdiff_t j = 0; j < n; j++)
                    ci[j] += aip * b[j * ldb + p];
            else
                for (ptrdiff_t j = 0; j < n; j++)
                    ci[j] += aip * b[p * ldb + j];
        }
    }
}

/* ---- Rung 2, cache-blocked: the reordered loops on GEMM_BI x GEMM_BK x GEMM_BJ blocks, so the
 * GEMM_BK x GEMM_BJ block of B (256 KiB in float) is reused from L2 by GEMM_BI rows of A, and the
 * GEMM_BJ-wide slice of a row of C (4 KiB) stays in L1 across GEMM_BK updates. Measured on Zen 1, a
 * few alternatives (64x128x256, 32x256x1024, 16x128x4096) were within 10% or slower. */
#ifndef GEMM_BI
#define GEMM_BI 128
#define GEMM_BK 64
#define GEMM_BJ 1024
#endif
static void NAME(gemm_blocked)(int ta, int tb, ptrdiff_t m, ptrdiff_t n, ptrdiff_t k, T alpha,
                               const T *a, ptrdiff_t lda, const T *b, ptrdiff_t ldb, T beta, T *c,
                               ptrdiff_t ldc)
{
    NAME(scale_c)(m, n, beta, c, ldc);
    for (ptrdiff_t j0 = 0; j0 < n; j0 += GEMM_BJ) {
        ptrdiff_t j1 = j0 + GEMM_BJ < n ? j0 + GEMM_BJ : n;
        for (ptrdiff_t p0 = 0; p0 < k; p0 += GEMM_BK) {
            ptrdiff_t p1 = p0 + GEMM_BK < k ? p0 + GEMM_BK : k;
            for (ptrdiff_t i0 = 0; i0 < m; i0 += GEMM_BI) {
                ptrdiff_t i1 = i0 + GEMM_BI < m ? i0 + GEMM_BI : m;
                for (ptrdiff_t i = i0; i < i1; i++) {
                    T *restrict ci = c + i * ldc;
                    for (ptrdiff_t p = p0; p < p1; p++) {
                        T aip = alpha * GEMM_AT(a, lda, ta, i, p);
                        if (tb)
                            for (ptrdiff_t j = j0; j < j1; j++)
                                ci[j] += aip * b[j * ldb + p];
                        else
                            for (ptrdiff_t j = j0; j < j1; j++)
                                ci[j] += aip * b[p * ldb + j];
                    }
                }
            }
        }
    }
}

/* ---- Rungs 3 and 4: packed (BLIS/Goto) ---------------------------------------------------------- */

/* dst[0:len] = src[0:len] for the short rows of packing (len <= nr or mr): in fixed chunks of 8, 4, 2
 * and 1, which compile to a few vector moves, where a plain loop becomes a call to memmove per row. */
static inline void NAME(copy_short)(T *restrict dst, const T *restrict src, ptrdiff_t len)
{
    ptrdiff_t j = 0;
    for (; j + 8 <= len; j += 8)
#pragma GCC unroll 8
        for (int q = 0; q < 8; q++)
            dst[j + q] = src[j + q];
    if (j + 4 <= len) {
        dst[j] = src[j], dst[j + 1] = src[j + 1], dst[j + 2] = src[j + 2], dst[j + 3] = src[j + 3];
        j += 4;
    }
    if (j + 2 <= len) {
        dst[j] = src[j], dst[j + 1] = src[j + 1];
        j += 2;
    }
    if (j < len)
        dst[j] = src[j];
}

/* Pack the mc x kc block of op(A) whose top-left element is op(A)[i0][p0] into micro-panels of mr
 * rows, each stored k-major (mr values per k) so the micro-kernel reads it with unit stride. Rows past
 * mc are zero, so edge tiles run the same full-size micro-kernel. */
static void NAME(pack_a)(const NAME(kernel) *K, int ta, ptrdiff_t mc, ptrdiff_t kc, const T *a,
                         ptrdiff_t lda, ptrdiff_t i0, ptrdiff_t p0, T *restrict dst)
{
    const ptrdiff_t mr = K->mr;
    for (ptrdiff_t i = 0; i < mc; i += mr, dst += mr * kc) {
        ptrdiff_t rows = mc - i < mr ? mc - i : mr;
        if (ta) { /* op(A) rows are contiguous in memory along i: copy mr at a time */
            for (ptrdiff_t p = 0; p < kc; p++)
                NAME(copy_short)(dst + p * mr, a + (p0 + p) * lda + i0 + i, rows);
        } else { /* a transpose: read each row 16 values at a time along k, scatter them down the panel */
            const T *src = a + (i0 + i) * lda + p0;
            ptrdiff_t p = 0;
            for (; p + 16 <= kc; p += 16)
                for (ptrdiff_t r = 0; r < rows; r++) {
                    T row[16];
#pragma GCC unroll 16
                    for (int q = 0; q < 16; q++)
                        row[q] = src[r * lda + p + q];
#pragma GCC unroll 16
                    for (int q = 0; q < 16; q++)
                        dst[(p + q) * mr + r] = row[q];
                }
            for (; p < kc; p++)
                for (ptrdiff_t r = 0; r < rows; r++)
                    dst[p * mr + r] = src[r * lda + p];
        }
        for (ptrdiff_t r = rows; r < mr; r++)
            for (ptrdiff_t p = 0; p < kc; p++)
                dst[p * mr + r] = 0;
    }
}

/* Pack the kc x nc slice of op(B) at op(B)[p0][j0] into micro-panels of nr columns, each k-major
 * (nr values per k); columns past nc are zero. */
static void NAME(pack_b)(const NAME(kernel) *K, int tb, ptrdiff_t kc, ptrdiff_t nc, const T *b,
                         ptrdiff_t ldb, ptrdiff_t p0, ptrdiff_t j0, T *restrict dst)
{
    const ptrdiff_t nr = K->nr;
    for (ptrdiff_t jp = 0; jp < nc; jp += nr, dst += nr * kc) {
        ptrdiff_t cols = nc - jp < nr ? nc - jp : nr;
        if (tb) { /* op(B) columns are contiguous in memory along k */
            for (ptrdiff_t j = 0; j < cols; j++) {
                const T *src = b + (j0 + jp + j) * ldb + p0;
                for (ptrdiff_t p = 0; p < kc; p++)
                    dst[p * nr + j] = src[p];
            }
        } else {
            for (ptrdiff_t p = 0; p < kc; p++)
                NAME(copy_short)(dst + p * nr, b + (p0 + p) * ldb + j0 + jp, cols);
        }
        for (ptrdiff_t p = 0; p < kc; p++)
            for (ptrdiff_t j = cols; j < nr; j++)
                dst[p * nr + j] = 0;
    }
}

/* Where a macro-kernel reads A and B from: packed panels (a, b NULL), or the operands in place: tile
 * row r of A at a + r * a_rs, step a_ks along k; row p of the B block at b + p * ldb. */
typedef struct {
    const T *a, *b;
    ptrdiff_t a_rs, a_ks, ldb;
} NAME(operands);

/* The two inner loops, jr over the B micro-panels and ir over the A micro-panels: an mc x nc block
 * of C tile by tile. Full tiles go straight to C; edge tiles are computed into a small buffer and
 * their real part merged, so the micro-kernel never reads or writes outside C. With A or B in place
 * (d), the full tiles and panels read them there (the direct kernel) and only the edge panels, where
 * a tile would read past the operand, come packed (zero-padded). */
static void NAME(macro_kernel)(const NAME(kernel) *K, ptrdiff_t mc, ptrdiff_t nc, ptrdiff_t kc, T alpha,
                               const T *apack, const T *bpack, const NAME(operands) *d, T beta, T *c,
                               ptrdiff_t ldc)
{
    const ptrdiff_t mr = K->mr, nr = K->nr;
    for (ptrdiff_t j = 0; j < nc; j += nr) {
        ptrdiff_t cols = nc - j < nr ? nc - j : nr;
        int direct_b = d->b && cols == nr;
        const T *bp = direct_b ? d->b + j : bpack + j * kc;
        ptrdiff_t ldb = direct_b ? d->ldb : nr;
        for (ptrdiff_t i = 0; i < mc; i += mr) {
            ptrdiff_t rows = mc - i < mr ? mc - i : mr;
            int direct_a = d->a && rows == mr, direct = direct_a || direct_b;
            const T *ap = direct_a ? d->a + i * d->a_rs : apack + i * kc;
            ptrdiff_t a_rs = direct_a ? d->a_rs : 1, a_ks = direct_a ? d->a_ks : mr;
            T *cij = c + i * ldc + j;
            if (rows == mr && cols == nr) {
                if (direct)
                    K->direct(kc, alpha, ap, a_rs, a_ks, bp, ldb, beta, cij, ldc);
                else
                    K->run(kc, alpha, ap, bp, beta, cij, ldc);
            } else {
                /* the bottom edge: a shorter kernel where one covers the rows (64 rows of 12-row tiles
                 * would otherwise compute 72) */
                _Alignas(64) T tile[GEMM_MAX_TILE];
                ptrdiff_t q = K->edge_step ? (rows - 1) / K->edge_step : 2;
                if (direct)
                    (q < 2 ? K->direct_edge[q] : K->direct)(kc, alpha, ap, a_rs, a_ks, bp, ldb, 0, tile, nr);
                else
                    (q < 2 ? K->edge[q] : K->run)(kc, alpha, ap, bp, 0, tile, nr);
                for (ptrdiff_t r = 0; r < rows; r++)
                    for (ptrdiff_t q = 0; q < cols; q++) {
                        T *cp = cij + r * ldc + q;
                        *cp = beta == 0 ? tile[r * nr + q] : beta * *cp + tile[r * nr + q];
                    }
            }
        }
    }
}

/* Where the kc x nc block (jc, pc) of a whole packed op(B) starts: the blocks are stored jc-major, the
 * pc blocks of one jc slice one after the other, each as pack_b lays it out (nc rounded up to nr).
 * Every jc slice but the last is nc_max wide, a multiple of nr, so the slices before jc hold jc * k. */
static ptrdiff_t NAME(packed_b_offset)(const NAME(kernel) *K, ptrdiff_t k, ptrdiff_t n, ptrdiff_t nc_max,
                                       ptrdiff_t jc, ptrdiff_t pc)
{
    ptrdiff_t slice = n - jc < nc_max ? n - jc : nc_max;
    return jc * k + pc * ((slice + K->nr - 1) / K->nr * K->nr);
}

/* The block sizes of one call: nc and mc shrink to the problem (rounded up to whole tiles). */
static void NAME(block_sizes)(const NAME(kernel) *K, ptrdiff_t m, ptrdiff_t n, ptrdiff_t k, ptrdiff_t *mc,
                              ptrdiff_t *nc, ptrdiff_t *kc)
{
    *mc = K->mc < m ? K->mc : (m + K->mr - 1) / K->mr * K->mr;
    *nc = K->nc < n ? K->nc : (n + K->nr - 1) / K->nr * K->nr;
    *kc = K->kc < k ? K->kc : k;
}

/* Pack the B micro-panel `panel` (kc x cols, at op(B)[pc][j]) of the shared buffer unless another
 * thread has packed it or is packing it: returns at once either way. *state is 2g + 2 once the panel is
 * packed for k group g, 2g + 1 while a thread packs it. A unit claims all its panels first and waits
 * for the others' (await_b_panel) only then, so two threads that start on the same panels pack them
 * side by side instead of one waiting for each panel the other took. */
static void NAME(claim_b_panel)(const NAME(kernel) *K, atomic_int *state, int g, int tb, ptrdiff_t kc,
                                ptrdiff_t cols, const T *b, ptrdiff_t ldb, ptrdiff_t pc, ptrdiff_t j,
                                T *panel)
{
    int expected = 2 * g;
    if (atomic_load_explicit(state, memory_order_relaxed) == expected &&
        atomic_compare_exchange_strong_explicit(state, &expected, 2 * g + 1, memory_order_acquire,
                                                memory_order_relaxed)) {
        NAME(pack_b)(K, tb, kc, cols, b, ldb, pc, j, panel);
        atomic_store_explicit(state, 2 * g + 2, memory_order_release);
    }
}

static void NAME(await_b_panel)(atomic_int *state, int g)
{
    while (atomic_load_explicit(state, memory_order_acquire) != 2 * g + 2)
        ; /* another thread is packing it (a few microseconds) */
}

/* One call of the parallel rung, as every thread sees it (gemm_packed sets it up). */
typedef struct {
    const NAME(kernel) *K;
    int ta, tb;
    ptrdiff_t m, n, k, lda, ldb, ldc;
    T alpha, beta;
    const T *a, *b, *bpacked;
    T *c;
    ptrdiff_t mc_max, nc_max, kc_max, kg_max;  /* block sizes; kg_max: the k depth of one B group */
    ptrdiff_t tiles_m, blocks_m, chunks, units; /* the units of C, per k group */
    T *bshared, *apacks;                        /* the shared B group; one A block per thread */
    size_t a_len;
    atomic_int *ready;                          /* one flag per micro-panel of the B group */
    atomic_ptrdiff_t *next;                     /* per k group: the next unit to hand out */
} NAME(job);

/* One unit of C, rows ic..ic+mc (one row block) by columns jc + jr.. (w of them), over the k group
 * pg..pg+kg: the loops pc / ic / jr / ir. */
static void NAME(gemm_unit)(const NAME(job) *J, T *apack, int g, ptrdiff_t pg, ptrdiff_t kg, ptrdiff_t ic,
                            ptrdiff_t mc, ptrdiff_t jc, ptrdiff_t jr, ptrdiff_t w)
{
    const NAME(kernel) *K = J->K;
    const ptrdiff_t mr = K->mr, nr = K->nr, k = J->k, kc_max = J->kc_max, lda = J->lda, ldb = J->ldb;
    const ptrdiff_t tiles_n = (J->n + nr - 1) / nr;
    /* Small products read A or B in place: A when this unit's few B panels would reuse a packed copy
     * little, B when a single row block of C uses its panels once. */
    int direct_a = w <= GEMM_DIRECT_A_PANELS * nr, direct_b = !J->bpacked && !J->tb && J->blocks_m == 1;
    ptrdiff_t full_rows = direct_a ? mc / mr * mr : 0; /* the A rows not packed */
    for (ptrdiff_t pc = pg; pc < pg + kg; pc += kc_max) {    /* loop 4: KC depth */
        ptrdiff_t kc = k - pc < kc_max ? k - pc : kc_max;
        T beta_pc = pc == 0 ? J->beta : 1; /* later k blocks accumulate onto the first */
        NAME(operands) d = {NULL, NULL, J->ta ? 1 : lda, J->ta ? lda : 1, ldb};
        if (direct_a)
            d.a = J->ta ? J->a + pc * lda + ic : J->a + ic * lda + pc;
        if (direct_b)
            d.b = J->b + pc * ldb + jc + jr;
        const T *bp;
        if (J->bpacked) {
            bp = J->bpacked + NAME(packed_b_offset)(K, k, J->n, J->nc_max, jc, pc) + jr * kc;
        } else { /* the same layout, for the k group only; pack the unit's panels not read in place */
            bp = J->bshared + NAME(packed_b_offset)(K, kg, J->n, J->nc_max, jc, pc - pg) + jr * kc;
            atomic_int *ready = J->ready + (pc - pg) / kc_max * tiles_n + (jc + jr) / nr;
            for (ptrdiff_t jp = 0; jp < w; jp += nr)
                if (!direct_b || w - jp < nr)
                    NAME(claim_b_panel)(K, ready + jp / nr, g, J->tb, kc, w - jp < nr ? w - jp : nr, J->b,
                                        ldb, pc, jc + jr + jp, (T *)bp + jp * kc);
            for (ptrdiff_t jp = 0; jp < w; jp += nr)
                if (!direct_b || w - jp < nr)
                    NAME(await_b_panel)(ready + jp / nr, g);
        }
        if (full_rows < mc) /* loop 3: one MC block of A (with A in place, its bottom edge) */
            NAME(pack_a)(K, J->ta, mc - full_rows, kc, J->a, lda, ic + full_rows, pc,
                         apack + full_rows * kc);
        NAME(macro_kernel)(K, mc, w, kc, J->alpha, apack, bp, &d, beta_pc, /* loops 2, 1 */
                           J->c + ic * J->ldc + jc + jr, J->ldc);
    }
}

/* What each of nt threads runs: units from the shared counter until none are left, per k group. Unit
 * u is row block b by column chunk q of a slice; block b holds tiles b * tiles_m / blocks_m up to the
 * next block's first, chunk q likewise its share of the slice's panels: units differ by a tile row or
 * a panel at most. */
static void NAME(gemm_worker)(const NAME(job) *J, int nt, int tid)
{
    T *apack = J->apacks + (size_t)tid * J->a_len;
    const ptrdiff_t mr = J->K->mr, nr = J->K->nr, per_slice = J->blocks_m * J->chunks;
    for (ptrdiff_t pg = 0, g = 0; pg < J->k; pg += J->kg_max, g++) {
        ptrdiff_t kg = J->k - pg < J->kg_max ? J->k - pg : J->kg_max, unit;
        if (g > 0 && nt > 1) {
#pragma omp barrier /* every unit of the last group is done: its B buffer may be refilled */
        }
        while ((unit = atomic_fetch_add_explicit(&J->next[g], 1, memory_order_relaxed)) < J->units) {
            ptrdiff_t jc = unit / per_slice * J->nc_max, b = unit % per_slice / J->chunks,
                      q = unit % J->chunks;
            ptrdiff_t nc = J->n - jc < J->nc_max ? J->n - jc : J->nc_max, panels = (nc + nr - 1) / nr;
            ptrdiff_t ic = b * J->tiles_m / J->blocks_m * mr, jr = q * panels / J->chunks * nr;
            ptrdiff_t i_end = (b + 1) * J->tiles_m / J->blocks_m * mr;
            ptrdiff_t j_end = (q + 1) * panels / J->chunks * nr;
            ptrdiff_t mc = (i_end < J->m ? i_end : J->m) - ic, w = (j_end < nc ? j_end : nc) - jr;
            if (w > 0) /* (the last slice may have fewer panels than chunks) */
                NAME(gemm_unit)(J, apack, (int)g, pg, kg, ic, mc, jc, jr, w);
        }
    }
}

/* The five loops jc / pc / ic / jr / ir on nthreads threads (1 for the packed rung).
 *
 * The threads share out C in units of one row block (at most mc rows) by one column chunk (whole
 * micro-tiles, inside one nc_max-wide slice, narrow enough for GEMM_UNITS_PER_THREAD units per thread;
 * the blocks and chunks equal to a tile, and their count a multiple of the threads): each takes
 * the next unit from a shared counter and, for each kc block, packs the unit's A block into its own
 * buffer and runs the macro-kernel on it. No thread owns a fixed share, so a thread on a core that
 * another process slows down just takes fewer units, and the others wait for it only at the end, for
 * its last unit. op(B) is packed once, into one buffer shared by all threads, micro-panel by
 * micro-panel by the first unit that needs each (a per-panel flag), so there is no barrier between
 * packing and multiplying either. The buffer holds all of k (for huge B, GEMM_B_SHARED_MAX elements'
 * depth: a group of kc blocks, then a barrier before the next group). One thread runs without any
 * OpenMP construct (each costs system calls, which matter for small products).
 * Every unit starts on a multiple of mr rows and nr columns, so every C element lies in the same
 * micro-tile (and edge tile) whoever computes it, and is accumulated over the same kc blocks in the
 * same order: results are bit-identical for any thread count.
 * With bpacked (all of op(B) packed beforehand by pack_b_whole, in the same layout) the threads read
 * their B panels from it and pack only A; the result is bit-identical to packing B here.
 * Returns -1 (having done nothing) if the buffers cannot be allocated. */
static int NAME(gemm_packed)(const NAME(kernel) *K, int nthreads, int ta, int tb, ptrdiff_t m,
                             ptrdiff_t n, ptrdiff_t k, T alpha, const T *a, ptrdiff_t lda, const T *b,
                             ptrdiff_t ldb, const T *bpacked, T beta, T *c, ptrdiff_t ldc)
{
    const ptrdiff_t mr = K->mr, nr = K->nr;
    NAME(job) J = {K, ta, tb, m, n, k, lda, ldb, ldc, alpha, beta, a, b, bpacked, c};
    NAME(block_sizes)(K, m, n, k, &J.mc_max, &J.nc_max, &J.kc_max);
    const ptrdiff_t tiles_m = (m + mr - 1) / mr, tiles_n = (n + nr - 1) / nr;

    /* Threads only for enough work: each should get >= GEMM_MIN_FLOPS and at least one tile. */
    double flops = 2.0 * (double)m * (double)n * (double)k;
    if (nthreads > flops / GEMM_MIN_FLOPS)
        nthreads = (int)(flops / GEMM_MIN_FLOPS);
    if (nthreads > tiles_m * tiles_n)
        nthreads = (int)(tiles_m * tiles_n);
    if (nthreads < 1)
        nthreads = 1;

    /* The k group packed at once (a multiple of kc_max): all of k unless that is too much. */
    J.kg_max = k;
    if (!bpacked && k * tiles_n * nr > GEMM_B_SHARED_MAX) {
        J.kg_max = GEMM_B_SHARED_MAX / (tiles_n * nr) / J.kc_max * J.kc_max;
        J.kg_max = J.kg_max > J.kc_max ? J.kg_max : J.kc_max;
    }
    const ptrdiff_t groups = (k + J.kg_max - 1) / J.kg_max;
    /* The units: per nc_max slice of columns, blocks_m row blocks x chunks column chunks, all about the
     * same size, and as many as a multiple of the threads where the tiles allow: with 7 units of 144
     * rows and one of 16 (m = 1024) one thread did 4 units and the other 3 and a bit, 89% of the work
     * it could have shared. */
    const ptrdiff_t slice_panels = (n < J.nc_max ? n + nr - 1 : J.nc_max) / nr;
    J.tiles_m = tiles_m;
    J.blocks_m = (m + J.mc_max - 1) / J.mc_max;
    J.chunks = (GEMM_UNITS_PER_THREAD * nthreads + J.blocks_m - 1) / J.blocks_m;
    J.chunks = nthreads == 1 ? 1 : J.chunks < slice_panels ? J.chunks : slice_panels;
    if (J.chunks == 1) /* tall C: more row blocks */
        J.blocks_m = (J.blocks_m + nthreads - 1) / nthreads * nthreads;
    J.blocks_m = J.blocks_m < tiles_m ? J.blocks_m : tiles_m;
    while (J.blocks_m * J.chunks % nthreads && J.chunks < slice_panels) /* wide C: more column chunks */
        J.chunks++;
    J.mc_max = (tiles_m + J.blocks_m - 1) / J.blocks_m * mr; /* the tallest block */
    J.units = (n + J.nc_max - 1) / J.nc_max * J.blocks_m * J.chunks;

    /* One buffer: the shared B group (none when B comes packed), one A block (mc x kc) per thread, the
     * panel flags and the unit counters; each part a multiple of 64 bytes. */
    size_t b_len = bpacked ? 0 : (size_t)(J.kg_max * tiles_n * nr + 15) / 16 * 16;
    J.a_len = (size_t)(J.kc_max * J.mc_max + 15) / 16 * 16;
    size_t flags = bpacked ? 0 : (size_t)((J.kg_max + J.kc_max - 1) / J.kc_max * tiles_n);
    size_t t_bytes = (b_len + (size_t)nthreads * J.a_len) * sizeof(T);
    size_t f_bytes = (flags * sizeof(atomic_int) + 63) / 64 * 64;
    size_t c_bytes = ((size_t)groups * sizeof(atomic_ptrdiff_t) + 63) / 64 * 64;
    char *buf = aligned_alloc(64, t_bytes + f_bytes + c_bytes);
    if (!buf)
        return -1;
    J.bshared = (T *)buf;
    J.apacks = J.bshared + b_len;
    J.ready = (atomic_int *)(buf + t_bytes);
    J.next = (atomic_ptrdiff_t *)(buf + t_bytes + f_bytes);
    for (size_t f = 0; f < flags; f++)
        atomic_init(&J.ready[f], 0);
    for (ptrdiff_t g = 0; g < groups; g++)
        atomic_init(&J.next[g], 0);

    if (nthreads == 1) {
        NAME(gemm_worker)(&J, 1, 0);
    } else {
#pragma omp parallel num_threads(nthreads)
        NAME(gemm_worker)(&J, gemm_thread_count(), gemm_thread_id());
    }
    free(buf);
    return 0;
}

/* ---- Step 5, pre-packed B: when one B multiplies many A (an RNN's recurrent weights, once per time
 * step), pack all of op(B) once with pack_b_whole and run the parallel rung on it: each call then
 * packs only A. The packed layout depends on the SIMD path's micro-kernel (nr, kc, nc). */
static ptrdiff_t NAME(packed_b_len)(const NAME(kernel) *K, ptrdiff_t k, ptrdiff_t n)
{
    return k * ((n + K->nr - 1) / K->nr * K->nr);
}

static void NAME(pack_b_whole)(const NAME(kernel) *K, int tb, ptrdiff_t k, ptrdiff_t n, const T *b,
                               ptrdiff_t ldb, T *packed)
{
    ptrdiff_t mc_max, nc_max, kc_max;
    NAME(block_sizes)(K, 1, n, k, &mc_max, &nc_max, &kc_max);
    for (ptrdiff_t jc = 0; jc < n; jc += nc_max) {
        ptrdiff_t nc = n - jc < nc_max ? n - jc : nc_max;
        for (ptrdiff_t pc = 0; pc < k; pc += kc_max) {
            ptrdiff_t kc = k - pc < kc_max ? k - pc : kc_max;
            T *block = packed + NAME(packed_b_offset)(K, k, n, nc_max, jc, pc);
            NAME(pack_b)(K, tb, kc, nc, b, ldb, pc, jc, block);
        }
    }
}

void GEMM_PUBLIC(nnx_gemm_rung rung, int ta, int tb, ptrdiff_t m, ptrdiff_t n, ptrdiff_t k, T alpha,
                 const T *a, ptrdiff_t lda, const T *b, ptrdiff_t ldb, T beta, T *c, ptrdiff_t ldc)
{
    if (m <= 0 || n <= 0)
        return;
    if (k <= 0) {
        NAME(scale_c)(m, n, beta, c, ldc);
        return;
    }
    switch (rung) {
    case NNX_GEMM_NAIVE:
        NAME(gemm_naive)(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
        return;
    case NNX_GEMM_REORDERED:
        NAME(gemm_reordered)(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
        return;
    case NNX_GEMM_BLOCKED:
        NAME(gemm_blocked)(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
        return;
    default: {
        int threads = rung == NNX_GEMM_PACKED ? 1 : nnx_get_num_threads();
        if (NAME(gemm_packed)(&NAME(kernels)[nnx_simd_active()], threads, ta, tb, m, n, k, alpha, a, lda,
                              b, ldb, NULL, beta, c, ldc) != 0) /* out of memory: the unbuffered rung */
            NAME(gemm_blocked)(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
    }
    }
}

ptrdiff_t GEMM_PACKED_B_SIZE(nnx_simd path, ptrdiff_t k, ptrdiff_t n)
{
    return NAME(packed_b_len)(&NAME(kernels)[path], k > 0 ? k : 0, n > 0 ? n : 0);
}

void GEMM_PACK_B(nnx_simd path, int tb, ptrdiff_t k, ptrdiff_t n, const T *b, ptrdiff_t ldb, T *packed)
{
    if (k > 0 && n > 0)
        NAME(pack_b_whole)(&NAME(kernels)[path], tb, k, n, b, ldb, packed);
}

int GEMM_WITH_PACKED_B(nnx_simd path, int threads, int ta, ptrdiff_t m, ptrdiff_t n, ptrdiff_t k, T alpha,
                       const T *a, ptrdiff_t lda, const T *packed, T beta, T *c, ptrdiff_t ldc)
{
    if (m <= 0 || n <= 0)
        return 0;
    if (k <= 0) {
        NAME(scale_c)(m, n, beta, c, ldc);
        return 0;
    }
    return NAME(gemm_packed)(&NAME(kernels)[path], threads, ta, 0, m, n, k, alpha, a, lda, NULL, 0, packed,
                             beta, c, ldc);
}
