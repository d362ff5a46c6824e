from cataloop.adapters.refresh import RefreshClock


def test_due_at_first_then_every_max_age_and_on_demand() -> None:
    now = [100.0]
    clock = RefreshClock(300, lambda: now[0])
    assert clock.due() and not clock.due()
    now[0] += 299.9
    assert not clock.due()
    now[0] += 0.1
    assert clock.due() and not clock.due()
    clock.forget()
    assert clock.due()
    now[0] += 400
    clock.mark_read()
    assert not clock.due()
