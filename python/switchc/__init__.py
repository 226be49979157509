"""switchc: Google's Switch Transformers (sparse Mixture-of-Experts T5) from
Hugging Face checkpoints, run by the switchc C library, with the class and
argument names of Hugging Face transformers and numpy arrays in place of
torch tensors.

    from switchc import T5Tokenizer, SwitchTransformersForConditionalGeneration
    tok = T5Tokenizer.from_pretrained("google/switch-base-8")
    model = SwitchTransformersForConditionalGeneration.from_pretrained("google/switch-base-8")
    ids = tok("A <extra_id_0> walks into a bar.", return_tensors="np").input_ids
    print(tok.decode(model.generate(ids, max_new_tokens=20)[0]))

The C library is found through SWITCHC_LIBRARY (a path), else the path
recorded when this package was installed, else libswitchc.so.0 on the
loader's path. See docs/python.md.
"""

from . import _lib
from .errors import (
    BufferTooSmallError, FormatError, InvalidArgumentError, LimitError, MissingError, ShapeError, SwitchcError,
    SwitchcIOError, SwitchcMemoryError, UnsupportedError,
)
from .losses import load_balancing_loss_func, router_z_loss_func
from .modeling import (
    GenerateOutput, MoEModelOutput, Seq2SeqMoEOutput, SwitchTransformersConfig, SwitchTransformersEncoderModel,
    SwitchTransformersForConditionalGeneration,
)
from .tokenization import BatchEncoding, T5Tokenizer

__version__ = _lib.version()
LIBRARY_PATH = _lib.LIBRARY_PATH
AutoTokenizer = T5Tokenizer  # the only tokenizer Switch checkpoints use

__all__ = [
    "T5Tokenizer", "AutoTokenizer", "BatchEncoding", "SwitchTransformersForConditionalGeneration",
    "SwitchTransformersEncoderModel", "SwitchTransformersConfig", "Seq2SeqMoEOutput", "MoEModelOutput",
    "GenerateOutput", "router_z_loss_func", "load_balancing_loss_func", "SwitchcError", "InvalidArgumentError",
    "SwitchcIOError", "FormatError", "UnsupportedError", "LimitError", "SwitchcMemoryError", "MissingError",
    "ShapeError", "BufferTooSmallError", "LIBRARY_PATH",
]
