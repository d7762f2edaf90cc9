"""Models (docs/api.md section 6): `Sequential`, and `load_model` for files written by `model.save`."""
from nnx.models.training import BaseModel
from nnx.models.sequential import Sequential
from nnx.models.archive import ModelFileError
from nnx.models.saving import load_model, save_model
