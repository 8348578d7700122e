import numpy as np
import pytest

from tiny_models import tiny_bert_dir
from ur4rec.data.movielens import MovieLens1M
from ur4rec.data.pipeline import prepare_data
from ur4rec.data.protocol import ChronologicalProtocol
from ur4rec.encoding.encoders import ENCODERS, MPNET_PARTS, HFEncoder, minilm_path
from ur4rec.encoding.runner import encode_texts, vector_store
from ur4rec.generation.llms import MetadataText
from ur4rec.knowledge import LLMKnowledge, MetadataKnowledge, text_store

TEXTS = ["the movie", "a comedy and drama movie of the year", "game", "the user history of action movie genre"]


@pytest.fixture(scope="module")
def bert_dir(tmp_path_factory):
    return tiny_bert_dir(tmp_path_factory.mktemp("bert") / "tiny-bert")


@pytest.fixture
def data(tiny_ml1m):
    return prepare_data(MovieLens1M(tiny_ml1m), ChronologicalProtocol(k_core=2, n_candidates=20))


def test_mean_pooling_ignores_padding_and_normalises(bert_dir):
    enc = HFEncoder(model=str(bert_dir), batch_size=4)
    batched = enc.encode(TEXTS)
    alone = np.stack([enc.encode([t])[0] for t in TEXTS])
    np.testing.assert_allclose(batched, alone, atol=1e-5)  # a short text padded in a batch encodes the same
    np.testing.assert_allclose(np.linalg.norm(batched, axis=1), 1.0, atol=1e-5)
    assert batched.shape == (4, 32) and enc.dim == 32
    cls = HFEncoder(model=str(bert_dir), pooling="cls", normalize=False).encode(TEXTS)
    assert not np.allclose(cls / np.linalg.norm(cls, axis=1, keepdims=True), batched, atol=1e-3)
    assert enc.params() != HFEncoder(model=str(bert_dir), max_length=8).params()
    assert "HF" in ENCODERS


def test_encode_texts_is_resumable(bert_dir):
    enc = HFEncoder(model=str(bert_dir), batch_size=2)
    first, s1 = encode_texts(TEXTS[:2], enc, progress=False)
    both, s2 = encode_texts(TEXTS + TEXTS[:1], enc, progress=False)
    assert (s1.generated, s2.generated, s2.cached) == (2, 2, 3)
    np.testing.assert_allclose(both[:2], first)
    np.testing.assert_allclose(both[4], both[0])
    again, s3 = encode_texts(TEXTS, enc, progress=False)
    assert s3.generated == 0
    np.testing.assert_allclose(again, both[:4])
    assert len(vector_store(enc)) == 4


def test_minilm_matches_sentence_transformers():
    st = pytest.importorskip("sentence_transformers")
    ours = HFEncoder().encode(TEXTS)
    ref = st.SentenceTransformer(str(minilm_path()), device="cpu").encode(TEXTS, normalize_embeddings=True)
    assert ours.shape == (4, 384)
    np.testing.assert_allclose(ours, ref, atol=1e-4)


def test_mpnet_if_installed():
    import importlib.metadata as md

    try:
        [md.distribution(p) for p in MPNET_PARTS]
    except md.PackageNotFoundError:
        pytest.skip("all-mpnet-base-v2 split wheels not installed")
    assert HFEncoder(model="all-mpnet-base-v2").encode(TEXTS[:2]).shape == (2, 768)


def test_knowledge_sources_fill_the_contract(data, bert_dir):
    enc = HFEncoder(model=str(bert_dir))
    meta = MetadataKnowledge(encoder=enc).vectors(data, progress=False)
    llm = LLMKnowledge(llm=MetadataText(), encoder=enc, n_history=5)
    kv = llm.vectors(data, progress=False)
    for v in (meta, kv):
        v.check(data.n_users, data.n_items)
        assert v.dim == 32 and not v.item[0].any() and v.user.dtype == np.float32
    # the metadata "LLM" returns the prompt's data listing; the Metadata source encodes item.text()
    users, items = llm.texts(data, progress=False)
    assert len(users) == data.n_users and len(items) == data.n_items
    assert len(text_store()) >= data.n_items  # generated texts are stored (duplicates share a key)
    both = LLMKnowledge(llm=MetadataText(), encoder=enc, n_history=5, encode_text="prompt+answer")
    assert both.texts(data, progress=False)[1][0].startswith(items[0])
    assert "metadata" in kv.description and enc.encoder_id in kv.description
