"""Naming the failed worker from torchrun's failure summary (the local launcher's message)."""

from rlsd.launch.errors import LocalTrainingFailed, worker_failure

SUMMARY = """rlsd.train FAILED
-------------------------------------------------------
Failures:
[1]:
  time      : 2026-11-28_01:27:28
  rank      : 0 (local_rank: 0)
  exitcode  : -15 (pid: 31291)  (SIGTERM)
  traceback : Signal 15 (SIGTERM) received by PID 31291
-------------------------------------------------------
Root Cause (first observed failure):
[0]:
  time      : 2026-11-28_01:27:27
  rank      : 1 (local_rank: 1)
  exitcode  : -9 (pid: 31292)  (SIGKILL)
  traceback : Signal 9 (SIGKILL) received by PID 31292
""".splitlines()


def test_the_root_cause_rank_and_signal_are_named():
    assert worker_failure(SUMMARY) == \
        "rank 1 was killed by SIGKILL (out of memory, or stopped from outside)"
    error = LocalTrainingFailed(["torchrun", "-m", "rlsd.train"], 1, SUMMARY)
    assert str(error).splitlines()[0].startswith(
        "local training exited with code 1 (rank 1 was killed by SIGKILL")


def test_a_plain_exit_code_and_no_summary():
    lines = ["Root Cause (first observed failure):", "  rank      : 3 (local_rank: 1)",
             "  exitcode  : 2 (pid: 7)"]
    assert worker_failure(lines) == "rank 3 exited with code 2"
    assert worker_failure(["rlsd.train: error: bad input"]) is None
    assert "(" not in str(LocalTrainingFailed(["x"], 2, ["no summary"])).splitlines()[0]
