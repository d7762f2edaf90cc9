"""`get(identifier)` of optimizers, losses, initializers and regularizers: one lookup (nnx.utils.names)."""
import pytest

from nnx import initializers, losses, optimizers, regularizers

MODULES = [  # module, base class, a built-in class, its name, a misspelt name and the suggestion
    (optimizers, optimizers.Optimizer, optimizers.Adam, "adam", "adma", "adam"),
    (losses, losses.Loss, losses.MeanSquaredError, "mean_squared_error", "mean_squared_eror",
     "mean_squared_error"),
    (initializers, initializers.Initializer, initializers.HeNormal, "he_normal", "he_normall", "he_normal"),
    (regularizers, regularizers.Regularizer, regularizers.L2, "l2", "l22", "l2"),
]


@pytest.mark.parametrize("module, base, cls, name, typo, suggestion", MODULES)
def test_get_by_instance_class_name_and_config(module, base, cls, name, typo, suggestion):
    made = cls()
    assert module.get(made) is made
    assert type(module.get(cls)) is cls
    assert type(module.get(name)) is cls and type(module.get(name.upper())) is cls
    again = module.get({"class_name": cls.__name__, "config": made.get_config()})
    assert type(again) is cls and again.get_config() == made.get_config()


@pytest.mark.parametrize("module, base, cls, name, typo, suggestion", MODULES)
def test_get_refuses_unknown_names_bad_configs_and_other_types(module, base, cls, name, typo, suggestion):
    where = f"{module.__name__.split('.')[-1]}.get"
    with pytest.raises(ValueError, match=rf"{where}: unknown .* '{typo}'; did you mean .*'{suggestion}'"):
        module.get(typo)
    with pytest.raises(ValueError, match=rf"{where}: unknown .*class_name 'os.system'"):
        module.get({"class_name": "os.system"})
    with pytest.raises(ValueError, match=rf"{where}: a config dict needs 'class_name'"):
        module.get({"config": {}})
    with pytest.raises(ValueError, match=rf"{where}: bad config for '{cls.__name__}'"):
        module.get({"class_name": cls.__name__, "config": {"no_such_argument": 1}})
    with pytest.raises(TypeError, match=rf"{where}: expected a name, config dict, {base.__name__}.* got int"):
        module.get(3)
