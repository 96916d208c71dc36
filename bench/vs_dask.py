"""The peer side of bench/vs_dask.ts: the same workloads on Dask.

Runs one workload on a Dask LocalCluster (worker processes under nannies,
one thread each) and prints one JSON line with what it measured. The Deno
bench runs this script under /usr/bin/time and a time limit, beside
Spillway, in the same run.

    /usr/bin/python3 bench/vs_dask.py pairs --chunks 32 --chunk-bytes 67108864 \
        --workers 2 --memory-limit 1GiB --spill-dir /tmp
    /usr/bin/python3 bench/vs_dask.py overhead --tasks 10000 --chain 1000

Needs Debian's python3-distributed and python3-numpy.
"""

import argparse
import json
import os
import shutil
import sys
import tempfile
import time


def chunk(i, length):
    """Chunk i: element k is (i + 1) * ((k % 97) / 97), as in allpairs_ops.ts."""
    import numpy as np

    return (i + 1) * ((np.arange(length) % 97) / 97.0)


def dot(a, b):
    import numpy as np

    return float(np.dot(a, b))


def total(*values):
    return float(sum(values))


def noop(i):
    return i


def inc(x):
    return x + 1


def expected_total(chunks, length):
    g2 = sum(((k % 97) / 97.0) ** 2 for k in range(97)) * (length // 97)
    g2 += sum(((k % 97) / 97.0) ** 2 for k in range(length - length % 97, length))
    pairs = sum((i + 1) * (j + 1) for i in range(chunks) for j in range(i, chunks))
    return pairs * g2


def cluster(args, spill_dir):
    from distributed import Client, LocalCluster

    c = LocalCluster(
        n_workers=args.workers,
        threads_per_worker=1,
        processes=True,
        memory_limit=args.memory_limit,
        local_directory=spill_dir,
        dashboard_address=None,
        host="127.0.0.1",
        silence_logs=50,
    )
    return c, Client(c)


def pairs(args):
    n = args.chunks
    length = args.chunk_bytes // 8
    spill_dir = tempfile.mkdtemp(prefix="spillway-vs-dask-", dir=args.spill_dir)
    try:
        c, client = cluster(args, spill_dir)
        with c, client:
            started = time.perf_counter()
            chunks = [client.submit(chunk, i, length, key=f"chunk-{i}") for i in range(n)]
            rows = []
            for i in range(n):
                row = [
                    client.submit(dot, chunks[i], chunks[j], key=f"dot-{i}-{j}")
                    for j in range(i, n)
                ]
                rows.append(client.submit(total, *row, key=f"row-{i}"))
                del row
            result = client.submit(total, *rows, key="total")
            del chunks, rows
            value = result.result()
            wall = time.perf_counter() - started
            expected = expected_total(n, length)
            return {
                "wall": wall,
                "total": value,
                "expected": expected,
                "correct": abs(value - expected) <= 1e-9 * abs(expected),
            }
    finally:
        shutil.rmtree(spill_dir, ignore_errors=True)


def overhead(args):
    spill_dir = tempfile.mkdtemp(prefix="spillway-vs-dask-", dir=args.spill_dir)
    try:
        c, client = cluster(args, spill_dir)
        with c, client:
            client.submit(noop, -1).result()  # warm up: workers connected
            started = time.perf_counter()
            futures = client.map(noop, range(args.tasks))
            client.gather(futures)
            independent = time.perf_counter() - started
            del futures
            started = time.perf_counter()
            x = client.submit(inc, 0, key="chain-0")
            for i in range(1, args.chain):
                x = client.submit(inc, x, key=f"chain-{i}")
            value = x.result()
            chain = time.perf_counter() - started
            return {
                "independentSeconds": independent,
                "independentPerSecond": args.tasks / independent,
                "chainSeconds": chain,
                "chainPerSecond": args.chain / chain,
                "correct": value == args.chain,
            }
    finally:
        shutil.rmtree(spill_dir, ignore_errors=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("workload", choices=["pairs", "overhead"])
    parser.add_argument("--chunks", type=int, default=32)
    parser.add_argument("--chunk-bytes", type=int, default=64 * 2**20)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--memory-limit", default="1GiB")
    parser.add_argument("--spill-dir", default="/tmp")
    parser.add_argument("--tasks", type=int, default=10000)
    parser.add_argument("--chain", type=int, default=1000)
    args = parser.parse_args()
    os.makedirs(args.spill_dir, exist_ok=True)
    result = pairs(args) if args.workload == "pairs" else overhead(args)
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    # Dask's worker processes start with "spawn" and import this module.
    sys.exit(main())
