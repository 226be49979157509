"""Errors: a failing C call raises the SwitchcError subclass of its status
with the library's message (a missing directory is a FileNotFoundError
naming the path); arguments of the wrong type raise TypeError and bad
values ValueError, before or from the C library."""


import numpy as np
import pytest

from conftest import Case

CASE = "e4_step1_tied_bias_overflow"


@pytest.fixture(scope="module")
def model(switchc):
    return switchc.SwitchTransformersForConditionalGeneration.from_pretrained(Case(CASE).dir)


def test_missing_directory(switchc, tmp_path):
    missing = str(tmp_path / "no-such-model")
    with pytest.raises(FileNotFoundError) as e:
        switchc.SwitchTransformersForConditionalGeneration.from_pretrained(missing)
    assert isinstance(e.value, switchc.MissingError) and isinstance(e.value, switchc.SwitchcError)
    assert missing in str(e.value)  # the C message names what was looked for
    assert e.value.status == 7 and e.value.status_name == "missing"
    with pytest.raises(switchc.MissingError):
        switchc.T5Tokenizer.from_pretrained(missing)


def test_bad_checkpoint_is_a_c_error(switchc, tmp_path):
    (tmp_path / "config.json").write_text("{ not json")
    with pytest.raises(switchc.SwitchcError) as e:
        switchc.SwitchTransformersForConditionalGeneration.from_pretrained(str(tmp_path))
    assert "config.json" in str(e.value)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(switchc.SwitchcError):
        switchc.SwitchTransformersForConditionalGeneration.from_pretrained(str(empty))


def test_bad_load_arguments(switchc):
    d = Case(CASE).dir
    load = switchc.SwitchTransformersForConditionalGeneration.from_pretrained
    with pytest.raises(ValueError):
        load(d, dtype="float8")
    with pytest.raises(TypeError):
        load(d, dtype=3.5)
    with pytest.raises(TypeError):
        load(d, threads="four")
    with pytest.raises(ValueError):
        load(d, threads=-1)
    with pytest.raises(ValueError):
        load(d, max_memory="lots")
    with pytest.raises(ValueError):
        load(d, max_memory={"cuda:0": "1GiB"})
    with pytest.raises(TypeError):
        load(d, no_such_option=1)
    with pytest.raises(TypeError):
        load(42)
    with pytest.raises(switchc.UnsupportedError) as e:
        load(d, kernels="no-such-table")
    assert "no-such-table" in str(e.value)
    # spellings that work
    for dt in ("float32", "bfloat16", "float16", "q8", "auto", np.float32):
        m = load(d, torch_dtype=dt, max_memory="1GiB", threads=1)
        assert m.generate([[5, 6, 1]], max_new_tokens=2).shape == (1, 3)


def test_bad_call_arguments(switchc, model):
    ids = np.array([[5, 6, 7, 1]])
    with pytest.raises(TypeError):
        model(input_ids=ids.astype(np.float32), labels=ids)
    with pytest.raises(ValueError):
        model(input_ids=ids[None], labels=ids)  # 3-D
    with pytest.raises(ValueError):
        model(input_ids=ids)  # no decoder input
    with pytest.raises(ValueError):
        model(input_ids=ids, attention_mask=np.ones((1, 3)), labels=ids)
    with pytest.raises(ValueError):
        model(input_ids=ids, attention_mask=np.full((1, 4), 0.5), labels=ids)
    float_mask = model(input_ids=ids, attention_mask=np.ones((1, 4), np.float32), labels=ids)
    assert np.array_equal(float_mask.logits, model(input_ids=ids, labels=ids).logits)
    with pytest.raises(ValueError):
        model(input_ids=ids, labels=np.array([[5, 6]] * 2))
    with pytest.raises(ValueError):
        model(input_ids=np.array([[5, 2**40]]), labels=ids)
    with pytest.raises(ValueError) as e:
        model(input_ids=np.array([[5, 100000]]), labels=ids)  # beyond the vocabulary: the C check
    assert isinstance(e.value, switchc.SwitchcError) and e.value.message
    with pytest.raises(TypeError):
        model(input_ids=ids, labels=ids, past_key_values=None)
    with pytest.raises(TypeError):
        model.generate(ids, max_new_tokens="ten")
    with pytest.raises(TypeError):
        model.generate(ids, no_such_option=1)
    with pytest.raises(ValueError) as e:
        model.generate(ids, num_beams=0)
    assert isinstance(e.value, switchc.InvalidArgumentError)
    with pytest.raises(ValueError):
        model.generate(ids, early_stopping="sometimes")
    with pytest.raises(ValueError):
        model.generate(ids, seed=-1)
    with pytest.raises(ValueError):
        model.to("cuda")
    assert model.to("cpu") is model and model.eval() is model


def test_generate_options(switchc, model):
    ids = np.array([[5, 6, 7, 1], [9, 8, 1, 0]])
    mask = (ids != 0).astype(np.int64)
    a = model.generate(ids, attention_mask=mask, max_new_tokens=5, do_sample=True, seed=3)
    b = model.generate(inputs=ids, attention_mask=mask, max_new_tokens=5, do_sample=True, seed=3)
    assert np.array_equal(a, b) and a.shape == (2, 6)
    beams = model.generate(ids, attention_mask=mask, num_beams=3, num_return_sequences=2, max_new_tokens=4)
    assert beams.shape[0] == 4 and (beams[:, 0] == model.generation_config.decoder_start_token_id).all()
    cfg = {"max_new_tokens": 3}
    assert model.generate(ids, attention_mask=mask, generation_config=cfg).shape[1] <= 4
    assert model.generate(ids, attention_mask=mask, max_length=3).shape[1] <= 3
