"""Small helpers for the model API."""
from nnx.utils.progbar import Progbar
from nnx.utils.registration import register_serializable
