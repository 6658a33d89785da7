#!/usr/bin/python3
"""Child process of the bench: times one job on PyTorch CPU with the same shapes as our engine.

Usage: OMP_WAIT_POLICY=PASSIVE /usr/bin/python3 bench/torch_bench.py '<BenchJob JSON>'
Prints a JobResult JSON object as its last line (or {"unavailable": reason} without torch).
The models mirror src/models/architectures.ts: bias-free layers before batch norm, 'same'
padding, 1x1 projection shortcuts in ResNet-20, SGD at lr 0.01, random data.
"""
import json
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


def timed(warmup, steps, run):
    for _ in range(warmup):
        run()
    samples = []
    for _ in range(steps):
        start = time.perf_counter()
        run()
        samples.append((time.perf_counter() - start) * 1000)
    return statistics.median(samples)


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
    train_ms = timed(job["warmup"], job["steps"], train_step)
    infer_ms = None
    if job["inferSteps"] > 0:
        model.eval()
        with torch.no_grad():
            infer_ms = timed(1, job["inferSteps"], lambda: model(x).numpy())
    print(json.dumps({
        "trainMs": train_ms,
        "inferMs": infer_ms,
        "peakRssMB": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "info": {"torch": torch.__version__, "threads": torch.get_num_threads()},
    }))


main()
