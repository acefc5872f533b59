#!/usr/bin/env python3
"""make-schedules.py — PyTorch's learning-rate schedules, for gradsync's schedule tests.

Writes test/fixtures/schedules.json (committed; CI does not need torch):
  cases: for each gradsync `schedule` config, with a base lr, steps per epoch and a step count,
         the lr of every optimizer step as a PyTorch loop sees it: param_groups[0]['lr'] read
         before optimizer.step(), scheduler.step() after each epoch (unit "epoch") or each
         step (unit "step"). A warm-up is SequentialLR([LinearLR(start_factor, total_iters=W),
         main], milestones=[W]); kind "constant" with a warm-up is LinearLR alone.
  cos:   arguments (the schedules' pi*t/T and others, near multiples of pi/2, up to 1e8) and
         their cosines correctly rounded to float64 (mpmath, 200 bits), for src/optim/cos.ts.
Floats are written with repr(), which round-trips float64 exactly.
Run: python3 scripts/make-schedules.py  (from the repository root; needs torch and mpmath)
"""
import json, math, os, random, warnings
import mpmath
import torch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# (name, gradsync schedule config, base lr, steps per epoch, steps)
CASES = [
    ('constant-warmup-step', {'kind': 'constant', 'unit': 'step', 'warmup': 10, 'warmupStartFactor': 0.25}, 0.1, 9, 40),
    ('constant-warmup-epoch', {'kind': 'constant', 'warmup': 3}, 0.05, 4, 24),
    ('step-epoch', {'kind': 'step', 'stepSize': 3, 'gamma': 0.5}, 0.1, 7, 140),
    ('step-warmup-step', {'kind': 'step', 'unit': 'step', 'stepSize': 10, 'gamma': 0.7, 'warmup': 4}, 0.3, 11, 100),
    ('multistep-step', {'kind': 'multistep', 'unit': 'step', 'milestones': [5, 12, 30], 'gamma': 0.3}, 0.1, 6, 60),
    ('multistep-warmup-epoch', {'kind': 'multistep', 'milestones': [4, 9], 'gamma': 0.1, 'warmup': 3, 'warmupStartFactor': 0.1}, 0.2, 5, 75),
    ('exponential-step', {'kind': 'exponential', 'unit': 'step', 'gamma': 0.95}, 0.1, 8, 200),
    ('exponential-warmup-epoch', {'kind': 'exponential', 'gamma': 0.9, 'warmup': 5}, 0.001, 3, 60),
    ('cosine-step', {'kind': 'cosine', 'unit': 'step', 'tMax': 50, 'etaMin': 0.001}, 0.1, 12, 130),
    ('cosine-epoch', {'kind': 'cosine', 'tMax': 7}, 0.05, 4, 120),
    ('cosine-warmup-step', {'kind': 'cosine', 'unit': 'step', 'tMax': 20, 'etaMin': 0.0001, 'warmup': 5}, 0.3, 10, 80),
    ('cosine-warmup-epoch', {'kind': 'cosine', 'tMax': 9, 'etaMin': 0.002, 'warmup': 2, 'warmupStartFactor': 0.5}, 0.1, 6, 150),
]


def main_scheduler(opt, s):
    kind = s['kind']
    if kind == 'step':
        return torch.optim.lr_scheduler.StepLR(opt, step_size=s['stepSize'], gamma=s.get('gamma', 0.1))
    if kind == 'multistep':
        return torch.optim.lr_scheduler.MultiStepLR(opt, milestones=s['milestones'], gamma=s.get('gamma', 0.1))
    if kind == 'exponential':
        return torch.optim.lr_scheduler.ExponentialLR(opt, gamma=s['gamma'])
    if kind == 'cosine':
        return torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=s['tMax'], eta_min=s.get('etaMin', 0))
    raise ValueError(kind)


def torch_lrs(s, base, per_epoch, steps):
    p = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([p], lr=base)
    warmup = s.get('warmup', 0)
    start = s.get('warmupStartFactor', 1.0 / 3)
    if s['kind'] == 'constant':
        sched = torch.optim.lr_scheduler.LinearLR(opt, start_factor=start, total_iters=warmup) if warmup > 0 else None
    elif warmup > 0:
        first = torch.optim.lr_scheduler.LinearLR(opt, start_factor=start, total_iters=warmup)
        sched = torch.optim.lr_scheduler.SequentialLR(opt, [first, main_scheduler(opt, s)], milestones=[warmup])
    else:
        sched = main_scheduler(opt, s)
    per_step = s.get('unit', 'epoch') == 'step'
    lrs = []
    for step in range(1, steps + 1):
        lrs.append(opt.param_groups[0]['lr'])
        opt.step()
        if sched is not None and (per_step or step % per_epoch == 0):
            sched.step()
    return lrs


def cos_cases():
    mpmath.mp.prec = 200
    rng = random.Random(5)
    args = []
    for T in list(range(1, 31)) + [97]:
        args += [math.pi * t / T for t in range(0, 2 * T + 2)] + [math.pi / T]
    args += [rng.uniform(0, 10) for _ in range(500)] + [rng.uniform(0, 1e8) for _ in range(500)]
    args += [rng.uniform(0, 1e-3) for _ in range(100)]
    for k in range(1, 150):
        x = float(mpmath.mpf(k) * mpmath.pi / 2)
        args += [x, math.nextafter(x, 0), math.nextafter(x, math.inf)]
    return {'args': args, 'cos': [float(mpmath.cos(mpmath.mpf(a))) for a in args]}


def main():
    warnings.simplefilter('ignore', UserWarning)  # SequentialLR's step(0) is deprecated usage
    cases = [
        {'name': n, 'schedule': s, 'lr': base, 'perEpoch': pe, 'steps': steps, 'lrs': torch_lrs(s, base, pe, steps)}
        for n, s, base, pe, steps in CASES
    ]
    cos = cos_cases()
    libm = sum(math.cos(a) != c for a, c in zip(cos['args'], cos['cos']))
    out = {'generator': 'scripts/make-schedules.py', 'torch': torch.__version__, 'mpmath': mpmath.__version__, 'cases': cases, 'cos': cos}
    path = os.path.join(ROOT, 'test', 'fixtures', 'schedules.json')
    with open(path, 'w') as f:
        json.dump(out, f)
    print('wrote', os.path.relpath(path, ROOT), f'({len(cases)} schedules, {len(cos["args"])} cosines;',
          f'this libm rounds {libm} of them otherwise than correctly)')


if __name__ == '__main__':
    main()
