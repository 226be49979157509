"""The tokenizer against HF's slow T5Tokenizer (tests/fixtures/tokenizer):
every case of t5_tokenizer_cases.jsonl (ids, pieces, the three decodings)
and t5_decode_cases.jsonl (tokens, decodings); then batching, padding,
truncation, numpy output, text_target, and the errors HF raises."""

import json
import os

import numpy as np
import pytest

from conftest import FIXTURES, Case

TOKDIR = os.path.join(FIXTURES, "tokenizer")


def read_jsonl(name):
    with open(os.path.join(TOKDIR, name), encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


ENCODE = read_jsonl("t5_tokenizer_cases.jsonl")
DECODE = read_jsonl("t5_decode_cases.jsonl")


@pytest.fixture(scope="module")
def tok(switchc):
    return switchc.T5Tokenizer.from_pretrained(TOKDIR)


def test_sizes(tok):
    assert len(ENCODE) >= 300 and len(DECODE) >= 10
    assert len(tok) == 32100 and tok.vocab_size == 32100
    assert (tok.pad_token_id, tok.eos_token_id, tok.unk_token_id) == (0, 1, 2)
    assert (tok.pad_token, tok.eos_token, tok.unk_token) == ("<pad>", "</s>", "<unk>")
    assert len(tok.additional_special_tokens) == 100
    assert tok.convert_tokens_to_ids("<extra_id_0>") == 32099
    assert tok.convert_tokens_to_ids(["<extra_id_99>", "</s>", "no such piece"]) == [32000, 1, 2]
    assert tok.convert_ids_to_tokens(32099) == "<extra_id_0>"


def test_encode_cases(tok):
    bad = []
    for c in ENCODE:
        got = tok(c["text"]).input_ids
        if got != c["ids"]:
            bad.append(("ids", c["text"], got, c["ids"]))
        if tok.tokenize(c["text"]) != c["pieces"]:
            bad.append(("pieces", c["text"], tok.tokenize(c["text"]), c["pieces"]))
        if tok.decode(c["ids"]) != c["decoded"]:
            bad.append(("decoded", c["text"], tok.decode(c["ids"]), c["decoded"]))
        if tok.decode(c["ids"], skip_special_tokens=True) != c["decoded_skip"]:
            bad.append(("decoded_skip", c["text"]))
        if tok.decode(c["ids"], clean_up_tokenization_spaces=False) != c["decoded_no_cleanup"]:
            bad.append(("decoded_no_cleanup", c["text"]))
    assert not bad, f"{len(bad)} mismatches, first: {bad[:3]}"


def test_decode_cases(tok):
    for c in DECODE:
        assert tok.convert_ids_to_tokens(c["ids"]) == c["tokens"], c["name"]
        assert tok.decode(c["ids"]) == c["decoded"], c["name"]
        assert tok.decode(np.array(c["ids"])) == c["decoded"], c["name"]
        assert tok.decode(c["ids"], skip_special_tokens=True) == c["decoded_skip"], c["name"]
        assert tok.decode(c["ids"], clean_up_tokenization_spaces=False) == c["decoded_no_cleanup"], c["name"]
    rows = [c["ids"] for c in DECODE[:3]]
    assert tok.batch_decode(rows, skip_special_tokens=True) == [c["decoded_skip"] for c in DECODE[:3]]


def test_batch_matches_fixture_inputs(tok):
    """The real-vocabulary case's inputs are T5Tokenizer(texts, padding=True)."""
    case = Case("t5vocab_e4_step2")
    texts = case.manifest.get("text_inputs")
    assert texts, "t5vocab_e4_step2 lists its texts"
    enc = tok(texts, padding=True, return_tensors="np")
    assert enc.input_ids.dtype == np.int64
    assert np.array_equal(enc["input_ids"], case.array("input_ids"))
    assert np.array_equal(enc.attention_mask, case.array("attention_mask"))
    lab = case.manifest.get("text_labels")
    if lab:
        enc = tok(texts, text_target=lab, padding=True, return_tensors="np")
        want = case.array("labels")
        got = np.where(enc["labels"] == tok.pad_token_id, -100, enc["labels"])
        assert np.array_equal(got, want)


def test_padding_and_truncation(tok):
    texts = ["A <extra_id_0> walks into a bar.", "hi"]
    lists = tok(texts)
    assert isinstance(lists.input_ids[0], list) and len(lists.input_ids[0]) != len(lists.input_ids[1])
    assert lists.attention_mask[1] == [1] * len(lists.input_ids[1])
    with pytest.raises(ValueError):
        tok(texts, return_tensors="np")  # unequal rows cannot make one array, as in HF
    padded = tok(texts, padding=True, return_tensors="np")
    assert padded.input_ids.shape == (2, len(lists.input_ids[0]))
    assert padded.input_ids[1].tolist()[:2] == lists.input_ids[1] and padded.input_ids[1, -1] == 0
    assert padded.attention_mask[1].tolist() == [1, 1] + [0] * (padded.input_ids.shape[1] - 2)
    m = tok(texts, padding="max_length", max_length=12, return_tensors="np")
    assert m.input_ids.shape == (2, 12)
    t = tok(texts, truncation=True, max_length=4)
    assert t.input_ids[0] == lists.input_ids[0][:3] + [1]  # eos kept last, as HF
    assert t.input_ids[1] == lists.input_ids[1]
    assert tok(texts, max_length=4).input_ids == t.input_ids  # max_length alone truncates
    single = tok("hi", return_tensors="np")
    assert single.input_ids.shape == (1, 2)
    assert tok("hi", add_special_tokens=False).input_ids == lists.input_ids[1][:-1]
    assert tok.encode("hi") == lists.input_ids[1]
    tok_left = type(tok).from_pretrained(TOKDIR)
    tok_left.padding_side = "left"
    left = tok_left(texts, padding=True, return_tensors="np")
    assert left.input_ids[1, -2:].tolist() == lists.input_ids[1] and left.attention_mask[1, 0] == 0
    assert tok([]).input_ids == []


def test_errors(tok):
    with pytest.raises(IndexError):
        tok.decode([5, 32100])  # HF's slow tokenizer: "piece id is out of range."
    assert tok.decode([5, 32100, 32127], skip_unknown=True) == tok.decode([5])
    with pytest.raises(IndexError):
        tok.decode([-1])
    with pytest.raises(TypeError):
        tok(5)
    with pytest.raises(TypeError):
        tok(["a", 5])
    with pytest.raises(TypeError):
        tok.decode("abc")
    with pytest.raises(TypeError):
        tok.decode([1.5])
    with pytest.raises(ValueError):
        tok("a", padding="sideways")
    with pytest.raises(ValueError):
        tok("a", return_tensors="pt")
    with pytest.raises(ValueError):
        tok("a", max_length=0)
    with pytest.raises(TypeError):
        tok("a", no_such_option=True)
    with pytest.raises(ValueError):
        tok()
    enc = tok("a")
    assert enc.to("cpu") is enc
    with pytest.raises(ValueError):
        enc.to("cuda:0")
