"""Claims made at the same moment from threads, for the queue's race tests (PostgreSQL row locks)."""

import threading

from django.db import connection

from annotation.services import assignment_claim_next


def claim_at_once(project, users) -> tuple[list, list]:
    """Every entry of `users` (an entry may repeat: that user claims once per entry) calls
    `assignment_claim_next` in its own thread, released together by a barrier. Returns
    `([(user, assignment or None), ...], [exceptions raised])`; each thread closes its connection."""
    barrier = threading.Barrier(len(users))
    results, errors = [], []

    def claim(user):
        try:
            barrier.wait()
            results.append((user, assignment_claim_next(project=project, user=user)))
        except Exception as exc:  # returned to the test
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=claim, args=(user,)) for user in users]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results, errors
