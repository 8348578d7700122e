"""The UR4Rec retriever: Figure 3 masks, eq. 4 blocks, encoder-copied layers, pre-training losses, Z leakage."""
from functools import partial

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import ur4rec.components  # noqa: F401
from conftest import write_ml1m
from tiny_models import tiny_bert_dir
from ur4rec.augment.ur4rec import UR4RecAugmenter
from ur4rec.backbones.base import BACKBONES
from ur4rec.data.movielens import MovieLens1M
from ur4rec.data.pipeline import prepare_data
from ur4rec.data.protocol import ChronologicalProtocol
from ur4rec.knowledge import KnowledgeVectors, RandomKnowledge
from ur4rec.losses.pretrain import PIM, InfoNCE, max_cosine
from ur4rec.retriever import masks
from ur4rec.retriever.model import Retriever
from ur4rec.train.batches import BatchMaker, TrainingRows, sizes_of


def tiny_retriever(layers=1, k=4, dim=16, z_dim=12, seed=0):
    torch.manual_seed(seed)
    return Retriever(z_dim=z_dim, layers=layers, n_proxies=k, dim=dim, heads=2, dropout=0.0).eval()


@pytest.fixture
def data(tmp_path):
    folder = write_ml1m(tmp_path / "ml", n_users=24, n_items=80, per_user=18)
    return prepare_data(MovieLens1M(str(folder)), ChronologicalProtocol(k_core=2, n_candidates=15))


# ---- masks (Figure 3) -----------------------------------------------------------------------------
def test_bidirectional_mask_lets_every_position_see_every_real_one():
    valid = torch.tensor([[True, True, False]])
    m = masks.bidirectional(valid)
    assert m.shape == (1, 3, 3)
    assert m[0, :, :2].all() and not m[0, :, 2].any()


def test_mask_c_items_see_proxies_and_themselves_only():
    m = masks.proxies_and_items(2, torch.tensor([[True, True, False]]))[0]  # K=2, N=3 (last is padding)
    assert m[:2, :2].all() and m[:2, 2:4].all() and not m[:2, 4].any()  # proxies: proxies + real items
    assert m[2:, :2].all()  # items see every proxy
    assert torch.equal(m[2:, 2:], torch.eye(3, dtype=torch.bool))  # ... and themselves only


def test_mask_c_one_candidate_never_changes_another_in_the_first_block():
    r = tiny_retriever(layers=1)
    h, z = torch.randn(2, 6, 16), torch.randn(2, 5, 12)
    valid, z_mask = torch.ones(2, 6, dtype=torch.bool), torch.ones(2, 5, dtype=torch.bool)
    _, before = r.joint(h, valid, z, z_mask)
    h2 = h.clone()
    h2[:, 3] = torch.randn(2, 16)  # (a constant shift would vanish in the input layer norm)
    proxies_after, after = r.joint(h2, valid, z, z_mask)
    others = [0, 1, 2, 4, 5]
    assert torch.allclose(before[:, others], after[:, others], atol=1e-6)
    assert not torch.allclose(before[:, 3], after[:, 3])


def test_masks_a_and_b_are_bidirectional():
    r = tiny_retriever(layers=1)
    z, z_mask = torch.randn(1, 5, 12), torch.ones(1, 5, dtype=torch.bool)
    h = torch.randn(1, 1, 16)
    out = r.match(h, z, z_mask)  # [1, 1, K+1, d]
    out2 = r.match(torch.randn(1, 1, 16), z, z_mask)
    assert not torch.allclose(out[0, 0, :4], out2[0, 0, :4])  # (b): proxies see the item
    pref = r.preference(z, z_mask)
    with torch.no_grad():
        r.proxies[0] = torch.randn(16)
    assert not torch.allclose(pref[:, 1:], r.preference(z, z_mask)[:, 1:])  # (a): proxies see each other


def test_z_padding_changes_nothing():
    r = tiny_retriever(layers=2)
    h, z = torch.randn(2, 6, 16), torch.randn(2, 4, 12)
    valid, z_mask = torch.ones(2, 6, dtype=torch.bool), torch.ones(2, 4, dtype=torch.bool)
    padded = torch.cat([z, 100 * torch.randn(2, 3, 12)], dim=1)
    pad_mask = torch.cat([z_mask, torch.zeros(2, 3, dtype=torch.bool)], dim=1)
    a, b = r.joint(h, valid, z, z_mask), r.joint(h, valid, padded, pad_mask)
    assert torch.allclose(a[0], b[0], atol=1e-5) and torch.allclose(a[1], b[1], atol=1e-5)


# ---- initialisation from the frozen encoder ----------------------------------------------------------
def test_copied_layers_equal_the_encoder_and_compute_like_bert(tmp_path):
    from transformers import AutoModel

    from ur4rec.encoding.encoders import HFEncoder

    folder = tiny_bert_dir(tmp_path / "bert")
    encoder = HFEncoder(model=str(folder))
    r = Retriever(z_dim=8, layers=2, n_proxies=3, init_from=encoder, dropout=0.0).eval()
    bert = AutoModel.from_pretrained(str(folder)).eval()
    layer = bert.encoder.layer[1]
    block = r.blocks[1]
    assert torch.equal(block.self_attn.q.weight, layer.attention.self.query.weight)
    assert torch.equal(block.self_attn.out.bias, layer.attention.output.dense.bias)
    assert torch.equal(block.ffn[0].weight, layer.intermediate.dense.weight)
    assert torch.equal(block.ffn[3].weight, layer.output.dense.weight)
    assert torch.equal(block.norm_ffn.weight, layer.output.LayerNorm.weight)
    assert torch.equal(r.input_norm.weight, bert.embeddings.LayerNorm.weight)
    x = torch.randn(2, 5, 32)
    with torch.no_grad():  # without cross-attention (eq. 7) a block is exactly the BERT layer
        ours = block(x, torch.ones(2, 5, 5, dtype=torch.bool))
        theirs = layer(x)[0] if isinstance(layer(x), tuple) else layer(x)
    assert torch.allclose(ours, theirs, atol=1e-5)
    assert r.blocks[0].cross_attn.q.weight.shape == (32, 32)  # cross-attention exists and is not copied


def test_more_layers_than_the_encoder_has_is_an_error(tmp_path):
    from ur4rec.encoding.encoders import HFEncoder

    encoder = HFEncoder(model=str(tiny_bert_dir(tmp_path / "bert")))
    with pytest.raises(ValueError, match="only 2"):
        Retriever(z_dim=8, layers=3, init_from=encoder)


# ---- pre-training objectives --------------------------------------------------------------------------
def test_max_cosine_takes_the_best_proxy():
    pref = torch.tensor([[[1.0, 0.0], [0.0, 2.0]]])  # K=2
    items = torch.tensor([[[3.0, 0.0], [1.0, 1.0], [0.0, -1.0]]])  # M=3
    s = max_cosine(pref, items)
    assert torch.allclose(s, torch.tensor([[1.0, 2 ** -0.5, 0.0]]), atol=1e-6)


def test_infonce_matches_hand_computation():
    scores = torch.tensor([[0.5, 0.1, -0.2]])
    tau = 0.5
    expected = -np.log(np.exp(0.5 / tau) / sum(np.exp(v / tau) for v in (0.5, 0.1, -0.2)))
    value = InfoNCE(tau=tau)(scores, torch.tensor([0]), torch.ones(1, 3, dtype=torch.bool))
    assert abs(float(value) - expected) < 1e-6
    masked = InfoNCE(tau=tau)(scores, torch.tensor([0]), torch.tensor([[True, True, False]]))
    assert abs(float(masked) + np.log(np.exp(1.0) / (np.exp(1.0) + np.exp(0.2)))) < 1e-6


def test_pim_matches_hand_computation():
    logits = torch.tensor([[2.0, -1.0, 0.5]])
    sig = 1 / (1 + np.exp(-np.array([2.0, -1.0, 0.5])))
    expected = -(np.log(sig[0]) + np.log(1 - sig[1]) + np.log(1 - sig[2])) / 3
    value = PIM()(logits, torch.tensor([0]), torch.ones(1, 3, dtype=torch.bool))
    assert abs(float(value) - expected) < 1e-6


# ---- Z and leakage -------------------------------------------------------------------------------------
class _Vectors(RandomKnowledge):
    """Random vectors whose user text is declared to cover the training span (as LLM/metadata texts do)."""

    def vectors(self, data):
        kv = super().vectors(data)
        return KnowledgeVectors(kv.user, kv.item, kv.description, user_cutoff=np.asarray(data.n_train))


def augmenter(data, policy="prefix-safe", z_history=5, **kw):
    retriever = partial(Retriever, layers=1, n_proxies=2, dim=16, heads=2)
    return UR4RecAugmenter(data, _Vectors(dim=12), retriever, z_history=z_history, user_vector=policy, **kw)


def test_z_of_a_training_target_holds_nothing_from_the_target_or_later(data):
    aug = augmenter(data)
    rows = TrainingRows(data).epoch(0, 0, 15)
    batch = BatchMaker(data, history_len=5)(rows.users, rows.pos, rows.candidates, rows.label)
    z, mask = aug.z(batch)
    for j in range(len(rows)):
        u, pos = int(rows.users[j]), int(rows.pos[j])
        seq = data.seq_items[data.seq_offsets[u]:data.seq_offsets[u + 1]]
        allowed = [aug.item_vectors[i] for i in seq[:pos]]
        assert not mask[j, 0]  # e_u's text lists training items at and after this target
        for row in z[j, 1:][mask[j, 1:]]:
            assert any(torch.equal(row, a) for a in allowed)
        for later in seq[pos:]:
            assert not any(torch.equal(row, aug.item_vectors[later]) for row in z[j][mask[j]])


def test_z_keeps_the_user_vector_for_evaluation_targets(data):
    aug = augmenter(data)
    s = data.samples("valid")
    batch = BatchMaker(data, history_len=5)(s.user, s.pos, s.candidates, s.label)
    z, mask = aug.z(batch)
    assert mask[:, 0].all()
    assert torch.equal(z[:, 0], aug.user_vectors[batch.user])
    assert augmenter(data, "always").z(batch)[1][:, 0].all()
    assert not augmenter(data, "never").z(batch)[1][:, 0].any()


def test_unknown_user_vector_policy_is_refused(data):
    with pytest.raises(ValueError, match="user_vector"):
        augmenter(data, "sometimes")


# ---- the candidate-knowledge query (not in the paper) ----------------------------------------------------
def _valid_batch(data):
    s = data.samples("valid")
    return BatchMaker(data, history_len=5)(s.user[:4], s.pos[:4], s.candidates[:4], s.label[:4])


def test_candidate_knowledge_reaches_only_that_candidates_augment_vector(data):
    torch.manual_seed(0)
    aug = augmenter(data, candidate_knowledge=True, aggregate="item")
    backbone = BACKBONES.get("PRM")(sizes_of(data), aug.dim, dim=8, layers=1)
    aug.attach(backbone)
    aug.eval()
    batch = _valid_batch(data)
    with torch.no_grad():
        items = backbone.embed_items(batch.cand, batch.cand_attrs)  # the backbone's h_i
    before = aug(batch, items)
    changed = batch.cand[0, 3]
    aug.item_vectors[changed] += 1.0
    after = aug(batch, items)
    moved = ~torch.isclose(before, after, atol=1e-6).all(-1)  # [B, N]
    assert moved[0, 3]
    assert torch.equal(moved, batch.cand == changed)  # mask (c): no other candidate's own output moves


def test_the_paper_query_has_no_knowledge_projection(data):
    aug = augmenter(data)
    assert aug.knowledge_proj is None and "candidate knowledge" not in aug.description
    assert "candidate knowledge" in augmenter(data, candidate_knowledge=True).description


def test_oracle_knowledge_singles_out_each_users_own_items(data):
    from ur4rec.knowledge import OracleKnowledge

    v = OracleKnowledge(dim=512, seed=1).vectors(data)
    v.check(data.n_users, data.n_items)
    for u in range(data.n_users):
        own = np.unique(data.user_items(u))
        scores = v.item[1:] @ v.user[u]
        top = np.argsort(-scores)[:len(own)] + 1
        assert len(set(top) & set(own)) / len(own) > 0.8  # the user's own items score highest
    assert np.array_equal(OracleKnowledge(dim=512, seed=1).vectors(data).user, v.user)


# ---- the match-score term (not in the paper) --------------------------------------------------------------
def _built(data, **kw):
    torch.manual_seed(0)
    aug = augmenter(data, **kw)
    backbone = BACKBONES.get("PRM")(sizes_of(data), aug.dim, dim=8, layers=1)
    aug.attach(backbone)
    aug.eval()
    batch = _valid_batch(data)
    with torch.no_grad():
        items = backbone.embed_items(batch.cand, batch.cand_attrs)
    return aug, batch, items


def test_pretrained_match_score_is_the_scaled_contrastive_score(data):
    aug, batch, items = _built(data, match_score="pretrained", match_scale=3.0)
    with torch.no_grad():
        e_aug, bias = aug.augment(batch, items)
        expected = 3.0 * aug.contrastive_scores(batch, items)
    assert bias.shape == batch.cand.shape and e_aug.shape[:2] == batch.cand.shape
    assert torch.allclose(bias, expected, atol=1e-6)
    assert torch.equal(e_aug, aug(batch, items))  # the score term leaves e_aug as it was


def test_joint_match_score_compares_the_joint_passs_proxy_and_item_outputs(data):
    aug, batch, items = _built(data, match_score="joint")
    with torch.no_grad():
        _, bias = aug.augment(batch, items)
        z, z_mask = aug.z(batch)
        proxies, own = aug.retriever.joint(aug.query(batch.cand, items), batch.cand_mask, z, z_mask)
    assert torch.allclose(bias, aug.match_scale * max_cosine(proxies, own), atol=1e-6)


def test_without_a_match_score_there_is_no_bias_and_no_scale_parameter(data):
    aug, batch, items = _built(data)
    assert aug.augment(batch, items)[1] is None
    assert not any("match_scale" in name for name, _ in aug.named_parameters())


def test_the_match_score_reaches_the_rerankers_scores_and_its_scale_learns(data):
    from ur4rec.rankers.neural import Reranker

    aug, batch, items = _built(data, match_score="pretrained")
    backbone = BACKBONES.get("PRM")(sizes_of(data), aug.dim, dim=8, layers=1)
    aug.attach(backbone)
    model = Reranker(backbone, aug).eval()
    with torch.no_grad():
        with_term = model(batch)
        aug.match_scale.zero_()
        without = model(batch)
        aug.match_scale.fill_(10.0)
        sim = aug.contrastive_scores(batch, model.backbone.embed_items(batch.cand, batch.cand_attrs))
    assert torch.allclose(with_term - without, 10.0 * sim, atol=1e-5)
    model(batch).sum().backward()
    assert aug.match_scale.grad is not None and aug.match_scale.grad != 0


def test_a_match_score_without_a_retriever_or_proxies_is_refused(data):
    with pytest.raises(ValueError, match="match_score"):
        UR4RecAugmenter(data, _Vectors(dim=12), None, match_score="pretrained")
    with pytest.raises(ValueError, match="match_score"):
        augmenter(data, match_score="cosine")
    with pytest.raises(ValueError, match="K = 0"):
        UR4RecAugmenter(data, _Vectors(dim=12), partial(Retriever, layers=1, n_proxies=0, dim=16, heads=2),
                        match_score="joint")


def test_a_knowledge_only_query_ignores_the_backbone_representation(data):
    aug, batch, items = _built(data, candidate_knowledge=True, backbone_query=False)
    assert aug.item_proj is None and "knowledge only" in aug.description
    with torch.no_grad():
        assert torch.equal(aug(batch, items), aug(batch, torch.randn_like(items)))
    with pytest.raises(ValueError, match="candidate_knowledge=True"):
        augmenter(data, backbone_query=False)
