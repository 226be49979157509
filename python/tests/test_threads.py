"""One model used from several Python threads at once: 4 threads generating
(greedy, beam search and sampling, each thread its own prompts) give what
one thread gives for the same calls, and forward passes run alongside. The
C calls release the GIL, so the threads really overlap; each call takes a
session of its own from the model."""

import threading

import numpy as np

from conftest import Case

CASE = "e8_step2_untied_heads_ne_dmodel"


def test_four_threads_generate_like_one(switchc):
    case = Case(CASE)
    model = switchc.SwitchTransformersForConditionalGeneration.from_pretrained(case.dir, kernels="exact",
                                                                               threads=2)
    ids, mask = case.array("input_ids"), case.array("attention_mask")
    jobs = [
        dict(input_ids=ids, attention_mask=mask, max_new_tokens=20),
        dict(input_ids=ids[1:], attention_mask=mask[1:], max_new_tokens=12, num_beams=4),
        dict(input_ids=ids, attention_mask=mask, max_new_tokens=15, do_sample=True, top_k=20, seed=7),
        dict(input_ids=ids[:1], attention_mask=mask[:1], max_new_tokens=20, num_beams=3,
             num_return_sequences=2),
    ]
    want = [model.generate(**j) for j in jobs]
    labels = case.array("labels")
    want_logits = model(input_ids=ids, attention_mask=mask, labels=labels).logits

    rounds = 5
    got = [[None] * rounds for _ in jobs]
    got_logits = [None] * rounds
    failures = []
    start = threading.Barrier(len(jobs) + 1)

    def run(k):
        try:
            start.wait()
            for r in range(rounds):
                got[k][r] = model.generate(**jobs[k])
        except Exception as e:  # reported below: an exception in a thread does not fail the test alone
            failures.append(repr(e))

    def forward():
        try:
            start.wait()
            for r in range(rounds):
                got_logits[r] = model(input_ids=ids, attention_mask=mask, labels=labels).logits
        except Exception as e:
            failures.append(repr(e))

    threads = [threading.Thread(target=run, args=(k,)) for k in range(len(jobs))]
    threads.append(threading.Thread(target=forward))
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not failures, failures
    for k in range(len(jobs)):
        for r in range(rounds):
            assert np.array_equal(got[k][r], want[k]), f"job {k} round {r}"
    for r in range(rounds):
        assert np.array_equal(got_logits[r], want_logits), f"forward round {r}"
    # the model kept a session per concurrent call, no more
    assert 1 <= len(model._rt.idle) <= len(threads)
    assert np.array_equal(want[0], case.array("generate_greedy"))
