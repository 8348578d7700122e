"""Run folders: one per configuration (gin files + bindings), the seed in its own level."""
from ur4rec.experiment import experiment_name
from ur4rec.paths import GIN_DIR

QUICK = GIN_DIR / "experiments" / "quickstart.gin"


def test_a_plain_experiment_file_names_its_folder():
    assert experiment_name([GIN_DIR / "experiments" / "table2" / "ml-1m" / "prm" / "base.gin"]) == "table2/ml-1m/prm/base"
    assert experiment_name([QUICK], ["SEED=2"]) == "quickstart"  # the seed has its own folder level


def test_extra_files_or_bindings_make_another_folder():
    plain = experiment_name([QUICK])
    openai = experiment_name([QUICK, GIN_DIR / "llms" / "openai.gin"], ["LLM_MODEL='qwen'"])
    other_model = experiment_name([QUICK, GIN_DIR / "llms" / "openai.gin"], ["LLM_MODEL='llama'"])
    assert len({plain, openai, other_model}) == 3
    assert openai.startswith("quickstart+")
    assert experiment_name([QUICK], ["K_CORE=10"]) != plain
    assert experiment_name([QUICK], [" SEED = 1", "K_CORE=10"]) == experiment_name([QUICK], ["K_CORE=10"])
