"""Node migration between energy clusters (Petri et al. 2020, experiments 6 and 7).

A migrating node leaves its cluster, drops its links and rewires to members of the
new cluster, paying a commission fee to enter it. Strategies (Petri et al.,
experiment 7):

- ``"none"`` — nodes never migrate;
- ``"random"`` — with probability θ (the *migration threshold*: 0.25 / 0.5 / 0.75 in
  experiment 6) a node moves to a uniformly random other cluster;
- ``"strategic"`` — with probability θ a node moves to a uniformly random cluster
  *wealthier* than its own (higher payoff per member earned since the previous
  migration round); nodes of the wealthiest cluster stay;
- ``"mixed"`` — each migrating node is random or strategic with probability 1/2.
"""

from __future__ import annotations

import numpy as np

__all__ = ["STRATEGIES", "cluster_wealth", "plan_migrations"]

STRATEGIES = ("none", "random", "strategic", "mixed")


def cluster_wealth(earned: np.ndarray, members: np.ndarray) -> np.ndarray:
    """Payoff per member of every cluster (m.u. per node); 0 for empty clusters.

    Parameters
    ----------
    earned : numpy.ndarray
        ``(K,)`` payoffs (alpha per exchange, Petri et al. eq. 2) earned by each cluster's members.
    members : numpy.ndarray
        ``(K,)`` member counts.
    """
    earned = np.asarray(earned, float)
    members = np.asarray(members, float)
    return np.divide(earned, members, out=np.zeros_like(earned), where=members > 0)


def plan_migrations(
    strategy: str,
    probability: float,
    nodes: np.ndarray,
    cluster: np.ndarray,
    wealth: np.ndarray,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray]:
    """Choose which nodes migrate and where to.

    Parameters
    ----------
    strategy : {"none", "random", "strategic", "mixed"}
    probability : float
        Migration threshold θ: the chance that a node migrates in this round.
    nodes : numpy.ndarray
        Candidate node ids (the alive nodes).
    cluster : numpy.ndarray
        Cluster id of every node.
    wealth : numpy.ndarray
        ``(K,)`` payoff per member of each cluster (see :func:`cluster_wealth`).
    rng : numpy.random.Generator

    Returns
    -------
    movers, targets : numpy.ndarray
        Ids of the migrating nodes and their new clusters (never their current one).
    """
    k = int(np.asarray(wealth).size)
    if strategy == "none" or k < 2 or probability <= 0 or nodes.size == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    if strategy not in STRATEGIES:
        raise ValueError(f"unknown migration strategy {strategy!r}")
    movers = nodes[rng.random(nodes.size) < probability]
    own = cluster[movers].astype(np.int64)
    # random: a uniformly random other cluster
    rand_target = (own + rng.integers(1, k, size=movers.size)) % k
    # strategic: a uniformly random strictly wealthier cluster (ties broken at random)
    by_rank = np.lexsort((rng.random(k), np.asarray(wealth, float)))  # ascending wealth
    rank = np.empty(k, np.int64)
    rank[by_rank] = np.arange(k)
    r = rank[own]
    above = k - 1 - r
    strat_target = by_rank[np.minimum(r + 1 + (rng.random(movers.size) * above).astype(np.int64), k - 1)]
    strat_ok = above > 0
    if strategy == "random":
        use_strat = np.zeros(movers.size, bool)
    elif strategy == "strategic":
        use_strat = np.ones(movers.size, bool)
    else:
        use_strat = rng.random(movers.size) < 0.5
    target = np.where(use_strat, strat_target, rand_target)
    keep = ~use_strat | strat_ok
    return movers[keep], target[keep]
