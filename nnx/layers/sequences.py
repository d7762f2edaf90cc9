"""The sequence layers, gathered for `nnx.layers`: Embedding, the recurrent layers and the 1-D ones."""
from nnx.layers.embedding import Embedding
from nnx.layers.recurrent import GRU, LSTM, Bidirectional, SimpleRNN
from nnx.layers.sequence1d import (AveragePooling1D, Conv1D, GlobalAveragePooling1D,
                                   GlobalMaxPooling1D, MaxPooling1D)

__all__ = ["Embedding", "SimpleRNN", "LSTM", "GRU", "Bidirectional", "Conv1D", "MaxPooling1D",
           "AveragePooling1D", "GlobalAveragePooling1D", "GlobalMaxPooling1D"]
