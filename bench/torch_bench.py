#!/usr/bin/python3
"""Child process of the bench: times one job on PyTorch CPU with the same shapes as our engine.

Usage: OMP_WAIT_POLICY=PASSIVE /usr/bin/python3 bench/torch_bench.py '<BenchJob JSON>'
Prints a JobResult JSON object as its last line (or {"unavailable": reason} without torch).
The models mirror src/models/architectures.ts: bias-free layers before batch norm, 'same'
padding, 1x1 projection shortcuts in ResNet-20, SGD at lr 0.01, random data.
"""
import json
import os
import re
import resource
import statistics
import sys
import time

try:
    import torch
    from torch import nn
except Exception as err:  # torch missing or broken: the driver reports it and goes on
    print(json.dumps({"unavailable": f"{type(err).__name__}: {err}"}))
    sys.exit(0)


def mlp(hidden):
    layers, width = [nn.Flatten()], 28 * 28
    for units in hidden:
        layers += [nn.Linear(width, units, bias=False), nn.BatchNorm1d(units), nn.ReLU()]
        width = units
    return nn.Sequential(*layers, nn.Linear(width, 10))


def lenet5():
    return nn.Sequential(
        nn.Conv2d(1, 32, 5, padding=2, bias=False), nn.BatchNorm2d(32), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 5, padding=2, bias=False), nn.BatchNorm2d(64), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(7 * 7 * 64, 512, bias=False), nn.BatchNorm1d(512), nn.ReLU(),
        nn.Linear(512, 10),
    )


class Block(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.down = None
        if stride != 1 or cin != cout:
            self.down = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        y = torch.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        return torch.relu(y + (self.down(x) if self.down is not None else x))


class ResNet20(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 16, 3, 1, 1, bias=False), nn.BatchNorm2d(16), nn.ReLU())
        blocks, cin = [], 16
        for stage, cout in enumerate([16, 32, 64]):
            for b in range(3):
                blocks.append(Block(cin, cout, 2 if stage > 0 and b == 0 else 1))
                cin = cout
        self.blocks = nn.Sequential(*blocks)
        self.fc = nn.Linear(64, 10)

    def forward(self, x):
        h = self.blocks(self.stem(x))
        return self.fc(h.mean(dim=(2, 3)))


def build(name):
    if name == "mlp":
        return mlp([1024, 1024]), (1, 28, 28)
    if name == "lenet5":
        return lenet5(), (1, 28, 28)
    if name == "resnet20":
        return ResNet20(), (3, 32, 32)
    raise SystemExit(f"unknown model '{name}'")


def window(run, min_steps, min_seconds):
    samples, start = [], time.perf_counter()
    while len(samples) < min_steps or time.perf_counter() - start < min_seconds:
        t = time.perf_counter()
        run()
        samples.append((time.perf_counter() - t) * 1000)
    return samples


def time_steady(plan, run):
    """bench/steady.ts's rule: warm up in windows until two consecutive medians agree within
    the tolerance (after at least warmupSeconds), then time steps for at least timedSeconds."""
    start, warmup_steps, previous, steady = time.perf_counter(), 0, None, False
    while True:
        samples = window(run, plan["windowSteps"], plan["windowSeconds"])
        warmup_steps += len(samples)
        current = statistics.median(samples)
        elapsed = time.perf_counter() - start
        if previous is not None and abs(current - previous) <= plan["tolerance"] * previous and elapsed >= plan["warmupSeconds"]:
            steady = True
            break
        if elapsed >= plan["maxWarmupSeconds"]:
            break
        previous = current
    warmup_seconds = time.perf_counter() - start
    timed_start = time.perf_counter()
    timed = window(run, plan["minTimedSteps"], plan["timedSeconds"])
    return statistics.median(timed), {
        "timedSteps": len(timed),
        "timedSeconds": time.perf_counter() - timed_start,
        "warmupSteps": warmup_steps,
        "warmupSeconds": warmup_seconds,
        "steady": steady,
    }


def configuration():
    """What torch.__config__ says about the libraries doing the work."""
    shown = torch.__config__.show()
    def find(pattern):
        m = re.search(pattern, shown)
        return m.group(1).strip() if m else None
    blas = find(r"BLAS_INFO=([^,]+)")
    # 'generic' means the system libblas, which Debian's alternatives point at a real library.
    libblas = "/usr/lib/x86_64-linux-gnu/libblas.so.3"
    if blas == "generic" and os.path.exists(libblas):
        blas = f"generic ({libblas} -> {os.path.realpath(libblas)})"
    return {
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "blas": blas,
        "onednn": find(r"(Intel\(R\) MKL-DNN v[^ \n]+|oneDNN v[^ \n]+)"),
        "cpuCapability": find(r"CPU capability usage: (\S+)"),
        "parallel": (re.findall(r"ATen parallel backend: (\S+)", torch.__config__.parallel_info()) or [None])[0],
    }


def main():
    job = json.loads(sys.argv[1])
    torch.set_num_threads(job["threads"])
    torch.manual_seed(0)
    model, shape = build(job["model"])
    x = torch.randn(job["batch"], *shape)
    y = torch.randint(0, 10, (job["batch"],))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    loss_fn = nn.CrossEntropyLoss()

    def train_step():
        optimizer.zero_grad()
        logits = model(x)
        loss = loss_fn(logits, y)
        loss.backward()
        optimizer.step()
        # what our step reads back each iteration: the loss and the number of correct rows
        loss.item()
        (logits.argmax(1) == y).sum().item()

    model.train()
    train_ms, train_timing = time_steady(job["timing"], train_step)
    infer_ms, infer_timing = None, None
    if job["infer"]:
        model.eval()
        with torch.no_grad():
            infer_ms, infer_timing = time_steady(job["timing"], lambda: model(x).numpy())
    usage = resource.getrusage(resource.RUSAGE_SELF)
    print(json.dumps({
        "trainMs": train_ms,
        "inferMs": infer_ms,
        "peakRssMB": usage.ru_maxrss / 1024,
        "cpuSeconds": usage.ru_utime + usage.ru_stime,
        "trainTiming": train_timing,
        "inferTiming": infer_timing,
        "info": configuration(),
    }))


main()
