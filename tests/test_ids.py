"""ids.py: request ids look like Stripe's, never repeat, and sort by the time they were made."""

from __future__ import annotations

import os
import re
import time

from filelinks_api import ids

STRIPE_REQUEST_ID = re.compile(r"^req_[A-Za-z0-9]{14}$")


def test_request_ids_have_stripes_shape_and_do_not_repeat() -> None:
    made = [ids.request_id() for _ in range(100_000)]
    assert all(STRIPE_REQUEST_ID.match(rid) for rid in made)
    assert len(set(made)) == len(made)


def test_request_ids_sort_by_the_millisecond_they_were_made_in() -> None:
    """What keeps the request log's unique index appending, not scattering (ids.py)."""
    made = [ids.request_id()]
    deadline = time.monotonic() + 5
    while len({rid[:11] for rid in made}) < 20:  # ids over 20 milliseconds, or more
        assert time.monotonic() < deadline
        made.append(ids.request_id())
    prefixes = [rid[:11] for rid in made]
    assert prefixes == sorted(prefixes)  # made later, sorted later
    # the part after the millisecond still differs between ids made in the same one
    together = [ids.request_id() for _ in range(50)]
    assert len({rid[11:] for rid in together}) == len(together)


def test_request_ids_of_one_millisecond_differ_and_two_processes_draw_their_own() -> None:
    """The last two characters count a process's ids; a forked process draws its own five
    random ones (ids.py), so neither one process nor two collide within a millisecond."""
    burst = [ids.request_id() for _ in range(3000)]  # a few milliseconds' worth at most
    assert len(set(burst)) == len(burst)
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: its first id, then gone
        os.write(write, ids.request_id().encode())
        os._exit(0)
    os.waitpid(pid, 0)
    child = os.read(read, 64).decode()
    os.close(read)
    os.close(write)
    assert STRIPE_REQUEST_ID.match(child)
    assert child[11:16] != ids.request_id()[11:16]
