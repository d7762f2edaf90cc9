"""Embedding lookup: rows of a (vocabulary, dim) table gathered by integer ids.

Forward is one fancy-indexing gather, O(ids * dim). Backward scatters the output gradient back into
the table rows; ids that repeat add up (np.add.at), which is what makes a shared row learn from every
position that used it.
"""
import numpy as np

from nnx.autograd import Function
from nnx.functional.math import _t
from nnx.labels import integer_indices


class Embedding(Function):
    @staticmethod
    def forward(ctx, ids, table):
        ctx.ids, ctx.table_shape = ids, table.shape
        return table[ids]

    @staticmethod
    def backward(ctx, g):
        dtable = np.zeros(ctx.table_shape, g.dtype)
        np.add.at(dtable, ctx.ids.ravel(), g.reshape(-1, ctx.table_shape[1]))
        return None, dtable


def embedding(ids, table):
    """table[ids]: ids any integer array (floats holding whole numbers are accepted), table (V, D)."""
    table = _t(table, "embedding")
    if table.ndim != 2:
        raise ValueError(f"embedding: table must be 2-D (input_dim, output_dim), got {table.shape}")
    ids = integer_indices(ids, "embedding", "token ids")
    if ids.size and (ids.min() < 0 or ids.max() >= table.shape[0]):
        bad = ids.min() if ids.min() < 0 else ids.max()
        raise ValueError(f"embedding: token id {int(bad)} out of range [0, {table.shape[0]}) for "
                         f"ids of shape {ids.shape}")
    return Embedding.apply(ids, table)
