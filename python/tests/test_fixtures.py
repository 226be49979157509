"""Every inference fixture case (tests/fixtures/models, not train_*) through
the Python API against the arrays Hugging Face transformers 4.41.2 recorded:
loss, logits, encoder output, the four router losses, router logits and
expert indices per block (HF's tuple layout), greedy and beam-search ids and
beam scores, the encoder model, the zero-drop variant where recorded, and
HF's loss functions on the recorded router outputs. Exact (fp32) kernels;
tolerances of tests/fixtures/README.md: 1e-4 + 1e-4*|ref|, ids exact."""

import numpy as np
import pytest

from conftest import Case, assert_close, inference_cases

CASES = inference_cases()


def test_cases_found():
    assert len(CASES) >= 8, CASES


_models = {}


def model_for(switchc, case, drop="hf4"):
    key = (case.name, drop)
    if key not in _models:
        _models[key] = switchc.SwitchTransformersForConditionalGeneration.from_pretrained(
            case.dir, kernels="exact", drop_policy=drop)
    return _models[key]


def softmax(x):
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def check_router_tuples(case, got, stack, prefix, n_blocks):
    sparse = case.manifest[f"{stack}_sparse_layers"]
    assert isinstance(got, tuple) and len(got) == n_blocks, f"{stack}: {len(got)} entries, want {n_blocks}"
    for i, entry in enumerate(got):
        if i in sparse:
            assert len(entry) == 2, f"{stack}.block.{i}: a sparse block gives (logits, expert_index)"
            logits, index = entry
            assert logits.dtype == np.float32 and index.dtype == np.int64
            assert_close(logits, case.array(f"{prefix}{stack}.block.{i}.router_logits"),
                         f"{case.name} {stack}.block.{i} router logits")
            want = case.array(f"{prefix}{stack}.block.{i}.expert_index")
            assert np.array_equal(index, want), f"{case.name} {stack}.block.{i} expert index"
        else:
            # HF 4.41.2's dense block: (torch.zeros((1,), dtype=int64),)
            assert len(entry) == 1 and entry[0].shape == (1,) and entry[0].dtype == np.int64
            assert entry[0][0] == 0


@pytest.mark.parametrize("name", CASES)
def test_forward(switchc, name):
    case = Case(name)
    model = model_for(switchc, case)
    ids, mask, labels = case.array("input_ids"), case.array("attention_mask"), case.array("labels")
    out = model(input_ids=ids, attention_mask=mask, labels=labels)
    assert_close(out.loss, case.array("loss")[0], f"{name} loss", atol=0, rtol=1e-4)
    assert_close(out["logits"], case.array("logits"), f"{name} logits")
    assert_close(out.encoder_last_hidden_state, case.array("encoder_last_hidden_state"), f"{name} encoder")
    for k in ("encoder_z_loss", "encoder_aux_loss", "decoder_z_loss", "decoder_aux_loss"):
        assert_close(out[k], case.array(k)[0], f"{name} {k}", atol=1e-6, rtol=1e-4)
    cfg = model.config
    check_router_tuples(case, out.encoder_router_logits, "encoder", "", cfg.num_layers)
    check_router_tuples(case, out.decoder_router_logits, "decoder", "", cfg.num_decoder_layers)

    # the decoder ids given instead of derived from the labels: same logits
    dec = case.array("decoder_input_ids")
    out2 = model(input_ids=ids, attention_mask=mask, decoder_input_ids=dec)
    assert out2.loss is None
    assert_close(out2.logits, case.array("logits"), f"{name} logits given decoder_input_ids")

    # output_router_logits=False: HF's loss is the cross-entropy alone
    out3 = model(input_ids=ids, attention_mask=mask, labels=labels, output_router_logits=False)
    assert_close(out3.loss, case.array("loss_lm_only")[0], f"{name} loss_lm_only", atol=0, rtol=1e-4)
    assert out3.encoder_router_logits is None and out3.encoder_z_loss is None
    assert "encoder_z_loss" not in out3.keys() and out3[0] == out3.loss


@pytest.mark.parametrize("name", CASES)
def test_generate(switchc, name):
    case = Case(name)
    model = model_for(switchc, case)
    ids, mask = case.array("input_ids"), case.array("attention_mask")
    greedy = model.generate(input_ids=ids, attention_mask=mask, max_new_tokens=20, num_beams=1,
                            do_sample=False)
    assert greedy.dtype == np.int64
    assert np.array_equal(greedy, case.array("generate_greedy")), f"{name} greedy\n{greedy}"
    if case.has("generate_beam4"):
        out = model.generate(ids, attention_mask=mask, max_new_tokens=20, num_beams=4,
                             return_dict_in_generate=True, output_scores=True)
        assert np.array_equal(out.sequences, case.array("generate_beam4")), f"{name} beam4"
        assert_close(out.sequences_scores, case.array("generate_beam4_scores"), f"{name} beam scores")


@pytest.mark.parametrize("name", CASES)
def test_encoder_model(switchc, name):
    case = Case(name)
    if not case.has("encoder_model.last_hidden_state"):
        pytest.skip("no encoder_model array")
    want = case.array("encoder_model.last_hidden_state")
    enc = switchc.SwitchTransformersEncoderModel.from_pretrained(case.dir, kernels="exact")
    ids, mask = case.array("input_ids"), case.array("attention_mask")
    out = enc(input_ids=ids, attention_mask=mask)
    assert_close(out.last_hidden_state, want, f"{name} encoder model")
    check_router_tuples(case, out.router_probs, "encoder", "", enc.config.num_layers)
    fast = enc(ids, attention_mask=mask, output_router_logits=False)
    assert fast.router_probs is None
    assert_close(fast.last_hidden_state, want, f"{name} encoder model (encode only)")
    # the full model's encoder view gives the same
    whole = model_for(switchc, case)
    assert_close(whole.get_encoder()(ids, attention_mask=mask).last_hidden_state, want, f"{name} model.encoder")


@pytest.mark.parametrize("name", [c for c in CASES if Case(c).has("zero_drop.logits")])
def test_zero_drop(switchc, name):
    case = Case(name)
    model = model_for(switchc, case, "zero")
    ids, mask, labels = case.array("input_ids"), case.array("attention_mask"), case.array("labels")
    out = model(input_ids=ids, attention_mask=mask, labels=labels)
    assert_close(out.logits, case.array("zero_drop.logits"), f"{name} zero-drop logits")
    assert_close(out.loss, case.array("zero_drop.loss")[0], f"{name} zero-drop loss", atol=0, rtol=1e-4)
    greedy = model.generate(ids, attention_mask=mask, max_new_tokens=20)
    assert np.array_equal(greedy, case.array("zero_drop.generate_greedy"))


@pytest.mark.parametrize("name", CASES)
def test_loss_functions(switchc, name):
    """router_z_loss_func / load_balancing_loss_func on the recorded router
    outputs of a stack (its sparse layers concatenated along the sequence,
    as HF's _unpack_router_logits does) give the recorded stack losses."""
    case = Case(name)
    for stack in ("encoder", "decoder"):
        layers = case.manifest[f"{stack}_sparse_layers"]
        if case.manifest.get(f"{stack}_sparse_step", 0) <= 1 or not layers:
            continue  # HF reports 0 for such a stack: nothing to compute
        logits = np.concatenate([case.array(f"{stack}.block.{i}.router_logits") for i in layers], axis=1)
        index = np.concatenate([case.array(f"{stack}.block.{i}.expert_index") for i in layers], axis=1)
        z = switchc.router_z_loss_func(logits)
        aux = switchc.load_balancing_loss_func(softmax(logits.astype(np.float64)), index)
        assert_close(z, case.array(f"{stack}_z_loss")[0], f"{name} {stack} z", atol=1e-6, rtol=1e-5)
        assert_close(aux, case.array(f"{stack}_aux_loss")[0], f"{name} {stack} aux", atol=1e-6, rtol=1e-5)


def test_loss_functions_by_hand(switchc):
    E = 4
    uniform = np.zeros((2, 3, E), np.float32)
    assert abs(switchc.router_z_loss_func(uniform) - np.log(E) ** 2) < 1e-6
    # perfectly balanced routing with uniform probabilities gives 1
    probs = np.full((1, 4, E), 1 / E)
    assert abs(switchc.load_balancing_loss_func(probs, np.array([[0, 1, 2, 3]])) - 1.0) < 1e-6
    # all tokens on expert 0 with all its probability: E
    one = np.zeros((1, 4, E))
    one[..., 0] = 1
    assert abs(switchc.load_balancing_loss_func(one, np.zeros((1, 4), np.int64)) - E) < 1e-6
    with pytest.raises(ValueError):
        switchc.load_balancing_loss_func(probs, np.array([[0, 1, 2, 4]]))
    with pytest.raises(TypeError):
        switchc.load_balancing_loss_func(probs, np.zeros((1, 4)))
    with pytest.raises(ValueError):
        switchc.router_z_loss_func(np.zeros((3, E)))
