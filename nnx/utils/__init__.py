"""Small helpers for the model API."""
from nnx.utils.progbar import Progbar
