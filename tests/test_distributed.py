"""Many captures on a local Dask cluster: the tables equal analyze()'s, file by file."""
from __future__ import annotations

import sys

import pandas as pd
import pytest

pytest.importorskip("dask.dataframe", reason="Dask is not installed (pip install 'pcapan[dask]')")
distributed = pytest.importorskip("distributed", reason="distributed is not installed (pip install 'pcapan[dask]')")

import dask  # noqa: E402

from conftest import SAMPLES  # noqa: E402
from pcap_analyzer import analyze, schema  # noqa: E402
from pcap_analyzer import distributed as cluster_tables  # noqa: E402
from pcap_analyzer.export import ExportError  # noqa: E402

# Different link types, pcap and pcapng, reused ports, fragments, several
# streams; then a file that is not a capture and one that does not exist.
GOOD = [SAMPLES / name for name in ("http_like.pcap", "reset.pcap", "port_reuse.pcap", "cooked_v2.pcap",
                                    "lab_offload.pcapng", "crafted/ip_fragments.pcap")]
BROKEN = SAMPLES / "broken" / "not_a_capture.pcap"
MISSING = SAMPLES / "no_such_capture.pcap"
PATHS = [str(p) for p in GOOD[:3]] + [str(BROKEN)] + [str(p) for p in GOOD[3:]] + [str(MISSING)]
GOOD_PATHS = [str(p) for p in GOOD]
TABLES = ("packets", "streams")


@pytest.fixture(scope="module")
def client():
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as lc, distributed.Client(lc) as c:
        yield c


@pytest.fixture(scope="module")
def expected():
    return {p: analyze(p) for p in GOOD_PATHS}


@pytest.fixture(scope="module")
def persisted(client):
    return cluster_tables.tables(PATHS, client=client)


@pytest.fixture(scope="module")
def computed(persisted):
    return dict(zip(("packets", "streams", "errors"), dask.compute(*persisted)))


def test_columns_and_dtypes_declared_up_front(persisted):
    for name, columns in (("packets", schema.PACKET_COLUMNS), ("streams", schema.STREAM_COLUMNS)):
        ddf = getattr(persisted, name)
        assert list(ddf.columns) == ["file", *schema.column_names(columns)]
        assert [str(t) for t in ddf.dtypes] == ["string", *(c.dtype for c in columns)]
        assert ddf.npartitions == len(PATHS)
    assert list(persisted.errors.columns) == ["file", "error"]


def test_each_partition_is_the_capture_table(persisted, expected):
    for name in TABLES:
        ddf = getattr(persisted, name)
        for i, path in enumerate(PATHS):
            part = ddf.partitions[i].compute()
            if path not in expected:
                assert len(part) == 0, (name, path)
                continue
            assert (part["file"] == path).all()
            want = cluster_tables.concatenable(getattr(expected[path], name))
            pd.testing.assert_frame_equal(part.drop(columns="file"), want, check_exact=True)


def test_concatenable_touches_only_empty_category_lists(expected):
    for a in expected.values():
        for table in (a.packets, a.streams):
            out = cluster_tables.concatenable(table)
            for col in table.columns:
                before, after = table[col].dtype, out[col].dtype
                if isinstance(before, pd.CategoricalDtype) and len(before.categories) == 0:
                    assert str(after.categories.dtype) == "str", col
                else:
                    assert after == before, col
                pd.testing.assert_series_equal(out[col].astype(object), table[col].astype(object))


def test_whole_table_gives_back_each_capture_exactly(computed, expected):
    for name in TABLES:
        table = computed[name]
        assert list(table["file"].unique()) == GOOD_PATHS   # the order the captures were given
        for path, a in expected.items():
            pd.testing.assert_frame_equal(cluster_tables.one_capture(table, path), getattr(a, name),
                                          check_exact=True)


def test_unreadable_captures_are_reported_not_fatal(computed):
    errors = computed["errors"].reset_index(drop=True)
    assert list(errors["file"]) == [str(BROKEN), str(MISSING)]
    assert [str(t) for t in errors.dtypes] == ["string", "string"]
    assert "not a pcap or pcapng file" in errors["error"][0]
    assert "no such file" in errors["error"][1]
    for name in TABLES:
        assert not computed[name]["file"].isin([str(BROKEN), str(MISSING)]).any()


def test_parquet_datasets_read_back_equal(client, tmp_path, expected):
    errors = cluster_tables.to_parquet(PATHS, tmp_path, client=client)
    assert list(errors["file"]) == [str(BROKEN), str(MISSING)]
    for name in TABLES:
        files = sorted((tmp_path / name).iterdir())
        assert [f.name for f in files] == [f"part.{i:05d}.parquet" for i in range(len(PATHS))]
        for f, path in zip(files, PATHS):
            part = pd.read_parquet(f)
            if path not in expected:
                assert len(part) == 0
                continue
            # Read alone, a capture's file is its analyze() table, categories included.
            pd.testing.assert_frame_equal(part.drop(columns="file"), getattr(expected[path], name),
                                          check_exact=True)
    packets, streams = cluster_tables.read_parquet(tmp_path)
    for path, a in expected.items():
        pd.testing.assert_frame_equal(cluster_tables.one_capture(packets, path), a.packets, check_exact=True)
        pd.testing.assert_frame_equal(cluster_tables.one_capture(streams, path), a.streams, check_exact=True)


def test_parquet_refuses_a_dataset_folder_with_files(tmp_path):
    (tmp_path / "streams").mkdir()
    (tmp_path / "streams" / "part.00000.parquet").write_bytes(b"old")
    with pytest.raises(ExportError, match="not empty"):
        cluster_tables.to_parquet(GOOD_PATHS[:1], tmp_path)


def test_lazy_tables_analyse_each_capture_once(monkeypatch, expected):
    import pcap_analyzer.analysis

    calls = []
    real = pcap_analyzer.analysis.analyze
    monkeypatch.setattr(pcap_analyzer.analysis, "analyze", lambda path: calls.append(path) or real(path))
    t = cluster_tables.tables(GOOD_PATHS[:2] + [str(BROKEN)])
    packets, streams, errors = dask.compute(*t, scheduler="sync")
    assert sorted(calls) == sorted(GOOD_PATHS[:2] + [str(BROKEN)])
    assert len(packets) == sum(len(expected[p].packets) for p in GOOD_PATHS[:2])
    assert list(errors["file"]) == [str(BROKEN)]


def test_no_captures_is_an_error():
    with pytest.raises(ValueError, match="no captures"):
        cluster_tables.tables([])


def test_missing_dask_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "dask", None)
    monkeypatch.setitem(sys.modules, "dask.dataframe", None)
    with pytest.raises(ImportError, match=r"pip install 'pcapan\[dask\]'"):
        cluster_tables.tables(GOOD_PATHS[:1])
