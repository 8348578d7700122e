import gzip
import json

import numpy as np
import pytest

from conftest import SHARED_DATA, write_ml1m
from ur4rec.data.amazon import Amazon
from ur4rec.data.atomic import AtomicDataset, bundled_ml100k_dir
from ur4rec.data.movielens import MovieLens1M
from ur4rec.data.steam import Steam
from ur4rec.errors import DataError


# ---- MovieLens-1M -----------------------------------------------------------------------
@pytest.mark.parametrize("gz", [False, True])
def test_ml1m_plain_and_gz(tmp_path, gz):
    folder = write_ml1m(tmp_path / "ml", n_users=4, n_items=30, per_user=6, gz=gz)
    raw = MovieLens1M(folder).load()
    assert raw.counts()["interactions"] == 24 and raw.counts()["users"] == 4
    item = raw.items["3"]
    assert item.title == "Movie 3" and item.year == "1953" and item.categories == ["Sci-Fi", "Action"]
    assert raw.users["1"]["gender"] == "female" and raw.users["2"]["occupation"] == "artist"


def test_ml1m_latin1_title(tmp_path):
    folder = write_ml1m(tmp_path / "ml", n_users=2, n_items=5, per_user=3)
    (folder / "movies.dat").write_bytes("1::Amélie (2001)::Comedy\n2::B (1990)::Drama\n".encode("latin-1"))
    assert MovieLens1M(folder).load().items["1"].title == "Amélie"


@pytest.mark.parametrize("line,field,message", [
    ("1::2::3", None, "expected 4 fields"),
    ("x::2::3::978300000", "UserID", "integer id"),
    ("1::2::five::978300000", "Rating", "number"),
])
def test_ml1m_malformed_line_names_file_line_field(tmp_path, line, field, message):
    folder = write_ml1m(tmp_path / "ml", n_users=2, n_items=5, per_user=3)
    good = (folder / "ratings.dat").read_text().splitlines()
    (folder / "ratings.dat").write_text("\n".join(good[:2] + [line] + good[2:]) + "\n")
    with pytest.raises(DataError, match=message) as err:
        MovieLens1M(folder).load()
    assert err.value.line == 3 and err.value.field == field and err.value.path.endswith("ratings.dat")


def test_missing_and_empty_files(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        MovieLens1M(tmp_path / "nowhere").load()
    folder = write_ml1m(tmp_path / "ml", n_users=2, n_items=5, per_user=3)
    (folder / "ratings.dat").write_text("")
    with pytest.raises(DataError, match="empty"):
        MovieLens1M(folder).load()
    (folder / "ratings.dat").unlink()
    with pytest.raises(DataError, match="ratings.dat"):
        MovieLens1M(folder).load()


def test_undecodable_text_names_line(tmp_path):
    folder = write_ml1m(tmp_path / "ml", n_users=2, n_items=5, per_user=3)
    (folder / "movies.dat").write_bytes(b"1::Good (1990)::Drama\n2::Bad \xff (1990)::Drama\n")
    with pytest.raises(DataError, match="cannot decode") as err:
        MovieLens1M(folder, encoding="utf-8").load()
    assert err.value.line == 2


def test_items_without_metadata_are_kept_and_counted(tmp_path):
    folder = write_ml1m(tmp_path / "ml", n_users=3, n_items=10, per_user=4)
    (folder / "movies.dat").write_text("1::Only One (1990)::Drama\n", encoding="latin-1")
    raw = MovieLens1M(folder).load()
    n_missing = len(set(raw.item) - {"1"})
    assert raw.report.as_dict()["items without metadata (kept, empty text)"] == n_missing
    assert all(tok in raw.items for tok in raw.item)


# ---- RecBole atomic ---------------------------------------------------------------------
def write_atomic(folder, name="toy"):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{name}.inter").write_text(
        "user_id:token\titem_id:token\trating:float\ttimestamp:float\n1\t10\t4\t100\n1\t11\t5\t90\n2\t10\t3\t50\n")
    (folder / f"{name}.item").write_text(
        "item_id:token\tmovie_title:token_seq\trelease_year:token\tclass:token_seq\n10\tToy Story\t1995\tAnimation Comedy\n")
    (folder / f"{name}.user").write_text("user_id:token\tage:token\tgender:token\n1\t24\tM\n2\t53\tF\n")
    return folder


def test_atomic_reads_typed_headers(tmp_path):
    raw = AtomicDataset(write_atomic(tmp_path / "a"), name="toy").load()
    assert raw.counts() == {"users": 2, "items": 2, "interactions": 3}
    assert raw.items["10"].categories == ["Animation", "Comedy"] and raw.items["10"].year == "1995"
    assert raw.users["2"] == {"age": "53", "gender": "F"}
    assert raw.report.as_dict()["items without metadata (kept, empty text)"] == 1


def test_atomic_wrong_field_count(tmp_path):
    folder = write_atomic(tmp_path / "a")
    with open(folder / "toy.inter", "a") as fh:
        fh.write("3\t12\n")
    with pytest.raises(DataError, match="expected 4 tab-separated") as err:
        AtomicDataset(folder, name="toy").load()
    assert err.value.line == 5


def test_bundled_ml100k_is_found():
    assert (bundled_ml100k_dir() / "ml-100k.inter").is_file()


# ---- Steam ------------------------------------------------------------------------------
GAMES = [
    "{u'app_name': u'Half-Life', u'genres': [u'Action'], u'developer': u'Valve', u'release_date': u'1998-11-08', u'id': u'70'}",
    "{u'app_name': u'Portal', u'tags': [u'Puzzle'], u'publisher': u'Valve', u'id': u'400'}",
    "{u'app_name': u'No id here'}",
]


def test_steam_json_reviews(tmp_path):
    folder = tmp_path / "steam"
    folder.mkdir()
    (folder / "steam_games.json.gz").write_bytes(gzip.compress(("\n".join(GAMES) + "\n").encode()))
    reviews = ["{'username': 'ann', 'product_id': '70', 'date': '2015-01-02', 'hours': 3.5}",
               "{'username': 'ann', 'product_id': '400', 'date': '2016-01-02'}"]
    (folder / "steam_reviews.json.gz").write_bytes(gzip.compress(("\n".join(reviews) + "\n").encode()))
    raw = Steam(folder).load()
    assert raw.items["70"].title == "Half-Life" and raw.items["70"].year == "1998" and raw.items["70"].brand == "Valve"
    assert raw.items["400"].categories == ["Puzzle"]
    assert raw.report.as_dict()["game metadata lines without an id (skipped)"] == 1
    assert raw.timestamp[0] < raw.timestamp[1] and raw.rating[0] == pytest.approx(3.5)


def test_steam_bad_literal_and_date(tmp_path):
    folder = tmp_path / "steam"
    folder.mkdir()
    (folder / "steam_games.json").write_text("\n".join(GAMES[:2]) + "\n")
    (folder / "steam_reviews.json").write_text("{'username': 'ann', 'product_id': '70', 'date': 'May 2015'}\n")
    with pytest.raises(DataError, match="YYYY-MM-DD") as err:
        Steam(folder).load()
    assert err.value.field == "date" and err.value.line == 1
    (folder / "steam_reviews.json").write_text("{'username': 'ann', 'product_id': \n")
    with pytest.raises(DataError, match="dict literal"):
        Steam(folder).load()


def test_steam_parquet_drops_undated_rows(tmp_path):
    import datetime as dt

    import pyarrow as pa
    import pyarrow.parquet as pq

    folder = tmp_path / "steam"
    folder.mkdir()
    (folder / "steam_games.json").write_text("\n".join(GAMES[:2]) + "\n")
    table = pa.table({"user_id": ["a", "a", "b"], "item_id": pa.array([70, 400, 70], pa.int32()),
                      "posted": [dt.datetime(2011, 1, 1), None, dt.datetime(2012, 1, 1)],
                      "recommend": [True, False, True]})
    pq.write_table(table, folder / "australian_user_reviews.parquet")
    raw = Steam(folder).load()
    assert len(raw) == 2 and raw.report.as_dict()["reviews without a date (dropped)"] == 1


# ---- Amazon -----------------------------------------------------------------------------
def test_amazon_reviews_and_meta(tmp_path):
    folder = tmp_path / "amz"
    folder.mkdir()
    reviews = [{"reviewerID": "r1", "asin": "B1", "overall": 5.0, "unixReviewTime": 1400000000},
               {"reviewerID": "r1", "asin": "B2", "overall": 3.0, "unixReviewTime": 1300000000}]
    (folder / "Books_5.json").write_text("\n".join(json.dumps(r) for r in reviews) + "\n")
    meta = [{"asin": "B1", "title": "Dune &amp; Co", "brand": "Frank Herbert", "category": ["Books", "Science Fiction"]}]
    (folder / "meta_Books.json.gz").write_bytes(gzip.compress((json.dumps(meta[0]) + "\n").encode()))
    raw = Amazon(folder).load()
    assert raw.items["B1"].title == "Dune & Co" and raw.items["B1"].categories == ["Science Fiction"]
    assert raw.report.as_dict()["items without metadata (kept, empty text)"] == 1
    (folder / "Books_5.json").write_text('{"reviewerID": "r1", "asin": "B1"}\n')
    with pytest.raises(DataError, match="missing key") as err:
        Amazon(folder).load()
    assert err.value.field == "unixReviewTime"


# ---- the real files in ../shared/data -----------------------------------------------------
@pytest.mark.skipif(not (SHARED_DATA / "ml-100k").is_dir(), reason="../shared/data/ml-100k not present")
def test_real_ml100k_counts():
    raw = AtomicDataset(SHARED_DATA / "ml-100k").load()
    assert raw.counts() == {"users": 943, "items": 1682, "interactions": 100000}


@pytest.mark.skipif(not (SHARED_DATA / "ml-1m").is_dir(), reason="../shared/data/ml-1m not present")
def test_real_ml1m_counts():
    raw = MovieLens1M(SHARED_DATA / "ml-1m").load()
    counts = raw.counts()
    assert counts["users"] == 2999 and counts["interactions"] == 487650
    assert set(raw.item.tolist()) <= set(raw.items)


@pytest.mark.skipif(not (SHARED_DATA / "steam").is_dir(), reason="../shared/data/steam not present")
def test_real_steam_loads():
    raw = Steam(SHARED_DATA / "steam").load()
    assert raw.report.as_dict()["reviews without a date (dropped)"] == 10119
    assert len(raw) == 59305 - 10119
