"""Adversarial testing of real node processes, Jepsen / VOPR style (docs/adversarial.md).

    cluster.py    a 4-validator devnet whose peer links run through the fault proxy
    proxy.py      fault-injecting loopback TCP proxy: partition, one-way drop, delay, duplicate
    history.py    every client operation: invoked, then committed, refused or unknown
    workload.py   organisations walking bills of lading through their life, recorded
    attacks.py    invalid transactions and hostile HTTP clients
    byzantine.py  a separate process holding a validator's key that misbehaves on purpose
    checker.py    the end-of-scenario checks over the history and every node's data directory
    scenarios.py  one function per fault or attack; `torture.py` runs them for a duration
    broken.py     deliberately broken histories and ledgers: the checker must catch each

Everything is seeded (the seed is printed with the command that replays it), bounded in
count and time, on loopback only, and touches only processes it started, by pid.
"""
