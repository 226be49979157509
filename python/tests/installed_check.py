"""Run by the install test (tests/install.cmake), not by pytest: imports the
package installed under a prefix (PYTHONPATH names its dist-packages, no
SWITCHC_LIBRARY), checks that it found the library installed beside it, and
prints the greedy answer to a prompt as examples/generate.c prints it (the
tokens between the start token and </s>, padding left out), for the test to
compare with the CLI's.

    usage: installed_check.py PACKAGE_PARENT_DIR LIBDIR MODEL_DIR PROMPT
"""

import os
import sys


def main():
    pkg_parent, libdir, model_dir, prompt = sys.argv[1:5]
    import switchc
    here = os.path.realpath(os.path.dirname(switchc.__file__))
    if here != os.path.realpath(os.path.join(pkg_parent, "switchc")):
        sys.exit(f"imported switchc from {here}, not from {pkg_parent}")
    if os.path.realpath(os.path.dirname(switchc.LIBRARY_PATH)) != os.path.realpath(libdir):
        sys.exit(f"switchc loaded {switchc.LIBRARY_PATH}, not the library installed in {libdir}")
    tok = switchc.T5Tokenizer.from_pretrained(model_dir)
    model = switchc.SwitchTransformersForConditionalGeneration.from_pretrained(model_dir)
    out = model.generate(**tok(prompt, return_tensors="np"), max_new_tokens=8, num_beams=1, do_sample=False)
    kept = []
    for t in out[0].tolist():
        if t == tok.eos_token_id:
            break
        if t != tok.pad_token_id:
            kept.append(t)
    print(tok.decode(kept, skip_unknown=True))


if __name__ == "__main__":
    main()
