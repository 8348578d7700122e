"""Damaged data files, impossible protocol values and bad gin input (issue 11, items 2-4, 7, 10, 12).

Every case must end in a correct result or a one-paragraph user error naming the file (line, field),
never a traceback, a silently different value or gin's "In call to configurable" note.
"""
import gzip
import os

import numpy as np
import pytest
from typer.testing import CliRunner

from cli import app
from conftest import write_ml1m
from ur4rec.config import load
from ur4rec.data.amazon import Amazon
from ur4rec.data.atomic import AtomicDataset
from ur4rec.data.movielens import MovieLens1M
from ur4rec.data.steam import Steam
from ur4rec.errors import ConfigError, DataError

runner = CliRunner()


def stats(folder, *bindings):
    args = ["data", "stats", "datasets/ml-1m.gin", "-b", f"DATA_DIR='{folder}'", "-b", "K_CORE=2",
            "-b", "N_CANDIDATES=20"]
    for b in bindings:
        args += ["-b", b]
    return runner.invoke(app, args)


def assert_user_error(result, *fragments):
    """Exit code 2 and one paragraph: no traceback, no gin call note, every fragment present."""
    assert result.exit_code == 2, (result.exit_code, result.output, result.exception)
    text = " ".join(result.output.split())  # rich may wrap long paths
    assert "Traceback" not in text and "In call to configurable" not in text, text
    for fragment in fragments:
        assert fragment in text, (fragment, text)


def with_rating_line(folder, line):
    good = (folder / "ratings.dat").read_text().splitlines()
    (folder / "ratings.dat").write_text("\n".join(good[:2] + [line] + good[2:]) + "\n")


# ---- item 2: numbers must be finite and in plain decimal form ----------------------------------
@pytest.mark.parametrize("line,field", [
    ("1::2::NaN::978300000", "Rating"),
    ("1::2::3::nan", "Timestamp"),
    ("1::2::3::inf", "Timestamp"),
    ("1::2::3::-Infinity", "Timestamp"),
    ("1::2::3::1e400", "Timestamp"),
    ("1::2::3::9.7e8", "Timestamp"),
    ("1::2::3::" + "9" * 400, "Timestamp"),
    ("1::2::1_000::978300000", "Rating"),
    ("1_0::2::3::978300000", "UserID"),
    ("1::0x1f::3::978300000", "MovieID"),
    ("1::" + "7" * 5000 + "::3::978300000", "MovieID"),
])
def test_ml1m_numbers_must_be_plain_finite_decimals(tmp_path, line, field):
    folder = write_ml1m(tmp_path / "ml", n_users=2, n_items=5, per_user=3)
    with_rating_line(folder, line)
    with pytest.raises(DataError) as err:
        MovieLens1M(folder).load()
    assert err.value.line == 3 and err.value.field == field and err.value.path.endswith("ratings.dat")
    assert len(str(err.value)) < 400  # the 5000-digit id is quoted cut short


def test_plain_decimals_still_parse(tmp_path):
    folder = write_ml1m(tmp_path / "ml", n_users=2, n_items=5, per_user=3)
    with_rating_line(folder, "  007::+2::4.5::978300000.25 ")
    raw = MovieLens1M(folder).load()
    assert raw.user[2] == "7" and raw.item[2] == "2" and raw.rating[2] == 4.5 and raw.timestamp[2] == 978300000.25


@pytest.mark.parametrize("row,field", [("1\t10\tnan\t100", "rating"), ("1\t10\t4\tinf", "timestamp"),
                                       ("1\t10\t4\t1_00", "timestamp"), ("\t10\t4\t100", "user_id")])
def test_atomic_numbers_and_ids(tmp_path, row, field):
    folder = write_atomic(tmp_path / "a", rows=["1\t10\t4\t100", row])
    with pytest.raises(DataError) as err:
        AtomicDataset(folder, name="toy").load()
    assert err.value.field == field and err.value.line == 3 and err.value.path.endswith("toy.inter")


def test_amazon_time_must_be_a_finite_number(tmp_path):
    for ts, found in (("NaN", "finite"), ("true", "number"), ('"123"', "string"), ("1e999", "finite")):
        folder = tmp_path / f"amz{found}{len(ts)}"
        folder.mkdir()
        (folder / "Books_5.json").write_text(f'{{"reviewerID": "u", "asin": "a", "unixReviewTime": {ts}}}\n')
        (folder / "meta_Books.json").write_text('{"asin": "a", "title": "T"}\n')
        with pytest.raises(DataError, match=found) as err:
            Amazon(folder).load()
        assert err.value.field == "unixReviewTime" and err.value.path.endswith("Books_5.json")


@pytest.mark.parametrize("review,field", [
    ("{'username': 'u', 'product_id': '1', 'date': '2017-01-01', 'hours': 'lots'}", "hours"),
    ("{'username': 'u', 'product_id': '1', 'date': '2017-01-01', 'hours': float('nan')}", None),
    ("{[1]: 2}", None),
    ("[" * 100_000, None),
])
def test_steam_damaged_review_lines(tmp_path, review, field):
    folder = tmp_path / "steam"
    folder.mkdir()
    (folder / "steam_games.json").write_text("{'id': '1', 'app_name': 'G', 'genres': 5}\n")
    (folder / "steam_reviews.json").write_text(review + "\n")
    with pytest.raises(DataError) as err:
        Steam(folder).load()
    assert err.value.line == 1 and err.value.field == field and err.value.path.endswith("steam_reviews.json")


def test_steam_non_list_genres_are_no_genres(tmp_path):
    folder = tmp_path / "steam"
    folder.mkdir()
    (folder / "steam_games.json").write_text("{'id': '1', 'app_name': 'G', 'genres': 5}\n{'id': '2', 'tags': 'Indie'}\n")
    (folder / "steam_reviews.json").write_text("{'username': 'u', 'product_id': '1', 'date': '2017-01-01'}\n")
    raw = Steam(folder).load()
    assert raw.items["1"].categories == [] and raw.items["2"].categories == ["Indie"]


# ---- item 7: damaged gzip files are named and called damaged ------------------------------------
def _truncated(data):
    return data[: len(data) // 2]


def _flipped(data):
    body = bytearray(data)
    body[len(body) // 2] ^= 0x10  # inside the deflate stream: the CRC check at the end fails
    return bytes(body)


@pytest.mark.parametrize("damage", [_truncated, _flipped, lambda data: b"not gzip at all\n1::2::3::4\n",
                                    lambda data: b""])
def test_damaged_gzip_is_named(tmp_path, damage):
    folder = write_ml1m(tmp_path / "ml", n_users=20, n_items=60, per_user=15, gz=True)
    path = folder / "ratings.dat.gz"
    path.write_bytes(damage(path.read_bytes()))
    with pytest.raises(DataError, match="damaged|empty") as err:
        MovieLens1M(folder).load()
    assert err.value.path == str(path)
    assert_user_error(stats(folder), str(path))


# ---- item 12: messages ---------------------------------------------------------------------------
def write_atomic(folder, name="toy", rows=("1\t10\t4\t100", "1\t11\t5\t90", "2\t10\t3\t50"), bom=False):
    folder.mkdir(parents=True, exist_ok=True)
    header = "user_id:token\titem_id:token\trating:float\ttimestamp:float"
    text = "\n".join([header, *rows]) + "\n"
    (folder / f"{name}.inter").write_bytes((b"\xef\xbb\xbf" if bom else b"") + text.encode())
    return folder


def test_utf8_bom_is_stripped(tmp_path):
    raw = AtomicDataset(write_atomic(tmp_path / "a", bom=True), name="toy").load()
    assert list(raw.user) == ["1", "1", "2"]
    folder = write_ml1m(tmp_path / "ml", n_users=2, n_items=5, per_user=3)
    (folder / "ratings.dat").write_bytes(b"\xef\xbb\xbf" + (folder / "ratings.dat").read_bytes())
    assert MovieLens1M(folder).load().user[0] == "1"


def test_header_only_inter_names_the_file(tmp_path):
    folder = write_atomic(tmp_path / "a", rows=())
    with pytest.raises(DataError, match="no interactions") as err:
        AtomicDataset(folder, name="toy").load()
    assert err.value.path.endswith("toy.inter")


@pytest.mark.parametrize("kind", ["dir", "fifo"])
def test_item_file_that_is_not_a_file(tmp_path, kind):
    folder = write_atomic(tmp_path / "a")
    path = folder / "toy.item"
    path.mkdir() if kind == "dir" else os.mkfifo(path)
    with pytest.raises(DataError, match="directory" if kind == "dir" else "FIFO") as err:
        AtomicDataset(folder, name="toy").load()
    assert err.value.path == str(path)


def test_quoted_input_is_capped(tmp_path):
    folder = write_ml1m(tmp_path / "ml", n_users=2, n_items=5, per_user=3)
    with_rating_line(folder, "1::2::" + "\0" * 10_000_000 + "::978300000")
    with pytest.raises(DataError, match="characters") as err:
        MovieLens1M(folder).load()
    assert len(str(err.value)) < 400
    atomic = write_atomic(tmp_path / "a")
    (atomic / "toy.inter").write_bytes(b"\0" * 2_000_000 + b"\n1\t2\n")
    with pytest.raises(DataError) as err:
        AtomicDataset(atomic, name="toy").load()
    assert len(str(err.value)) < 400


def test_data_error_is_one_paragraph_without_gin_call_note(tmp_path):
    folder = write_ml1m(tmp_path / "ml", n_users=20, n_items=60, per_user=15)
    with_rating_line(folder, "1::2::NaN::978300000")
    result = stats(folder)
    assert_user_error(result, "ratings.dat, line 3 (field 'Rating')")
    error = result.output[result.output.index("error:"):]
    assert len(error.strip().splitlines()) == 1


def test_rich_markup_in_a_message_prints_as_is(tmp_path):
    folder = write_ml1m(tmp_path / "ml", n_users=20, n_items=60, per_user=15)
    with_rating_line(folder, "1::2::[/bold]::978300000")
    assert_user_error(stats(folder), "'[/bold]'")


# ---- items 4 and 10: impossible protocol values, bad paths and encodings --------------------------
@pytest.mark.parametrize("binding,fragment", [
    ("K_CORE=-3", "K_CORE"), ("K_CORE=2.5", "K_CORE"), ("K_CORE='five'", "K_CORE"), ("K_CORE=True", "K_CORE"),
    ("N_CANDIDATES=0", "N_CANDIDATES"), ("N_CANDIDATES=-5", "N_CANDIDATES"),
    ("PROTOCOL_SEED=1.5", "PROTOCOL_SEED"), ("PROTOCOL_SEED=-1", "PROTOCOL_SEED"),
    ("EVAL_TARGETS_PER_USER=0", "EVAL_TARGETS_PER_USER"),
    ("protocols.Chronological.split=(0.5, 0.1, 0.1)", "summing to 1"),
    ("protocols.Chronological.split=(1.2, -0.1, -0.1)", "positive fractions"),
    ("protocols.Chronological.split=(0.5, 0.5)", "three"),
    ("datasets.MovieLens1M.encoding='klingon'", "klingon"),
])
def test_impossible_values_are_clear_errors(tmp_path, binding, fragment):
    folder = write_ml1m(tmp_path / "ml", n_users=20, n_items=60, per_user=15)
    assert_user_error(stats(folder, binding), fragment)


def test_cache_dir_that_is_a_file(tmp_path):
    folder = write_ml1m(tmp_path / "ml", n_users=20, n_items=60, per_user=15)
    assert_user_error(stats(folder, f"CACHE_DIR='{folder / 'movies.dat'}'"), "movies.dat", "CACHE_DIR")


def test_stats_table_prints_the_bound_split(tmp_path):
    folder = write_ml1m(tmp_path / "ml", n_users=20, n_items=60, per_user=15)
    result = stats(folder, "protocols.Chronological.split=(0.6, 0.2, 0.2)")
    assert result.exit_code == 0, result.output
    assert "split (0.6:0.2:0.2 per user" in result.output and "8:1:1" not in result.output


def test_uneven_split_keeps_a_training_target_per_user(tmp_path):
    """0.2:0.4:0.4 of 4 interactions leaves no training target: such users are dropped, not kept empty."""
    from ur4rec.data.pipeline import prepare_data
    from ur4rec.data.protocol import ChronologicalProtocol
    from ur4rec.errors import UserError

    folder = write_ml1m(tmp_path / "ml", n_users=20, n_items=60, per_user=4)
    with pytest.raises(UserError, match=r"ratings.dat.*users too short for a train/valid/test target \(dropped\).: 20"):
        prepare_data(MovieLens1M(folder), ChronologicalProtocol(k_core=1, n_candidates=10, split=(0.2, 0.4, 0.4)))
    data = prepare_data(MovieLens1M(write_ml1m(tmp_path / "ml5", n_users=20, n_items=60, per_user=5)),
                        ChronologicalProtocol(k_core=1, n_candidates=10, split=(0.2, 0.4, 0.4)))
    assert data.n_users == 20 and data.n_train.min() == 1


# ---- items 3, 10, 12: gin input -------------------------------------------------------------------
def test_misspelled_macro_binding_suggests_the_near_name(tmp_path):
    folder = write_ml1m(tmp_path / "ml", n_users=20, n_items=60, per_user=15)
    assert_user_error(stats(folder, "K_COR=3"), "K_COR", "Did you mean K_CORE?")
    with pytest.raises(ConfigError, match="EVAL_TARGETS_PER_USER"):
        load(["datasets/ml-1m.gin"], ["EVAL_TARGET_PER_USER=2"])


def test_macro_bindings_that_a_file_or_binding_uses_are_accepted():
    load(["datasets/ml-1m.gin"], ["K_CORE=3", "MY_SEED=7", "PROTOCOL_SEED=%MY_SEED"])
    import gin

    assert gin.query_parameter("MY_SEED/gin.macro.value") == 7


def test_gin_file_including_itself(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # gin finds the file, and used to recurse until RecursionError
    path = tmp_path / "self.gin"
    path.write_text("include 'base.gin'\ninclude 'self.gin'\n")
    with pytest.raises(ConfigError, match="the includes form a loop") as err:
        load([path])
    assert str(path) in str(err.value)
    other = tmp_path / "other.gin"
    other.write_text(f"include '{path.name}'\n")
    path.write_text("include 'other.gin'\n")
    assert_user_error(runner.invoke(app, ["data", "stats", str(path)]), "the includes form a loop")


def test_gin_file_with_non_utf8_bytes(tmp_path):
    path = tmp_path / "latin.gin"
    path.write_bytes(b"include 'base.gin'\n# caf\xe9\nK_CORE = 3\n")
    with pytest.raises(ConfigError, match="line 2: not UTF-8") as err:
        load([path])
    assert str(path) in str(err.value)
    assert_user_error(runner.invoke(app, ["data", "stats", str(path)]), "not UTF-8")


def test_include_next_to_the_including_file_is_read(tmp_path, monkeypatch):
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "knobs.gin").write_text("K_CORE = 7\n")
    (folder / "exp.gin").write_text("include 'datasets/ml-1m.gin'\ninclude 'knobs.gin'\n")
    monkeypatch.chdir(tmp_path)  # neither the current directory nor gin/ holds knobs.gin
    load([folder / "exp.gin"])
    import gin

    assert gin.query_parameter("K_CORE/gin.macro.value") == 7


def test_gin_syntax_error_in_an_included_file_names_that_file(tmp_path):
    (tmp_path / "broken.gin").write_text("K_CORE = (3\n")
    (tmp_path / "exp.gin").write_text("include 'base.gin'\ninclude 'broken.gin'\n")
    with pytest.raises(ConfigError, match="syntax error") as err:
        load([tmp_path / "exp.gin"])
    assert str(tmp_path / "broken.gin") in str(err.value)


def test_gzip_data_roundtrip_unchanged(tmp_path):
    """The gzip check reads the file once more; the parsed result is the plain file's."""
    plain = MovieLens1M(write_ml1m(tmp_path / "p", n_users=5, n_items=30, per_user=6)).load()
    packed = MovieLens1M(write_ml1m(tmp_path / "g", n_users=5, n_items=30, per_user=6, gz=True)).load()
    np.testing.assert_array_equal(plain.timestamp, packed.timestamp)
    assert gzip.decompress((tmp_path / "g" / "ratings.dat.gz").read_bytes()) == (tmp_path / "p" / "ratings.dat").read_bytes()
