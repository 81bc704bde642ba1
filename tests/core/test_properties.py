"""Property-based tests (hypothesis): the config parser and the public engine functions either
give a correct result or raise ValueError / TypeError naming the argument — never anything else.

Budget: ``derandomize=True`` (the same examples on every run, so CI is reproducible) and
``max_examples`` per test as set below (60, and 25 for ``lcc.correct``): 8 tests, 395
examples, about 20 s on 2 cores.
"""

from __future__ import annotations

import re

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import lcc
from lcc.config import ConfigError, parse_overrides, validate
from lcc.pipelines.lcc_finetune import Config

BUDGET = settings(
    max_examples=60,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)

# ------------------------------------------------------------------------- config parser
KEY = st.from_regex(r"[a-z][a-z_]{0,7}", fullmatch=True)
SCALAR = st.one_of(
    st.integers(-(10**6), 10**6),
    st.floats(allow_nan=False, allow_infinity=False, width=32),
    st.booleans(),
    st.from_regex(r"[a-z][a-z0-9_]{0,8}", fullmatch=True),
)


@BUDGET
@given(st.lists(KEY, min_size=1, max_size=4), SCALAR)
def test_an_override_lands_at_its_dotted_key(path, value):
    import yaml

    raw = yaml.safe_dump(value, default_flow_style=True).strip().removesuffix("...").strip()
    nested = parse_overrides([f"{'.'.join(path)}={raw}"])
    for part in path[:-1]:
        nested = nested[part]
    assert nested[path[-1]] == yaml.safe_load(raw)


@BUDGET
@given(st.lists(st.text(max_size=30), max_size=4))
def test_any_override_text_parses_or_is_one_config_error(items):
    try:
        parse_overrides(items)
    except ConfigError as err:
        assert err.lines and all(isinstance(line, str) for line in err.lines)


SECTIONS = {
    "finetune": ["epochs", "lr", "batch_size", "nope"],
    "lcc": ["k", "weight", "method", "mode", "layers", "warmup", "nope"],
    "data": ["name", "root", "download"],
    "": ["seed", "device", "progress", "name", "nope"],
}
JSONISH = st.one_of(SCALAR, st.none(), st.lists(SCALAR, max_size=3))


@st.composite
def configs(draw):
    config: dict = {}
    for section, keys in SECTIONS.items():
        chosen = draw(st.dictionaries(st.sampled_from(keys), JSONISH, max_size=3))
        if section:
            config[section] = chosen
        else:
            config |= chosen
    return config


@BUDGET
@given(configs())
def test_any_config_validates_or_names_each_bad_key(values):
    try:
        validate(values, Config)
    except ConfigError as err:
        for line in err.lines:  # "key: …", or a rule's own line "key must …" / "key='x' …"
            key = re.match(r"[^:= ]+", line).group()
            assert re.fullmatch(r"[a-z_]+(\[\d+\])?(\.[a-z_]+(\[\d+\])?)*", key), line


# ------------------------------------------------------------------------- engine
DTYPES = st.sampled_from([np.float32, np.float64, np.float16, np.int32, np.int64, np.complex64])


@st.composite
def latents(draw, max_n=24):
    n = draw(st.integers(0, max_n))
    d = draw(st.integers(1, 4))
    dtype = draw(DTYPES)
    values = draw(hnp.arrays(np.float64, (n, d), elements=st.integers(-5, 5).map(float)))
    if n and draw(st.booleans()):  # duplicate points
        values[draw(st.integers(0, n - 1))] = values[0]
    if n and draw(st.integers(0, 5)) == 0:  # a NaN somewhere
        values[draw(st.integers(0, n - 1)), draw(st.integers(0, d - 1))] = np.nan
    with np.errstate(invalid="ignore"):
        return values.astype(dtype)


def _names_an_argument(err: Exception, *names: str) -> bool:
    text = str(err)
    return any(re.search(rf"\b{name}\b", text) for name in names)


@BUDGET
@given(latents(), st.integers(-1, 26))
def test_knn_is_exact_or_names_z_or_k(z, k):
    try:
        result = lcc.knn(z, k)
    except (ValueError, TypeError) as err:
        assert _names_an_argument(err, "z", "k"), err
        return
    x = z.astype(np.float64)
    full = np.sqrt(((x[:, None] - x[None]) ** 2).sum(-1))
    np.fill_diagonal(full, np.inf)  # a sample is never its own neighbour
    expected = np.sort(full, axis=1)[:, :k]
    np.testing.assert_allclose(result.distances, expected, rtol=1e-3, atol=1e-3)
    assert result.indices.shape == (len(z), k)
    assert not (result.indices == np.arange(len(z))[:, None]).any()


@BUDGET
@given(latents(), st.integers(-1, 8))
def test_kmeans_partitions_or_names_z_or_n_clusters(z, n_clusters):
    try:
        result = lcc.kmeans(z, n_clusters, seed=0)
    except (ValueError, TypeError) as err:
        assert _names_an_argument(err, "z", "n_clusters"), err
        return
    labels = np.asarray(result.labels)
    assert labels.shape == (len(z),) and labels.min() >= 0 and labels.max() < n_clusters
    # every sample sits at its nearest centre
    x, c = z.astype(np.float64), np.asarray(result.centers, dtype=np.float64)
    d = ((x[:, None] - c[None]) ** 2).sum(-1)
    np.testing.assert_allclose(d[np.arange(len(x)), labels], d.min(1), rtol=1e-3, atol=1e-3)


LABELS = st.integers(0, 30).flatmap(
    lambda n: st.tuples(
        hnp.arrays(np.int64, n, elements=st.integers(-1, 4)),
        hnp.arrays(np.int64, st.sampled_from([n, max(n - 1, 0)]), elements=st.integers(0, 5)),
    )
)


@BUDGET
@given(LABELS)
def test_matching_is_optimal_or_names_a_label_vector(pair):
    """The one-to-many matching (paper, Proposition): each cluster gets a label it overlaps
    most; misclustered = the sample's label differs from its cluster's."""
    y_true, y_clst = pair
    try:
        result = lcc.match_clusters(y_true, y_clst)
    except (ValueError, TypeError) as err:
        assert _names_an_argument(err, "y_true", "y_clst"), err
        return
    alpha = np.asarray(result.cluster_to_label)
    for c in np.unique(y_clst):
        overlap = {t: int(np.sum((y_clst == c) & (y_true == t))) for t in np.unique(y_true)}
        assert overlap[alpha[c]] == max(overlap.values())
    np.testing.assert_array_equal(result.misclustered, alpha[y_clst] != y_true)


@settings(max_examples=25, deadline=None, derandomize=True)
@given(latents(max_n=40), st.integers(1, 6))
def test_correct_returns_consistent_targets_or_names_an_argument(z, k):
    y = np.arange(len(z)) % 3
    try:
        step = lcc.correct(z, y, k=k, seed=0)
    except (ValueError, TypeError) as err:
        assert _names_an_argument(err, "z", "k", "y", "y_true", "y_clst"), err
        return
    assert step.targets.shape == (len(z), z.shape[1])
    assert step.correctible.shape == (len(z),)
    assert not np.asarray(step.correctible)[~np.asarray(step.matching.misclustered)].any()


def test_the_budget_is_fixed():
    assert BUDGET.max_examples == 60 and BUDGET.derandomize


pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")
