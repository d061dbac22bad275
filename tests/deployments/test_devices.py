"""Thread counts for a replica's CPU share."""

from __future__ import annotations

import pytest
import torch

from deployments.devices import set_torch_threads, threads_for


@pytest.mark.parametrize(
    ("share", "available", "expected"),
    [(0.05, 2, 1), (1.0, 2, 1), (1.01, 4, 2), (3.0, 2, 2), (0, 2, None), (None, 8, None)],
)
def test_threads_follow_the_cpu_share_rounded_up(share, available, expected) -> None:
    assert threads_for(share, available=available) == expected


def test_requested_threads_win_and_outside_ray_the_default_stays() -> None:
    before = torch.get_num_threads()
    try:
        assert set_torch_threads(1) == 1
        torch.set_num_threads(before)
        assert set_torch_threads(None) == before  # no Ray: the share is unknown
    finally:
        torch.set_num_threads(before)
