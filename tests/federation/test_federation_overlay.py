"""Overlay: CSR views, random wiring, Newscast small-world emergence, triadic closure, metrics."""

import numpy as np

from peergrid.federation.overlay import Overlay, add_triadic_links, newscast, overlay_stats, sample_views


def _views(ov):
    return [set(ov.row(i).tolist()) for i in range(ov.n)]


def test_sample_views_distinct_without_self():
    rng = np.random.default_rng(0)
    members = np.arange(50)
    v = sample_views(members, 8, members, rng)
    assert v.shape == (50, 8)
    for i, row in enumerate(v):
        assert len(set(row.tolist())) == 8 and i not in row
    # small pool: at most n - 1 neighbours, padded with -1
    v = sample_views(np.arange(4), 6, np.arange(4), rng)
    assert np.all((v >= 0).sum(axis=1) == 3)


def test_sample_views_respect_cluster_quota():
    rng = np.random.default_rng(1)
    n, k = 400, 10
    cluster = np.arange(n) % 8
    v = sample_views(np.arange(n), k, np.arange(n), rng, cluster, 8, 0.2)
    same = cluster[v] == cluster[:, None]
    assert np.all(same.sum(axis=1) >= 8)
    assert all(len(set(r.tolist())) == k for r in v)


def test_csr_replace_append_and_links():
    ov = Overlay.from_padded(np.array([[1, 2], [0, -1], [0, 1]]))
    assert ov.degree().tolist() == [2, 1, 2]
    ov2 = ov.replace_rows(np.array([1]), np.array([[2, 0, -1]]), np.zeros((1, 3), np.int32))
    assert ov2.row(1).tolist() == [2, 0] and ov2.row(0).tolist() == [1, 2]
    ov3 = ov2.add_links(np.array([0, 2]), np.array([3, 3]))
    assert ov3.row(0).tolist() == [1, 2, 3] and ov3.row(2).tolist() == [0, 1, 3] and ov3.row(1).tolist() == [2, 0]
    ov4 = ov3.append_rows(np.array([[0, 1]]))
    assert ov4.n == 4 and ov4.row(3).tolist() == [0, 1]


def test_newscast_keeps_view_size_and_raises_clustering():
    rng = np.random.default_rng(2)
    n, d = 600, 6
    alive = np.ones(n, bool)
    ov = Overlay.from_padded(sample_views(np.arange(n), d, np.arange(n), rng))
    before = overlay_stats(ov, alive, sample=300, seed=0)
    for t in range(1, 11):
        ov = newscast(ov, alive, d, t, rng)
    after = overlay_stats(ov, alive, sample=300, seed=0)
    assert np.all(ov.degree() == d)
    assert all(i not in v and len(v) == d for i, v in enumerate(_views(ov)))
    assert after["clustering"] > 3 * before["clustering"]  # small world: clustering rises ...
    assert after["path_length"] < 2.0 * after["random_path_length"]  # ... and paths stay short
    assert after["reachable"] > 0.99


def test_newscast_drops_dead_nodes():
    rng = np.random.default_rng(3)
    n, d = 200, 5
    alive = np.ones(n, bool)
    alive[:50] = False
    ov = Overlay.from_padded(sample_views(np.arange(n), d, np.arange(n), rng))
    for t in range(1, 6):
        ov = newscast(ov, alive, d, t, rng)
    for i in range(50, n):
        assert not np.any(ov.row(i) < 50)


def test_triadic_links_are_new_neighbours_of_neighbours():
    rng = np.random.default_rng(4)
    n = 300
    alive = np.ones(n, bool)
    ov = Overlay.from_padded(sample_views(np.arange(n), 4, np.arange(n), rng))
    old = _views(ov)
    ov2 = add_triadic_links(ov, alive, 1, rng)
    assert ov2.nnz > ov.nnz
    for i, v in enumerate(_views(ov2)):
        added = v - old[i]
        assert len(added) <= 1 and i not in v
        for m in added:
            assert any(m in old[j] for j in old[i])
        assert len(ov2.row(i)) == len(v)  # no duplicate links
