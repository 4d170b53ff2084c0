"""Small learned models (trained with PyTorch by ``scripts/train_*.py``, run on numpy).

Weights ship inside the package as ``.safetensors`` with a data card each
(``weights/*.card.md``): the data, licence, split, metrics, size and how to retrain.
"""
