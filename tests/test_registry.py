import gin
import pytest
from typer.testing import CliRunner

from ur4rec.registry import Registry, RegistryError, all_entries, registry


class Base:
    pass


def test_duplicate_name_is_refused():
    reg = Registry("test_dup_kind")

    @reg.register("Thing")
    class A(Base):
        pass

    with pytest.raises(RegistryError, match="taken"):
        @reg.register("Thing")
        class B(Base):
            pass

    assert reg.get("Thing") is A


def test_base_class_is_checked():
    reg = Registry("test_base_kind", base=Base)
    with pytest.raises(TypeError, match="must subclass"):
        reg.add(int, "NotABase")


def test_unknown_name_lists_known_ones():
    reg = Registry("test_lookup_kind")
    reg.add(type("Known", (), {}))
    with pytest.raises(RegistryError, match="Known"):
        reg.get("Missing")
    assert "Known" in reg and reg.names() == ["Known"]


def test_registry_name_is_gin_selector():
    reg = registry("test_gin_kind")

    @reg.register("Scaled")
    class Scaled:
        def __init__(self, factor: int = 1):
            self.factor = factor

    @gin.configurable
    def holder(value=None):
        return value

    gin.parse_config("holder.value = @test_gin_kind.Scaled()\ntest_gin_kind.Scaled.factor = 7")

    assert holder().factor == 7
    assert Scaled().factor == 1  # plain Python calls stay gin-free


def test_builtin_kinds_are_listed_with_params():
    import ur4rec.components  # noqa: F401
    from cli import app

    kinds = {e.kind for e in all_entries()}
    assert {"datasets", "rankers", "protocols"} <= kinds
    result = CliRunner().invoke(app, ["list", "datasets"])
    assert result.exit_code == 0, result.output
    assert "@datasets.MovieLens1M" in result.output and "data_dir" in result.output
    bad = CliRunner().invoke(app, ["list", "no_such_kind"])
    assert bad.exit_code == 2 and "known kinds" in bad.output
