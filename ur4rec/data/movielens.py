"""MovieLens-1M in its original ``::``-separated format (ratings.dat plain or .gz, latin-1 text)."""
from __future__ import annotations

import re
from pathlib import Path

from ur4rec.data.base import DATASETS, Dataset
from ur4rec.data.readers import (as_float, as_int_token, check_encoding, find_file, read_lines, regular_file,
                                 split_fields)
from ur4rec.data.schema import Item, LoadReport

# Code tables from the ML-1M README (facts of the dataset).
AGES = {"1": "under 18", "18": "18-24", "25": "25-34", "35": "35-44", "45": "45-49", "50": "50-55", "56": "56+"}
OCCUPATIONS = [
    "other", "academic/educator", "artist", "clerical/admin", "college/grad student", "customer service",
    "doctor/health care", "executive/managerial", "farmer", "homemaker", "K-12 student", "lawyer",
    "programmer", "retired", "sales/marketing", "scientist", "self-employed", "technician/engineer",
    "tradesman/craftsman", "unemployed", "writer",
]
_YEAR = re.compile(r"^(.*?)\s*\((\d{4})\)\s*$")


def split_title_year(title: str) -> tuple[str, str]:
    match = _YEAR.match(title)
    return (match.group(1), match.group(2)) if match else (title, "")


@DATASETS.register("MovieLens1M")
class MovieLens1M(Dataset):
    """MovieLens-1M original files: ratings.dat(.gz), movies.dat, users.dat (optional)."""

    domain = "movies"

    def __init__(self, data_dir: str = "../shared/data/ml-1m", name: str = "ml-1m", encoding: str = "latin-1"):
        super().__init__(data_dir, name)
        self.encoding = check_encoding(encoding, "datasets.MovieLens1M")

    def params(self) -> dict:
        return {**super().params(), "encoding": self.encoding}

    def _ratings(self) -> Path:
        return find_file(self.data_dir, "ratings.dat")

    def _optional(self, name: str) -> Path | None:
        for cand in (self.data_dir / name, self.data_dir / f"{name}.gz"):
            if regular_file(cand):
                return cand
        return None

    def input_files(self) -> list[Path]:
        files = [self._ratings(), find_file(self.data_dir, "movies.dat")]
        users = self._optional("users.dat")
        return files + ([users] if users else [])

    def _parse(self, report: LoadReport):
        ratings, movies = self._ratings(), find_file(self.data_dir, "movies.dat")
        items = {}
        for ln, text in read_lines(movies, self.encoding):
            mid, title, genres = split_fields(movies, ln, text, "::", ("MovieID", "Title", "Genres"))
            name, year = split_title_year(title)
            items[as_int_token(movies, ln, mid, "MovieID")] = Item(name, [g for g in genres.split("|") if g], "", year)
        users = {}
        users_file = self._optional("users.dat")
        if users_file is None:
            report.add("users.dat absent (no user profiles)")
        else:
            for ln, text in read_lines(users_file, self.encoding):
                uid, gender, age, occ, zipc = split_fields(users_file, ln, text, "::", ("UserID", "Gender", "Age", "Occupation", "Zip-code"))
                # isascii: str.isdigit() is also true for '²', which int() refuses
                occ_i = int(occ) if occ.isascii() and occ.isdigit() and int(occ) < len(OCCUPATIONS) else None
                users[as_int_token(users_file, ln, uid, "UserID")] = {
                    "gender": {"M": "male", "F": "female"}.get(gender, gender),
                    "age": AGES.get(age, age),
                    "occupation": OCCUPATIONS[occ_i] if occ_i is not None else occ,
                    "zip": zipc,
                }
        u, i, t, r = [], [], [], []
        names = ("UserID", "MovieID", "Rating", "Timestamp")
        for ln, text in read_lines(ratings, self.encoding):
            uid, mid, rating, ts = split_fields(ratings, ln, text, "::", names)
            u.append(as_int_token(ratings, ln, uid, "UserID"))
            i.append(as_int_token(ratings, ln, mid, "MovieID"))
            r.append(as_float(ratings, ln, rating, "Rating"))
            t.append(as_float(ratings, ln, ts, "Timestamp"))
        return users, items, u, i, t, r
