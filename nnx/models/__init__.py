"""Models (docs/api.md sections 6 and 10): `Sequential`, `Model` (functional and subclassed), and loading what `model.save` /
`model.to_json` wrote."""
from nnx.models.training import BaseModel
from nnx.models.sequential import Sequential
from nnx.models.model import Model
from nnx.models.archive import ModelFileError
from nnx.models.functional import Functional
from nnx.models.saving import load_model, save_model
from nnx.models.serialization import model_from_json
