def test_enqueue_runs_on_a_real_worker(tapp, module_worker):
    h = tapp.actions.enqueue(tapp.add, {"a": 2, "b": 3})
    assert h.result(timeout=20) == 5
    assert h.status() == "complete"
