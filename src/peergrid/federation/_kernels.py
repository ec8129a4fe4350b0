"""Compiled (numba) kernels of the federation engine.

Each kernel does in one pass over memory what the numpy version does in many, and
gives **bit-identical** results to it: the same operations in the same floating-point
order (including numpy's pairwise summation where the numpy version reduces). The
plain numpy versions stay in :mod:`peergrid.federation.engine` and
:mod:`peergrid.federation.overlay` as the reference the tests compare against
(``kernel="numpy"``).

- :func:`fill_ranks` — the whole rank-by-rank joint matching of
  :func:`~peergrid.federation.engine.fill_jointly`: per rank one read pass (provider,
  type, capacity, price), then one write pass (fills, capacities, needs, exchange log),
  with providers met by several requests in the same rank served in request order
  exactly as the numpy segmented cumulative sum does;
- :func:`triadic_append` — duplicate check and CSR rebuild of the triadic rewiring in one
  pass (``Overlay.add_links`` after the rank-wise duplicate scan);
- :func:`bad_entries` — the entries of random views to draw again (the owner itself, or a
  repeat of an earlier entry of the row), checked only on the rows redrawn in the last round.
"""

from __future__ import annotations

import numpy as np

try:  # numba is a core dependency; the fallback keeps imports working without it
    from llvmlite import ir
    from numba import njit, types
    from numba.core import cgutils
    from numba.extending import intrinsic

    HAVE_NUMBA = True
except ImportError:  # pragma: no cover - numba is installed with peergrid
    HAVE_NUMBA = False

    def njit(*args, **kwargs):  # type: ignore[no-redef]
        def wrap(f):
            return f

        return wrap if not (len(args) == 1 and callable(args[0])) else args[0]


#: How many requests ahead the matching pass prefetches the candidate (``2 × PREFETCH``)
#: and its capacity (``PREFETCH``): the reads are random, so keeping several memory
#: accesses in flight is what bounds the time per rank step.
PREFETCH = 16

if HAVE_NUMBA:

    @intrinsic
    def _prefetch(typingctx, arr, idx):
        """Hint the CPU to load ``arr[idx]`` into the cache (``llvm.prefetch``; no bounds check, no fault)."""
        if not isinstance(arr, types.Array):
            return None

        def codegen(context, builder, signature, args):
            aty = signature.args[0]
            ary = context.make_array(aty)(context, builder, args[0])
            ptr = cgutils.get_item_pointer(context, builder, aty, ary, [args[1]], wraparound=False)
            i8p = ir.IntType(8).as_pointer()
            i32 = ir.IntType(32)
            fnty = ir.FunctionType(ir.VoidType(), [i8p, i32, i32, i32])
            fn = cgutils.get_or_insert_function(builder.module, fnty, "llvm.prefetch.p0i8")
            # read/write 1 (the capacity is written back), locality 3 (keep), data cache
            builder.call(fn, [builder.bitcast(ptr, i8p), i32(1), i32(3), i32(1)])
            return context.get_dummy_value()

        return types.void(arr, idx), codegen

else:  # pragma: no cover

    def _prefetch(arr, idx):
        return None


__all__ = ["HAVE_NUMBA", "bad_entries", "fill_ranks", "gather_ids", "pairwise_sum", "triadic_append", "view_requests"]


@njit(cache=True, nogil=True)
def _pairwise_block(a, lo, n):  # pragma: no cover - compiled
    """numpy's ``pairwise_sum`` leaf (``n <= 128``): 8 accumulators, or a plain loop below 8."""
    if n < 8:
        res = -0.0
        for i in range(n):
            res += a[lo + i]
        return res
    r0 = a[lo]
    r1 = a[lo + 1]
    r2 = a[lo + 2]
    r3 = a[lo + 3]
    r4 = a[lo + 4]
    r5 = a[lo + 5]
    r6 = a[lo + 6]
    r7 = a[lo + 7]
    i = 8
    while i < n - (n % 8):
        r0 += a[lo + i]
        r1 += a[lo + i + 1]
        r2 += a[lo + i + 2]
        r3 += a[lo + i + 3]
        r4 += a[lo + i + 4]
        r5 += a[lo + i + 5]
        r6 += a[lo + i + 6]
        r7 += a[lo + i + 7]
        i += 8
    res = ((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7))
    while i < n:
        res += a[lo + i]
        i += 1
    return res


@njit(cache=True, nogil=True)
def _pairwise(a, lo, n):  # pragma: no cover - compiled
    """numpy's ``pairwise_sum`` of ``a[lo : lo + n]`` (float64, unit stride), same rounding.

    Above 128 entries numpy splits at ``n / 2`` rounded down to a multiple of 8 and adds
    the two halves' sums; done here with an explicit stack (numba's cache cannot hold
    recursive functions safely).
    """
    if n <= 128:
        return _pairwise_block(a, lo, n)
    f_lo = np.empty(64, np.int64)
    f_n = np.empty(64, np.int64)
    f_stage = np.empty(64, np.int64)
    vals = np.empty(64, np.float64)
    nf = 1
    nv = 0
    f_lo[0] = lo
    f_n[0] = n
    f_stage[0] = 0
    while nf > 0:
        top = nf - 1
        lo_t = f_lo[top]
        n_t = f_n[top]
        if n_t <= 128:
            vals[nv] = _pairwise_block(a, lo_t, n_t)
            nv += 1
            nf -= 1
            continue
        n2 = n_t // 2
        n2 -= n2 % 8
        stage = f_stage[top]
        if stage == 0:
            f_stage[top] = 1
            f_lo[nf] = lo_t
            f_n[nf] = n2
            f_stage[nf] = 0
            nf += 1
        elif stage == 1:
            f_stage[top] = 2
            f_lo[nf] = lo_t + n2
            f_n[nf] = n_t - n2
            f_stage[nf] = 0
            nf += 1
        else:
            vals[nv - 2] = vals[nv - 2] + vals[nv - 1]
            nv -= 1
            nf -= 1
    return vals[0]


@njit(cache=True, nogil=True)
def pairwise_sum(a):  # pragma: no cover - compiled
    """``numpy.add.reduce`` of a contiguous float64 array with numpy's rounding (for tests)."""
    if a.size == 0:
        return 0.0
    return _pairwise(a, 0, a.size)


@njit(cache=True, nogil=True)
def fill_ranks(
    act,
    a_pos,
    a_len,
    a_tag,
    source,
    req_node,
    need,
    cap,
    type_mask,
    typed,
    price_factor,
    max_factor,
    use_price,
    exclude_self,
    order_stride,
):  # pragma: no cover - compiled; tested against the numpy version
    """Rank-by-rank joint filling (see :func:`peergrid.federation.engine.fill_jointly`).

    ``act``, ``a_pos``, ``a_len``, ``a_tag`` are the active requests (index, first candidate
    position, candidate count, type tag: ``type × stride`` when ``typed`` else the type's bit
    number); ``need`` and ``cap`` are updated in place. Returns ``(req, prov, qty, n)``: the
    first ``n`` entries are the exchanges, in the numpy version's order. ``order_stride`` > 0
    with the bit-mask layout (single-type producers) orders clashing providers as the numpy
    version's typed layout does, by ``type × order_stride + provider``, so the rounding of its
    cumulative sums is reproduced too.

    One pass per rank reads each candidate's capacity and writes the fill back in the same
    memory access. The first request of a rank to claim a provider is served at once (its
    fill ``min(need, capacity)`` is what the numpy version gives the first of a group); a
    bit map of the rank's claimed providers (``cap.size`` bits, cache-resident) flags later
    requests meeting the same provider, which are served after the pass with the numpy
    version's segmented-cumulative-sum arithmetic, operation for operation.
    """
    m_act = act.size
    act = act.copy()
    a_pos = a_pos.copy()
    a_len = a_len.copy()
    a_tag = a_tag.copy()
    size = max(16, 2 * m_act)
    out_r = np.empty(size, np.int64)
    out_p = np.empty(size, np.int64)
    out_q = np.empty(size, np.float64)
    n_out = 0
    claimed = np.zeros((cap.size + 63) // 64, np.uint64)
    one = np.uint64(1)
    # providers claimed in a rank: key, capacity at the rank start, claimer's need, output slot
    e_key = np.empty(m_act, np.int64)
    e_cv = np.empty(m_act, np.float64)
    e_nd = np.empty(m_act, np.float64)
    e_srt = np.empty(m_act, np.int64)  # the numpy version's sort key of the provider
    # later requests meeting a claimed provider: key, active position, output slot
    c_key = np.empty(m_act, np.int64)
    c_j = np.empty(m_act, np.int64)
    c_slot = np.empty(m_act, np.int64)
    c_srt = np.empty(m_act, np.int64)
    r = 0
    while m_act > 0:
        if n_out + m_act > size:
            size = max(2 * size, n_out + m_act)
            t_r = np.empty(size, np.int64)
            t_p = np.empty(size, np.int64)
            t_q = np.empty(size, np.float64)
            t_r[:n_out] = out_r[:n_out]
            t_p[:n_out] = out_p[:n_out]
            t_q[:n_out] = out_q[:n_out]
            out_r, out_p, out_q = t_r, t_p, t_q
        base = n_out
        m = 0
        nc = 0
        for j in range(m_act):
            if j + 2 * PREFETCH < m_act:
                _prefetch(source, a_pos[j + 2 * PREFETCH] + r)
            if j + PREFETCH < m_act:
                pk = np.int64(source[a_pos[j + PREFETCH] + r])
                if typed:
                    _prefetch(cap, a_tag[j + PREFETCH] + pk)
                else:
                    _prefetch(cap, pk)
                    _prefetch(type_mask, pk)
            prov = np.int64(source[a_pos[j] + r])
            if typed:
                key = a_tag[j] + prov
            else:
                key = prov
            w = key >> 6
            b = one << np.uint64(key & 63)
            if claimed[w] & b:
                # claimed earlier in this rank, so its capacity was > 0 at the rank start
                if typed:
                    ok = True
                else:
                    ok = ((np.int64(type_mask[prov]) >> a_tag[j]) & 1) == 1
                if use_price:
                    ok = ok and price_factor[prov] <= max_factor
                if exclude_self:
                    ok = ok and prov != req_node[act[j]]
                if ok:
                    c_key[nc] = key
                    c_j[nc] = j
                    c_slot[nc] = n_out
                    c_srt[nc] = key if typed or order_stride == 0 else a_tag[j] * order_stride + key
                    nc += 1
                    out_r[n_out] = act[j]
                    out_p[n_out] = prov
                    out_q[n_out] = 0.0  # set after the pass
                    n_out += 1
                continue
            if typed:
                cv = cap[key]
                ok = cv > 0  # zero unless the provider makes this type and has energy left
            else:
                if ((np.int64(type_mask[prov]) >> a_tag[j]) & 1) == 0:
                    continue  # another type: the 1-byte mask spares the capacity read
                cv = cap[key]
                ok = cv > 0
            if use_price:
                ok = ok and price_factor[prov] <= max_factor
            if exclude_self:
                ok = ok and prov != req_node[act[j]]
            if not ok:
                continue
            claimed[w] |= b
            q = act[j]
            nd = need[q]
            fill = min(nd, cv)
            left = cv - fill
            cap[key] = left if left > 1e-9 else 0.0
            rest = nd - fill
            need[q] = rest
            e_key[m] = key
            e_cv[m] = cv
            e_nd[m] = nd
            e_srt[m] = key if typed or order_stride == 0 else a_tag[j] * order_stride + key
            m += 1
            out_r[n_out] = q
            out_p[n_out] = prov
            out_q[n_out] = fill  # > 0: active requests need > 0 and cv > 0
            n_out += 1
            if rest <= 0:
                a_len[j] = 0  # done: dropped below
        if nc:
            _serve_clashes(m, e_key, e_cv, e_nd, e_srt, nc, c_key, c_j, c_slot, c_srt, act, a_len, need, cap, out_q)
            w = base
            for i in range(base, n_out):  # drop the clashing requests that got nothing
                if out_q[i] > 0:
                    out_r[w] = out_r[i]
                    out_p[w] = out_p[i]
                    out_q[w] = out_q[i]
                    w += 1
            n_out = w
        for k in range(m):
            claimed[e_key[k] >> 6] = 0
        r += 1
        # keep requests with candidates left that are not filled
        w = 0
        for j in range(m_act):
            if a_len[j] > r:
                act[w] = act[j]
                a_pos[w] = a_pos[j]
                a_len[w] = a_len[j]
                a_tag[w] = a_tag[j]
                w += 1
        m_act = w
    return out_r, out_p, out_q, n_out


@njit(cache=True, nogil=True)
def _serve_clashes(
    m, e_key, e_cv, e_nd, e_srt, nc, c_key, c_j, c_slot, c_srt, act, a_len, need, cap, out_q
):  # pragma: no cover - compiled
    """Providers met by several requests in one rank: the numpy version's arithmetic exactly.

    The numpy version sorts all entries of clashing providers by (provider, request order),
    takes ``excl = cumsum(need) - need`` over that whole sequence, gives entry ``c`` of a group
    starting at ``g`` the fill ``max(min(need_c, cap - (excl_c - excl_g)), 0)`` and leaves the
    provider ``cap - add.reduceat(fills)``. The group's first entry (the claimer) was served in
    the pass with the same fill; its need and log entry stand, the provider's capacity is
    rewritten here.
    """
    # open-addressing table: clashing key -> claimer entry
    tsize = 1
    while tsize < 2 * nc + 2:
        tsize *= 2
    t_key = np.full(tsize, -1, np.int64)
    t_val = np.full(tsize, -1, np.int64)
    for i in range(nc):
        h = (c_key[i] * 0x9E3779B97F4A7C15) & (tsize - 1)
        while t_key[h] != -1 and t_key[h] != c_key[i]:
            h = (h + 1) & (tsize - 1)
        t_key[h] = c_key[i]
    n_groups = 0
    for k in range(m):
        h = (e_key[k] * 0x9E3779B97F4A7C15) & (tsize - 1)
        while t_key[h] != -1 and t_key[h] != e_key[k]:
            h = (h + 1) & (tsize - 1)
        if t_key[h] == e_key[k]:
            t_val[h] = k
            n_groups += 1
    g_claim = np.empty(n_groups, np.int64)
    g_srt = np.empty(n_groups, np.int64)
    g = 0
    for h in range(tsize):
        if t_val[h] >= 0:
            g_claim[g] = t_val[h]
            g_srt[g] = e_srt[t_val[h]]
            g += 1
    go = np.argsort(g_srt)  # one sort key per provider, distinct
    co = np.argsort(c_srt[:nc], kind="mergesort")  # clashers by sort key, request order kept
    total = n_groups + nc
    nm = np.empty(total, np.float64)
    cp = np.empty(total, np.float64)
    who = np.empty(total, np.int64)  # -1: claimer, else index into the clash list
    gstart = np.empty(n_groups + 1, np.int64)
    pos = 0
    ci = 0
    for gi in range(n_groups):
        e = g_claim[go[gi]]
        srt = g_srt[go[gi]]
        gstart[gi] = pos
        nm[pos] = e_nd[e]
        cp[pos] = e_cv[e]
        who[pos] = -1
        pos += 1
        while ci < nc and c_srt[co[ci]] == srt:
            i = co[ci]
            nm[pos] = need[act[c_j[i]]]
            cp[pos] = e_cv[e]
            who[pos] = i
            pos += 1
            ci += 1
    gstart[n_groups] = pos
    excl = np.empty(total, np.float64)
    s = 0.0
    for c in range(total):
        s += nm[c]
        excl[c] = s - nm[c]
    fm = np.empty(total, np.float64)
    for gi in range(n_groups):
        g0 = gstart[gi]
        g1 = gstart[gi + 1]
        for c in range(g0, g1):
            before = excl[c] - excl[g0]
            f = min(nm[c], cp[c] - before)
            fm[c] = f if f > 0.0 else 0.0
            i = who[c]
            if i >= 0:
                j = c_j[i]
                q = act[j]
                rest = nm[c] - fm[c]
                need[q] = rest
                out_q[c_slot[i]] = fm[c]
                if rest <= 0:
                    a_len[j] = 0
        tot = fm[g0] + _pairwise(fm, g0 + 1, g1 - g0 - 1)
        left = cp[g0] - tot
        cap[e_key[g_claim[go[gi]]]] = left if left > 1e-9 else 0.0


@njit(cache=True, nogil=True)
def triadic_append(indptr, indices, stamp, has_stamp, ids, m, now):  # pragma: no cover - compiled
    """Append link ``ids[k] -> m[k]`` to the view of ``ids[k]`` unless it is already there.

    ``ids`` sorted and unique. One pass: the duplicate scan of each view and the copy into
    the new CSR arrays. Returns ``(indptr, indices, stamp)`` (int64, int32, int32; ``stamp``
    empty unless ``has_stamp``), the new link at the end of its view, stamped ``now``.
    """
    n = indptr.size - 1
    add = np.zeros(ids.size, np.bool_)
    n_add = 0
    for k in range(ids.size):
        i = ids[k]
        t = m[k]
        dup = False
        for p in range(indptr[i], indptr[i + 1]):
            if indices[p] == t:
                dup = True
                break
        if not dup:
            add[k] = True
            n_add += 1
    new_ptr = np.empty(n + 1, np.int64)
    new_idx = np.empty(indices.size + n_add, np.int32)
    new_st = np.empty(indices.size + n_add if has_stamp else 0, np.int32)
    new_ptr[0] = 0
    k = 0
    w = 0
    for i in range(n):
        lo = indptr[i]
        hi = indptr[i + 1]
        for p in range(lo, hi):
            new_idx[w] = indices[p]
            if has_stamp:
                new_st[w] = stamp[p]
            w += 1
        while k < ids.size and ids[k] < i:
            k += 1
        if k < ids.size and ids[k] == i and add[k]:
            new_idx[w] = m[k]
            if has_stamp:
                new_st[w] = now
            w += 1
        new_ptr[i + 1] = w
    return new_ptr, new_idx, new_st


@njit(cache=True, nogil=True)
def bad_entries(cand, owner, rows):  # pragma: no cover - compiled
    """Entries of ``cand[rows]`` equal to the row's owner or to an earlier entry of the row.

    ``cand`` is an ``(m, k)`` matrix of ids (``-1`` = empty, never bad), ``owner`` the ``(m,)``
    owners, ``rows`` ascending row numbers to check. Returns ``(r, c)`` in row-major order,
    as ``numpy.nonzero`` of ``(cand == owner[:, None]) | _row_duplicates(cand)`` restricted to
    ``rows`` gives them.
    """
    k = cand.shape[1]
    out_r = np.empty(rows.size * k, np.int64)
    out_c = np.empty(rows.size * k, np.int64)
    n = 0
    for t in range(rows.size):
        i = rows[t]
        o = owner[i]
        for c in range(k):
            v = cand[i, c]
            bad = v == o
            if not bad and v >= 0:
                for c2 in range(c):
                    if cand[i, c2] == v:
                        bad = True
                        break
            if bad:
                out_r[n] = i
                out_c[n] = c
                n += 1
    return out_r[:n], out_c[:n]


@njit(cache=True, nogil=True)
def gather_ids(pool, offset, draws):  # pragma: no cover - compiled
    """``pool[offset + draws].astype(int32)`` for a 2-d ``draws`` matrix, without the temporaries."""
    m, k = draws.shape
    out = np.empty((m, k), np.int32)
    for i in range(m):
        for j in range(k):
            out[i, j] = pool[offset + draws[i, j]]
    return out


@njit(cache=True, nogil=True)
def view_requests(indptr, req, typ, need):  # pragma: no cover - compiled
    """The active requests of a cycle and their candidate lists (the requester's view), in one pass.

    Returns ``(act, pos, length, type)``: the requests with a non-empty view and a positive
    need, as :func:`peergrid.federation.engine.fill_jointly` derives them from
    ``start = indptr[req]``, ``length = indptr[req + 1] - start``.
    """
    m = req.size
    act = np.empty(m, np.int64)
    pos = np.empty(m, np.int64)
    ln = np.empty(m, np.int64)
    tag = np.empty(m, np.int64)
    k = 0
    for i in range(m):
        node = req[i]
        s0 = indptr[node]
        d = indptr[node + 1] - s0
        if d > 0 and need[i] > 0:
            act[k] = i
            pos[k] = s0
            ln[k] = d
            tag[k] = typ[i]
            k += 1
    return act[:k], pos[:k], ln[:k], tag[:k]
