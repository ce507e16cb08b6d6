#!/usr/bin/env python3
"""Where one thread's samples go, by part of the W1 hot path.

    perf script -i PERF_DATA | bench/perf_parts.py [THREAD]

PERF_DATA is a `perf record --call-graph dwarf` of the server (for
example `PERF=1 PERF_CALLGRAPH="--call-graph dwarf,32768" bench/step.sh
BIN w1 30000 12`); THREAD is a thread name (default: the runtime's,
`tokio-rt-worker`). Each sample goes to the part named by the innermost
frame on its stack that matches one of PARTS, so a part's share is what
it and what it calls cost, minus the parts nested inside it. The table in
docs/benchmarks.md's nineteenth pass came from this.
"""

import collections
import re
import sys

# (part, text a frame's symbol contains), matched innermost frame first.
PARTS = [
    ("sendto", "__libc_send"),
    ("recvfrom", "__libc_recv"),
    ("epoll_wait", "epoll_wait"),
    ("WebSocket read", "WebSocket as futures_core::stream::Stream>::poll_next"),
    ("frame parse", "DeserializeSeed>::deserialize"),
    ("event JSON", "OnceLock<T>::initialize"),
    ("frame encode", "session::encode"),
    ("sealing", "FieldVault>::seal"),
    ("append queue", "Appender::queue"),
    ("seal_append", "seal_append"),
    ("queue_message", "queue_message"),
    ("hub", "Fanout>::deliver_each"),
    ("send: finish", "QueuedSend"),
    ("Oriole::queue_send", "Oriole<S>>::queue_send"),
    ("answer", "send_answer"),
    ("commit: bound copies", "into_static"),
    ("commit: plan", "Plan::new"),
    ("commit task", "commit_loop"),
    ("flush", "Session<S>::flush"),
    ("send_all", "Session<S>::send_all"),
    ("feed", "feed_message"),
    ("on_answer", "on_answer"),
    ("pipeline", "pipeline::Pipeline"),
    ("live events", "on_live"),
    ("select loop", "Session<S>::serve"),
    ("scheduler", "tokio::runtime"),
]

OFFSET = re.compile(r"\+0x[0-9a-f]+( \(.*\))?$|( \(.*\))$")


def stacks(lines, thread):
    """Each sample of `thread` as its frames, innermost first."""
    frames, name = [], None
    for line in lines:
        line = line.rstrip("\n")
        if not line.strip():
            if name == thread and frames:
                yield frames
            frames, name = [], None
        elif not line[0].isspace():
            name = line.split()[0]
        else:
            parts = line.strip().split(None, 1)
            if len(parts) == 2:
                frames.append(OFFSET.sub("", parts[1]))
    if name == thread and frames:
        yield frames


def main():
    thread = sys.argv[1] if len(sys.argv) > 1 else "tokio-rt-worker"
    counts = collections.Counter()
    for frames in stacks(sys.stdin, thread):
        part = next(
            (p for frame in frames for p, text in PARTS if text in frame), "other"
        )
        counts[part] += 1
    total = sum(counts.values())
    if not total:
        sys.exit(f"no samples of thread {thread}")
    print(f"{total} samples of {thread}")
    for part, n in counts.most_common():
        print(f"{100 * n / total:5.1f}%  {part}")


if __name__ == "__main__":
    main()
