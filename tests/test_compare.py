"""The comparison table: fractions of optimal across seeds by hand, and the command end to end on tiny runs."""

import numpy as np
import pytest

from icrl.compare import Row, merge_rows, rows, table


def _results(name, curves, optimal=10.0):
    methods = {m: {"episode_return": list(c), "episode_return_ci95": [0.0] * len(c), "optimal_return": optimal}
               for m, c in curves.items()}
    return {"schema": "icrl-results/1", "experiment": name, "methods": methods, "optimal_return": optimal, "num_goals": 16,
            "env": {"name": "darkroom"}, "train_seconds": 120.0}


def test_table_by_hand():
    seeds = [_results("room-ad", {"AD": [5, 9, 10], "psrl": [7, 10, 10]}), _results("room-ad", {"AD": [7, 8, 10], "psrl": [7, 10, 10]})]
    found = rows({"room-ad": seeds}, ("psrl",))
    assert [r.name for r in found] == ["room-ad", "psrl"]
    ad, psrl = found
    np.testing.assert_allclose(ad.fractions, [[0.5, 0.9, 1.0], [0.7, 0.8, 1.0]])
    mean, ci = ad.at(1)
    assert mean == pytest.approx(0.6) and ci == pytest.approx(12.706 * np.std([0.5, 0.7], ddof=1) / np.sqrt(2), rel=1e-3)  # t(1)
    assert ad.first_reaching(0.9) == 3 and psrl.first_reaching(0.9) == 2 and ad.at(5) is None  # episode 2 mean is 0.85
    assert ad.minutes == 2.0 and psrl.minutes is None
    text = table(found, episodes=(1, 2, 5))  # no row reaches episode 5: no column for it
    assert "| room-ad † | 0.60 ± 1.27 | 0.85 ± 0.64 | 3 | 2 | 2.0 |" in text and "episode 5" not in text
    assert "| psrl † | 0.70 ± 0.00 | 1.00 ± 0.00 | 2 | 2 | — |" in text
    # one model deployed several ways: a row per way, the unqualified agent first
    planned = _results("room-dicp", {"DICP (planning off)": [2, 4, 5], "DICP": [4, 8, 10], "DICP (beam 1)": [3, 5, 6], "psrl": [7, 10, 10]})
    found = rows({"room-dicp": [planned]}, ("psrl",))
    assert [r.name for r in found] == ["room-dicp", "room-dicp (beam 1)", "room-dicp (planning off)", "psrl"]
    np.testing.assert_allclose(found[2].fractions, [[0.2, 0.4, 0.5]])
    # a run evaluated on a sample of the held-out pool says so in its row
    sampled = {**_results("room-dicp", {"DICP": [4, 8, 10], "psrl": [7, 10, 10]}), "num_goals": 160, "pool_size": 1296}
    assert [r.name for r in rows({"room-dicp": [sampled]}, ("psrl",))] == ["room-dicp [160 of 1296 tasks]", "psrl"]
    # minutes measured on an idle machine, by preset: every way of deploying it, none for a baseline or an unmeasured preset
    idle = table(found + [Row("room-ad", np.array([[0.5, 0.9, 1.0]]), (0,), (3.0,))], episodes=(1,),
                 idle_minutes={"room-dicp": 7.31, "other": 1.0})
    assert "training, idle machine (min) |" in idle.splitlines()[0]
    assert "| room-dicp (beam 1) † | 0.30 | — | 1 | 2.0 | 7.3 |" in idle and "| psrl † | 0.70 | 2 | 1 | — | — |" in idle
    assert "| room-ad † | 0.50 | 2 | 1 | 3.0 | — |" in idle and "idle" not in table(found, episodes=(1,))
    one, longer = Row("x", np.array([[0.2, 0.4]])), Row("y", np.array([[0.1, 0.3, 0.5, 0.6, 0.7]]))
    assert "| x † | 0.20 | 0.40 |  | — | 1 | — |" in table([one, longer], episodes=(1, 2, 5))  # a row shorter than another


def test_rows_merge_seed_by_seed():
    seeded = [{**_results("room-ad", {"AD": [5, 9, 10], "psrl": [7, 10, 10]}), "config": {"train": {"seed": s}}, "train_seconds": 60.0 * (s + 1)}
              for s in (2, 0)]
    ad, psrl = rows({"room-ad": seeded}, ("psrl",))
    assert ad.seed_ids == (2, 0) and ad.seed_minutes == (3.0, 1.0) and ad.minutes == 2.0 and psrl.seed_ids == (2, 0)
    assert rows({"room-ad": seeded[:1] + [_results("room-ad", {"AD": [1, 2, 3], "psrl": [7, 10, 10]})]}, ("psrl",))[0].seed_ids == ()
    earlier = [Row("a", np.array([[0.1, 0.2], [0.3, 0.4], [0.5, 0.6]]), (0, 1, 2), (4.0, 5.0, 6.0)),
               Row("gone", np.array([[0.9, 0.9]]), (1,), (1.0,)),
               Row("psrl", np.array([[1.0, 1.0], [0.8, 1.0]]), (0, 1))]
    found = [Row("a", np.array([[0.7, 0.8, 0.9]]), (1,), (10.0,)), Row("new", np.array([[0.2, 0.2]]), (0,), (2.0,)),
             Row("psrl", np.array([[0.6, 1.0]]), (2,))]
    a, gone, psrl, new = merge_rows(earlier, found)
    assert [a.name, gone.name, psrl.name, new.name] == ["a", "gone", "psrl", "new"]
    np.testing.assert_allclose(a.fractions, [[0.1, 0.2], [0.7, 0.8], [0.5, 0.6]])  # seed 1 replaced, cut to the shortest
    assert a.seed_ids == (0, 1, 2) and a.seed_minutes == (4.0, 10.0, 6.0) and a.minutes == pytest.approx(20 / 3)
    assert gone.seed_ids == (1,) and new.minutes == 2.0 and psrl.seed_ids == (0, 1, 2) and psrl.minutes is None
    with pytest.raises(ValueError, match="row 'x' names 0 seeds for its 1 curves"):
        merge_rows([], [Row("x", np.array([[0.5]]))])


def test_compare_command_on_tiny_runs(tmp_path):
    from train.configs import config_for
    from train.compare import compare

    tiny = dict(horizon=6, train_steps=2, num_train_tasks=16, context_episodes=2, eval_tasks=16, eval_episodes=3, width=16,
                num_layers=1, batch_size=4, microbatches=1, baselines=("random", "oracle"), out_dir=str(tmp_path))
    own = {"darkroom9-ad": dict(history_episodes=4)}  # one method and the baselines: rows of both kinds
    configure = lambda preset, seed: config_for(preset, seed=seed, **tiny, **own[preset])  # noqa: E731
    with pytest.raises(ValueError, match="no runs of darkroom9"):
        compare("darkroom9", (0,), str(tmp_path), presets=tuple(own), configure=configure)
    md, png = compare("darkroom9", (0,), str(tmp_path), train=True, presets=tuple(own), configure=configure)
    text = open(md).read()
    for name in ("darkroom9-ad", "random", "oracle"):
        assert f"| {name} |" in text
    # the oracle's return is the optimal one (one seed: no interval; 3 episodes: only episode 1's column)
    assert "| oracle | 1.00 | 1 | 1 | — |" in text and "episode 5" not in text
    assert (tmp_path / "darkroom9-ad-seed0" / "results.json").exists() and png.endswith(".png")
    with pytest.raises(ValueError, match="unknown benchmark 'room'"):
        compare("room")


def test_evaluation_on_a_sample_of_the_pool():
    """eval_pool_sample: that many distinct tasks of the held-out pool, the same for the same seed's key
    and another for another; 0 keeps the whole pool, each task repeated until there are eval_tasks rollouts."""
    import jax

    from train.configs import config_for
    from train.experiments import build, evaluation_tasks

    cfg = config_for("keydoor9-ad", size=5, horizon=10)
    env = build(cfg).eval_env
    pool = np.stack([np.asarray(x) for x in (env.task_pool("test").key_pos, env.task_pool("test").door_pos)], 1)
    size = env.num_tasks_in("test")

    def pairs(c, key):
        t = evaluation_tasks(c, env, key)
        return np.stack([np.asarray(t.key_pos), np.asarray(t.door_pos)], 1)

    whole = pairs(config_for("keydoor9-ad", size=5, horizon=10, eval_tasks=size + 1), jax.random.PRNGKey(0))
    assert len(whole) == 2 * size and (whole[:size] == pool).all()  # two copies of the pool, in order
    sample = config_for("keydoor9-ad", size=5, horizon=10, eval_pool_sample=7, eval_tasks=14)
    a, b, c = pairs(sample, jax.random.PRNGKey(0)), pairs(sample, jax.random.PRNGKey(0)), pairs(sample, jax.random.PRNGKey(1))
    assert len(a) == 14 and (a[:7] == a[7:]).all() and (a == b).all() and not (a == c).all()
    assert len({p.tobytes() for p in a[:7]}) == 7  # distinct tasks
    assert all(any((p == q).all() for q in pool) for p in a[:7])  # of the held-out pool
    with pytest.raises(ValueError, match="eval_pool_sample"):
        config_for("keydoor9-ad", eval_pool_sample=-1)


def test_rows_carry_each_seeds_provenance_and_untraced_rows_are_marked():
    """A seed's figures name the commit, devices, versions and config hash that made them, and how the
    fraction was computed; results made before that was recorded give an untraced row, marked † in the table."""
    from icrl.compare import config_hash

    made = {"commit": "a" * 40, "dirty": False, "record_sha256": "b" * 64, "devices": "2 cpu", "versions": {"jax": "0.0"}}
    cfg = {"train": {"seed": 0}, "env": "darkroom"}
    run = {**_results("room-ad", {"AD": [5, 9, 10], "psrl": [7, 10, 10]}), "config": cfg, "provenance": made}
    for m in run["methods"].values():
        m["episode_fraction"] = [0.4, 0.9, 1.0]
    ad, psrl = rows({"room-ad": [run]}, ("psrl",))
    assert ad.traced and psrl.traced
    assert ad.seed_provenance(0) == {**made, "config_sha256": config_hash(cfg), "fraction": "mean over tasks"}
    np.testing.assert_allclose(ad.fractions, [[0.4, 0.9, 1.0]])  # the per-task fraction, not 5 / 10
    old = {**run, "provenance": {k: made[k] for k in ("commit", "dirty", "record_sha256")}}  # before devices were recorded
    (untraced, _) = rows({"room-ad": [old]}, ("psrl",))
    assert not untraced.traced and untraced.provenance == ()
    text = table([ad, untraced], episodes=(1,))
    assert "| room-ad | 0.40 |" in text and "| room-ad † | 0.40 |" in text and "† Made before" in text
    assert "†" not in table([ad], episodes=(1,))
    merged, = merge_rows([untraced], [Row("room-ad", np.array([[0.1, 0.2, 0.3]]), (1,), (1.0,), (ad.seed_provenance(0),))])
    assert merged.seed_ids == (0, 1) and merged.provenance == (None, ad.seed_provenance(0)) and not merged.traced


def test_paired_differences_by_hand():
    """a - b seed by seed over the seeds both rows have, its mean and Student-t interval (t(1) = 12.706)."""
    from icrl.compare import paired, paired_table

    a = Row("a", np.array([[0.5, 0.9], [0.7, 0.8], [0.1, 0.1]]), (0, 1, 2), (1.0, 1.0, 1.0))
    b = Row("b", np.array([[0.4, 0.5], [0.4, 0.6]]), (1, 0), (1.0, 1.0))
    mean, ci, seeds = paired(a, b)
    assert seeds == (0, 1)
    np.testing.assert_allclose(mean, [0.2, 0.3])  # seed 0: (0.5, 0.9) - (0.4, 0.6), seed 1: (0.7, 0.8) - (0.4, 0.5)
    np.testing.assert_allclose(ci[0], 12.706 * np.std([0.1, 0.3], ddof=1) / np.sqrt(2), rtol=1e-3)
    text = paired_table([a, b], [("a", "b"), ("a", "missing")], episodes=(1, 2, 5))
    assert "| a − b | +0.20 ± 1.27 | +0.30 ± 0.00 | 0, 1 |" in text and "missing" not in text and "episode 5" not in text
    with pytest.raises(ValueError, match="share no seed"):
        paired(a, Row("c", np.array([[0.1, 0.1]]), (7,)))
