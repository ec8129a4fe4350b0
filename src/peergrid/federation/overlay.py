"""Overlay networks of a federation: CSR views, random wiring, Newscast and triadic rewiring.

Every node keeps a *view*: the ordered list of neighbours it can trade with
(Petri et al. 2020, section V-A: "each energy node has a maximum number of links").
Views are stored as one CSR structure (``indptr``, ``indices`` and, for Newscast,
a timestamp per entry) so that a million nodes with ten neighbours fit in about
60 MB, and every operation below is vectorised over nodes: a Python loop runs at
most over rounds or over the ranks of a view, never over nodes.

- :func:`sample_views` — random k-out wiring (PeerSim ``WireKOut``), optionally with a
  quota of neighbours inside the node's own cluster;
- :func:`newscast` — one round of Newscast gossip (Jelasity & van Steen 2002; Petri
  et al. ref. [81]): every node merges its view with that of a random neighbour and
  keeps the freshest entries. Merging neighbour views closes triangles, which turns
  the initial random graph into a small world (higher clustering coefficient, equally
  short paths);
- :func:`add_triadic_links` — every node adds a link to a random neighbour of a random
  neighbour (the PeerSim benchmark workload of issue 6);
- :func:`overlay_stats` — clustering coefficient and average shortest path length on a
  sample of nodes (networkx on sampled ego networks; breadth-first search from sampled
  sources), against the Erdős–Rényi reference of the same size and mean degree.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from peergrid.federation import _kernels

__all__ = [
    "Overlay",
    "add_triadic_links",
    "newscast",
    "overlay_stats",
    "sample_views",
]

_NO_STAMP = np.iinfo(np.int32).max


@dataclass
class Overlay:
    """Directed views in CSR form: node ``i``'s neighbours are ``indices[indptr[i]:indptr[i+1]]``.

    Attributes
    ----------
    indptr : numpy.ndarray
        ``(n + 1,)`` int64 row pointers.
    indices : numpy.ndarray
        ``(nnz,)`` int32 neighbour ids, in view order (the order requests scan them).
    stamp : numpy.ndarray or None
        ``(nnz,)`` int32 cycle at which each entry was last refreshed (Newscast freshness);
        ``None`` when no protocol needs it (all entries count as stamped 0).
    """

    indptr: np.ndarray
    indices: np.ndarray
    stamp: np.ndarray | None = None

    @property
    def n(self) -> int:
        """Number of rows (allocated nodes, alive or not)."""
        return int(self.indptr.size - 1)

    @property
    def nnz(self) -> int:
        """Number of directed links."""
        return int(self.indices.size)

    def degree(self) -> np.ndarray:
        """Out-degree (view length) of every node, int64."""
        return np.diff(self.indptr)

    def row(self, i: int) -> np.ndarray:
        """The view of node ``i`` (a copy)."""
        return self.indices[self.indptr[i] : self.indptr[i + 1]].copy()

    def nbytes(self) -> int:
        """Memory held by the CSR arrays (bytes)."""
        return int(self.indptr.nbytes + self.indices.nbytes + (0 if self.stamp is None else self.stamp.nbytes))

    @classmethod
    def from_padded(cls, views: np.ndarray, stamp: np.ndarray | None = None) -> Overlay:
        """Build from a ``(n, w)`` matrix of neighbour ids where ``-1`` marks an empty slot."""
        views = np.asarray(views)
        valid = views >= 0
        indptr = np.zeros(views.shape[0] + 1, np.int64)
        np.cumsum(valid.sum(axis=1), out=indptr[1:])
        st = None if stamp is None else np.asarray(stamp, np.int32)[valid]
        return cls(indptr, views[valid].astype(np.int32), st)

    @classmethod
    def empty(cls, n: int) -> Overlay:
        """``n`` nodes without links."""
        return cls(np.zeros(n + 1, np.int64), np.zeros(0, np.int32))

    def padded(self, rows: np.ndarray, width: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Views of ``rows`` as a ``(len(rows), width)`` matrix (``-1`` padding) and their stamps.

        A row id of ``-1`` yields an all-empty row.
        """
        rows = np.asarray(rows, np.int64)
        deg = self.degree()
        ok = rows >= 0
        d = np.where(ok, deg[np.where(ok, rows, 0)], 0)
        if width is None:
            width = int(d.max(initial=0))
        j = np.arange(width)
        valid = j < d[:, None]
        pos = np.where(valid, self.indptr[np.where(ok, rows, 0)][:, None] + j, 0)
        if self.nnz == 0:
            return np.full((rows.size, width), -1, np.int32), np.zeros((rows.size, width), np.int32)
        vals = np.where(valid, self.indices[pos], -1).astype(np.int32)
        if self.stamp is None:
            return vals, np.zeros(vals.shape, np.int32)
        st = np.where(valid, self.stamp[pos], 0).astype(np.int32)
        return vals, st

    def append_rows(self, views: np.ndarray, stamp: np.ndarray | None = None) -> Overlay:
        """Add nodes ``n .. n + len(views) - 1`` with the given padded views."""
        new = Overlay.from_padded(views, None if self.stamp is None else stamp)
        indptr = np.concatenate([self.indptr, self.indptr[-1] + new.indptr[1:]])
        st = None
        if self.stamp is not None:
            st = np.concatenate([self.stamp, np.zeros(new.nnz, np.int32) if new.stamp is None else new.stamp])
        return Overlay(indptr, np.concatenate([self.indices, new.indices]), st)

    def grow(self, n: int) -> Overlay:
        """Add empty rows up to ``n`` rows."""
        if n <= self.n:
            return self
        indptr = np.concatenate([self.indptr, np.full(n - self.n, self.indptr[-1], np.int64)])
        return Overlay(indptr, self.indices, self.stamp)

    def replace_rows(self, rows: np.ndarray, views: np.ndarray, stamp: np.ndarray) -> Overlay:
        """Replace the views of ``rows`` (sorted, unique) with padded ``views`` (``-1`` = empty)."""
        rows = np.asarray(rows, np.int64)
        deg = self.degree()
        valid = views >= 0
        new_deg = deg.copy()
        new_deg[rows] = valid.sum(axis=1)
        replaced = np.zeros(self.n, bool)
        replaced[rows] = True
        indptr = np.zeros(self.n + 1, np.int64)
        np.cumsum(new_deg, out=indptr[1:])
        keep_old = ~np.repeat(replaced, deg)
        is_new = np.repeat(replaced, new_deg)
        indices = np.empty(int(indptr[-1]), np.int32)
        old = ~is_new
        indices[old] = self.indices[keep_old]
        indices[is_new] = views[valid]
        st = None
        if self.stamp is not None:
            st = np.empty(int(indptr[-1]), np.int32)
            st[old] = self.stamp[keep_old]
            st[is_new] = np.asarray(stamp)[valid]
        return Overlay(indptr, indices, st)

    def add_links(self, rows: np.ndarray, cols: np.ndarray, now: int = 0) -> Overlay:
        """Append one link ``rows[k] -> cols[k]`` at the end of each view (``rows`` sorted, unique)."""
        rows = np.asarray(rows, np.int64)
        if rows.size == 0:
            return self
        add = np.zeros(self.n, np.int64)
        add[rows] = 1
        indptr = self.indptr + np.concatenate([[0], np.cumsum(add)])
        new_pos = indptr[rows + 1] - 1
        old = np.ones(int(indptr[-1]), bool)
        old[new_pos] = False
        indices = np.empty(int(indptr[-1]), np.int32)
        indices[old] = self.indices
        indices[new_pos] = cols
        st = None
        if self.stamp is not None:
            st = np.empty(int(indptr[-1]), np.int32)
            st[old] = self.stamp
            st[new_pos] = now
        return Overlay(indptr, indices, st)

    def to_sparse(self, alive: np.ndarray | None = None, undirected: bool = True):
        """The overlay as a ``scipy.sparse.csr_array`` (links to or from dead nodes dropped)."""
        from scipy import sparse

        n = self.n
        a = sparse.csr_array((np.ones(self.nnz, np.int8), self.indices, self.indptr), shape=(n, n))
        if alive is not None:
            keep = sparse.diags_array(np.asarray(alive[:n], np.int8), format="csr", dtype=np.int8)
            a = keep @ a @ keep
        if undirected:
            a = ((a + a.T) > 0).astype(np.int8)
        a.setdiag(0)
        a.eliminate_zeros()
        a.sort_indices()
        return a.tocsr()


# ---- sampling ----------------------------------------------------------------------------


def _row_duplicates(cand: np.ndarray) -> np.ndarray:
    """Mask of entries equal to an earlier entry of the same row (``-1`` never counts)."""
    dup = np.zeros(cand.shape, bool)
    if cand.shape[1] < 2 or cand.shape[0] == 0:
        return dup
    s = np.sort(cand, axis=1)
    rows = np.flatnonzero(((s[:, 1:] == s[:, :-1]) & (s[:, 1:] >= 0)).any(axis=1))
    if rows.size:
        dup[rows] = _row_duplicates_full(cand[rows])
    return dup


def _row_duplicates_full(cand: np.ndarray) -> np.ndarray:
    order = np.argsort(cand, axis=1, kind="stable")
    s = np.take_along_axis(cand, order, axis=1)
    dup_sorted = np.zeros(cand.shape, bool)
    dup_sorted[:, 1:] = (s[:, 1:] == s[:, :-1]) & (s[:, 1:] >= 0)
    dup = np.zeros(cand.shape, bool)
    np.put_along_axis(dup, order, dup_sorted, axis=1)
    return dup


def _sample_segments(
    owner: np.ndarray,
    seg_start: np.ndarray,
    seg_size: np.ndarray,
    pool: np.ndarray,
    k: int,
    rng: np.random.Generator,
) -> np.ndarray:
    """``k`` distinct ids per owner from its segment ``pool[start : start + size]``, never itself.

    Returns a ``(len(owner), k)`` int32 matrix; rows whose segment is too small are padded with -1.
    """
    m = owner.size
    out = np.full((m, k), -1, np.int32)
    if m == 0 or k == 0:
        return out
    seg_start = np.asarray(seg_start, np.int64)
    seg_size = np.asarray(seg_size, np.int64)
    small = seg_size <= 2 * k + 1
    big = np.flatnonzero(~small)
    if big.size:
        st, sz, ow = seg_start[big], seg_size[big], owner[big]
        uniform = bool(np.all(st == st[0]) and np.all(sz == sz[0]))
        if uniform:  # one pool for all (scalar bounds: the fast path of Generator.integers)
            draws = rng.integers(0, sz[0], size=(big.size, k))
            if _kernels.HAVE_NUMBA:
                cand = _kernels.gather_ids(pool, st[0], draws)
            else:  # pragma: no cover - numba is a core dependency
                cand = pool[st[0] + draws].astype(np.int32)
        else:
            cand = pool[st[:, None] + rng.integers(0, sz[:, None], size=(big.size, k))].astype(np.int32)
        rows = np.arange(big.size, dtype=np.int64)
        for _ in range(200):  # rounds of redrawing clashes; converges geometrically
            if _kernels.HAVE_NUMBA:  # only the rows redrawn last round can clash (same entries, same order)
                r, c = _kernels.bad_entries(cand, ow, rows)
            else:  # pragma: no cover - numba is a core dependency
                r, c = np.nonzero((cand == ow[:, None]) | _row_duplicates(cand))
            if r.size == 0:
                break
            cand[r, c] = pool[st[r] + rng.integers(0, sz[r])]
            rows = np.unique(r)
        out[big] = cand
    sm = np.flatnonzero(small & (seg_size > 0))
    if sm.size:
        st, sz, ow = seg_start[sm], seg_size[sm], owner[sm]
        w = int(sz.max())
        j = np.arange(w)
        valid = j < sz[:, None]
        ids = pool[np.where(valid, st[:, None] + j, 0)].astype(np.int32)
        valid &= ids != ow[:, None]
        keys = np.where(valid, rng.random((sm.size, w)), 2.0)
        sel = np.argsort(keys, axis=1)[:, :k]
        chosen = np.take_along_axis(ids, sel, axis=1)
        ok = np.take_along_axis(valid, sel, axis=1)
        res = np.where(ok, chosen, -1)
        out[sm, : res.shape[1]] = res
    return out


def _compact(cand: np.ndarray, k: int) -> np.ndarray:
    """Drop ``-1`` and repeated entries of each row (first occurrence wins); keep at most ``k``."""
    cand = np.where(_row_duplicates(cand), -1, cand)
    order = np.argsort(cand < 0, axis=1, kind="stable")
    return np.take_along_axis(cand, order, axis=1)[:, :k]


def _cluster_segments(members: np.ndarray, cluster: np.ndarray, n_clusters: int) -> tuple[np.ndarray, ...]:
    order = members[np.argsort(cluster[members], kind="stable")]
    size = np.bincount(cluster[members], minlength=n_clusters).astype(np.int64)
    start = np.concatenate([[0], np.cumsum(size)[:-1]])
    return order, start, size


def sample_views(
    owners: np.ndarray,
    k: int,
    members: np.ndarray,
    rng: np.random.Generator,
    cluster: np.ndarray | None = None,
    n_clusters: int = 1,
    federation_links: float = 0.0,
) -> np.ndarray:
    """Random views: ``k`` distinct neighbours per owner drawn from ``members`` (PeerSim ``WireKOut``).

    With clusters, ``k - round(federation_links * k)`` neighbours come from the owner's
    own cluster (fewer if it is small) and the rest from the whole federation.

    Parameters
    ----------
    owners : numpy.ndarray
        Node ids that get a view.
    k : int
        View size d.
    members : numpy.ndarray
        Candidate neighbour ids (the alive nodes).
    rng : numpy.random.Generator
    cluster : numpy.ndarray, optional
        Cluster id of every node.
    n_clusters : int
    federation_links : float
        Share of view slots that may point outside the own cluster.

    Returns
    -------
    numpy.ndarray
        ``(len(owners), k)`` int32, ``-1`` where fewer than ``k`` candidates exist.
    """
    owners = np.asarray(owners, np.int64)
    members = np.asarray(members, np.int64)
    m = owners.size
    whole = _sample_segments(owners, np.zeros(m, np.int64), np.full(m, members.size), members, k, rng)
    if cluster is None or n_clusters <= 1 or federation_links >= 1.0:
        return whole
    k_in = k - round(federation_links * k)
    if k_in <= 0:
        return whole
    order, start, size = _cluster_segments(members, cluster, n_clusters)
    cl = cluster[owners]
    inside = _sample_segments(owners, start[cl], size[cl], order, k_in, rng)
    return _compact(np.concatenate([inside, whole], axis=1), k)


# ---- rewiring ----------------------------------------------------------------------------


def _pick_neighbour(ov: Overlay, nodes: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    deg = ov.degree()[nodes]
    return ov.indices[ov.indptr[nodes] + rng.integers(0, deg)]


def newscast(
    ov: Overlay,
    alive: np.ndarray,
    view: int,
    now: int,
    rng: np.random.Generator,
    cluster: np.ndarray | None = None,
    n_clusters: int = 1,
    federation_links: float = 0.0,
    chunk: int = 100_000,
) -> Overlay:
    """One synchronous round of Newscast gossip (push-pull view exchange).

    Every alive node ``i`` with a non-empty view contacts a random neighbour ``j``;
    ``i`` merges ``view(j)`` and a fresh entry for ``j`` into its view (pull), and
    each contacted ``j`` merges the view of one of its contacting nodes (chosen at
    random) and a fresh entry for it (push). A node keeps the ``view`` freshest
    distinct entries (ties broken at random), never itself and never a dead node;
    with clusters, up to ``view - round(federation_links * view)`` of them are
    reserved for members of its own cluster. All exchanges of a round read the views
    of the previous round (synchronous rounds, as one PeerSim cycle with a shuffled
    node order on average).

    Parameters
    ----------
    ov : Overlay
    alive : numpy.ndarray
        Alive mask, length ``ov.n``.
    view : int
        d, the view size to keep.
    now : int
        Current cycle (the timestamp of fresh entries).
    rng : numpy.random.Generator
    cluster, n_clusters, federation_links
        Cluster ids and the share of out-of-cluster slots (see :func:`sample_views`).
    chunk : int
        Nodes merged per block (bounds the temporary memory).

    Returns
    -------
    Overlay
        The rewired overlay (a new object).
    """
    if ov.stamp is None:
        ov = Overlay(ov.indptr, ov.indices, np.zeros(ov.nnz, np.int32))
    deg = ov.degree()
    init = np.flatnonzero(alive[: ov.n] & (deg > 0))
    if init.size == 0:
        return ov
    partner = _pick_neighbour(ov, init, rng).astype(np.int64)
    ok = alive[partner]
    init, partner = init[ok], partner[ok]
    pulled = np.full(ov.n, -1, np.int64)
    pulled[init] = partner
    perm = rng.permutation(init.size)
    uniq, first = np.unique(partner[perm], return_index=True)
    pusher = np.full(ov.n, -1, np.int64)
    pusher[uniq] = init[perm][first]
    rows = np.flatnonzero((pulled >= 0) | (pusher >= 0))
    k_in = view if (cluster is None or n_clusters <= 1) else view - round(federation_links * view)
    width = int(deg.max(initial=0))
    out_v = np.empty((rows.size, view), np.int32)
    out_s = np.empty((rows.size, view), np.int32)
    for lo in range(0, rows.size, chunk):
        r = rows[lo : lo + chunk]
        a, b = pulled[r], pusher[r]
        own, own_s = ov.padded(r, width)
        va, sa = ov.padded(a, width)
        vb, sb = ov.padded(b, width)
        fresh = np.full((r.size, 1), now, np.int32)
        cand = np.concatenate([own, va, a[:, None].astype(np.int32), vb, b[:, None].astype(np.int32)], axis=1)
        st = np.concatenate([own_s, sa, fresh, sb, fresh], axis=1)
        v, s = _select(r, cand, st, alive, view, k_in, cluster, rng)
        out_v[lo : lo + r.size] = v
        out_s[lo : lo + r.size] = s
    return ov.replace_rows(rows, out_v, out_s)


def _select(
    owner: np.ndarray,
    cand: np.ndarray,
    stamp: np.ndarray,
    alive: np.ndarray,
    k: int,
    k_in: int,
    cluster: np.ndarray | None,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray]:
    """Keep the ``k`` freshest distinct valid candidates per row (Newscast view merge)."""
    valid = cand >= 0
    safe = np.where(valid, cand, 0)
    valid &= (cand != owner[:, None]) & alive[safe]
    key = np.where(valid, (safe.astype(np.int64) << 32) | (_NO_STAMP - stamp.astype(np.int64)), np.iinfo(np.int64).max)
    order = np.argsort(key, axis=1)
    cs = np.take_along_axis(safe, order, axis=1)
    ss = np.take_along_axis(stamp, order, axis=1)
    vs = np.take_along_axis(valid, order, axis=1)
    vs[:, 1:] &= cs[:, 1:] != cs[:, :-1]
    score = np.where(vs, ss + 0.5 * rng.random(cs.shape), -np.inf)
    if cluster is not None and k_in < k:
        same = vs & (cluster[cs] == cluster[owner][:, None])
        s2 = np.where(same, score, -np.inf)
        o2 = np.argsort(-s2, axis=1)
        rank = np.empty_like(o2)
        np.put_along_axis(rank, o2, np.broadcast_to(np.arange(cs.shape[1]), cs.shape), axis=1)
        score = score + np.where(same & (rank < k_in), 1e12, 0.0)
    top = np.argsort(-score, axis=1)[:, :k]
    keep = np.isfinite(np.take_along_axis(score, top, axis=1))
    v = np.where(keep, np.take_along_axis(cs, top, axis=1), -1).astype(np.int32)
    s = np.where(keep, np.take_along_axis(ss, top, axis=1), 0).astype(np.int32)
    if v.shape[1] < k:
        pad = k - v.shape[1]
        v = np.pad(v, ((0, 0), (0, pad)), constant_values=-1)
        s = np.pad(s, ((0, 0), (0, pad)))
    return v, s


def add_triadic_links(
    ov: Overlay, alive: np.ndarray, now: int, rng: np.random.Generator, kernel: str = "auto"
) -> Overlay:
    """Every alive node adds a link to a random neighbour of a random neighbour (if new).

    Node ``i`` picks a random neighbour ``j`` and a random neighbour ``m`` of ``j``; the
    link ``i -> m`` is appended to ``i``'s view unless ``m`` is ``i``, dead, or already
    in the view (PeerSim ``IdleProtocol.addNeighbor`` semantics). Degrees grow by at
    most one per round.

    ``kernel``: ``"numba"`` does the duplicate scan and the CSR rebuild in one compiled
    pass (:func:`peergrid.federation._kernels.triadic_append`); ``"numpy"`` scans the ranks
    of the views and rebuilds with :meth:`Overlay.add_links`; ``"auto"``: numba when
    installed. Both give the same overlay.
    """
    if kernel not in ("auto", "numba", "numpy"):
        raise ValueError(f"kernel = {kernel!r}: expected 'auto', 'numba' or 'numpy'")
    deg = ov.degree()
    ids = np.flatnonzero(alive[: ov.n] & (deg > 0))
    if ids.size == 0:
        return ov
    j = _pick_neighbour(ov, ids, rng).astype(np.int64)
    ok = alive[j] & (deg[j] > 0)
    ids, j = ids[ok], j[ok]
    m = _pick_neighbour(ov, j, rng).astype(np.int64)
    ok = alive[m] & (m != ids)
    ids, m = ids[ok], m[ok]
    if kernel == "numba" or (kernel == "auto" and _kernels.HAVE_NUMBA):
        has = ov.stamp is not None
        indptr, indices, st = _kernels.triadic_append(
            ov.indptr,
            ov.indices,
            ov.stamp if has else np.zeros(0, np.int32),
            has,
            ids,
            m,
            now,
        )
        return Overlay(indptr, indices, st if has else None)
    start, d = ov.indptr[ids], deg[ids]
    dup = np.zeros(ids.size, bool)
    d_min = int(d.min(initial=0))
    for r in range(int(d.max(initial=0))):  # ranks of the views, not nodes
        if r < d_min:
            dup |= ov.indices[start + r] == m
        else:
            sel = np.flatnonzero(d > r)
            dup[sel] |= ov.indices[start[sel] + r] == m[sel]
    return ov.add_links(ids[~dup], m[~dup], now)


# ---- metrics -----------------------------------------------------------------------------


def overlay_stats(ov: Overlay, alive: np.ndarray | None = None, sample: int = 200, seed: int = 0) -> dict:
    """Small-world figures of the (undirected) overlay, estimated on a sample of nodes.

    Parameters
    ----------
    ov : Overlay
    alive : numpy.ndarray, optional
        Alive mask; dead nodes and their links are ignored.
    sample : int
        Nodes for the clustering coefficient; ``max(8, sample // 10)`` breadth-first
        search sources for the path length.
    seed : int
        Sampling seed.

    Returns
    -------
    dict
        ``clustering`` (mean local clustering coefficient, networkx on the sampled ego
        networks), ``path_length`` (mean shortest path length between connected pairs
        from the sampled sources, hops), ``mean_degree``, ``reachable`` (share of pairs
        connected), and the Erdős–Rényi references ``random_clustering`` = <k>/n and
        ``random_path_length`` = ln n / ln <k>, and ``sigma`` = (C/C_r) / (L/L_r).
    """
    import networkx as nx
    from scipy.sparse.csgraph import shortest_path

    rng = np.random.default_rng(seed)
    alive = np.ones(ov.n, bool) if alive is None else np.asarray(alive[: ov.n], bool)
    a = ov.to_sparse(alive)
    nodes = np.flatnonzero(alive)
    n = nodes.size
    deg = np.diff(a.indptr)
    k_mean = float(deg[nodes].mean()) if n else 0.0
    pick = rng.choice(nodes, size=min(sample, n), replace=False) if n else nodes
    cc = []
    for v in pick:  # a few hundred sampled ego networks, not the simulation loop
        nb = a.indices[a.indptr[v] : a.indptr[v + 1]]
        if nb.size < 2:
            cc.append(0.0)
            continue
        sub = a[nb][:, nb].tocoo()
        g = nx.Graph()
        g.add_node(int(v))
        g.add_edges_from((int(v), int(u)) for u in nb)
        g.add_edges_from((int(nb[i]), int(nb[j])) for i, j in zip(sub.row, sub.col, strict=True) if i < j)
        cc.append(float(nx.clustering(g, int(v))))
    sources = rng.choice(nodes, size=min(max(8, sample // 10), n), replace=False) if n else nodes
    dist = shortest_path(a, method="D", unweighted=True, indices=sources)[:, nodes]
    finite = np.isfinite(dist) & (dist > 0)
    path = float(dist[finite].mean()) if finite.any() else float("nan")
    reach = float(finite.sum() / max(1, sources.size * (n - 1)))
    c = float(np.mean(cc)) if cc else float("nan")
    c_r = k_mean / max(n - 1, 1)
    l_r = float(np.log(n) / np.log(k_mean)) if k_mean > 1 and n > 1 else float("nan")
    sigma = (c / c_r) / (path / l_r) if c_r > 0 and path > 0 and np.isfinite(l_r) else float("nan")
    return {
        "nodes": int(n),
        "mean_degree": k_mean,
        "clustering": c,
        "path_length": path,
        "reachable": reach,
        "random_clustering": c_r,
        "random_path_length": l_r,
        "sigma": sigma,
    }
