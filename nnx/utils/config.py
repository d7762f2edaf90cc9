"""Objects described by their constructor arguments (optimizers, losses, initialisers)."""


class Configurable:
    """`get_config()` returns the constructor arguments; `from_config` and `repr` follow from it."""

    def get_config(self):
        return {}

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"
