"""The ctypes mirrors of switchc.h's structs agree with the layout the
loaded library reports (sc_abi_sizeof / sc_abi_offsetof / sc_abi_field),
and the check notices a mirror that does not: a field left out, two fields
swapped, a wrong field type, a scalar of the wrong size, a struct the
library does not know."""

import ctypes

import pytest


def test_mirrors_match_the_library(switchc):
    from switchc import _lib
    assert _lib.abi_problems() == []
    assert set(_lib.STRUCTS) >= {"sc_error", "sc_model_params", "sc_generate_params", "sc_forward_params",
                                 "sc_forward_losses", "sc_router_output", "sc_batch_params", "sc_token_batch"}
    # every struct the library describes is mirrored: ask for each mirror's
    # C size, and for a few names the header has
    for name in _lib.STRUCTS:
        assert _lib.lib.sc_abi_sizeof(name.encode()) == ctypes.sizeof(_lib.STRUCTS[name])


def test_wrong_mirrors_are_caught(switchc):
    from switchc import _lib

    class sc_error(ctypes.Structure):  # msg left out
        _fields_ = [("code", ctypes.c_int), ("offset", ctypes.c_size_t)]

    class sc_forward_losses(ctypes.Structure):  # two fields swapped: same size, other names
        _fields_ = [("ce", ctypes.c_double), ("loss", ctypes.c_double)] + _lib.sc_forward_losses._fields_[2:]

    class sc_token_piece(ctypes.Structure):  # a field too wide
        _fields_ = [("id", ctypes.c_int64), ("offset", ctypes.c_uint32), ("len", ctypes.c_uint32)]

    class sc_not_in_the_header(ctypes.Structure):
        _fields_ = [("x", ctypes.c_int)]

    structs = {"sc_error": sc_error, "sc_forward_losses": sc_forward_losses, "sc_token_piece": sc_token_piece,
               "sc_not_in_the_header": sc_not_in_the_header}
    problems = _lib.abi_problems(structs, {"bool": ctypes.c_int, "size_t": ctypes.c_size_t})
    text = "\n".join(problems)
    assert "sc_error: 528 bytes in the library" in text or "sc_error:" in text
    assert any(p.startswith("sc_error: fields") for p in problems), text
    assert any(p.startswith("sc_forward_losses: fields") for p in problems), text
    assert any(p.startswith("sc_token_piece.offset: offset") for p in problems), text
    assert "sc_not_in_the_header: unknown to the library" in problems
    assert any(p.startswith("bool:") for p in problems), text
    assert not any(p.startswith("size_t") for p in problems), text


def test_import_refuses_a_mismatch(switchc, monkeypatch):
    from switchc import _lib

    class sc_error(ctypes.Structure):
        _fields_ = [("code", ctypes.c_int)]

    monkeypatch.setitem(_lib.STRUCTS, "sc_error", sc_error)
    with pytest.raises(ImportError) as e:
        _lib.check_abi()
    assert "sc_error" in str(e.value) and _lib.LIBRARY_PATH in str(e.value)
