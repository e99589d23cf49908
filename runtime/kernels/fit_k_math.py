#!/usr/bin/python3
"""Reproduce the polynomial coefficients of k_math.h (needs numpy; Debian's python3-numpy).

Near-minimax fits by Lawson's iteratively reweighted least squares in double precision, with
weights that make the error relative to the function; the coefficients are then rounded to float
and the fit is re-evaluated in float32 Horner arithmetic (numpy float32 ops are IEEE single, no
FMA), which is the "f32 ulp" printed. Run: /usr/bin/python3 runtime/kernels/fit_k_math.py
"""
import math

import numpy as np


def lawson(xs, f, degree, weight, iters=200):
    """Coefficients c[0..degree] of sum c_k xs^k minimising max |weight (p - f)|."""
    a = np.stack([xs**k for k in range(degree + 1)], 1)
    lw = np.ones_like(xs)
    for _ in range(iters):
        sw = np.sqrt(lw) * weight
        c, *_ = np.linalg.lstsq(a * sw[:, None], f * sw, rcond=None)
        e = np.abs((a @ c - f) * weight)
        lw = lw * (e + 1e-300)
        lw /= lw.sum()
    return c


def horner32(c, t):
    c32 = np.float32(c)
    p = np.full(t.shape, c32[-1], dtype=np.float32)
    for k in range(len(c32) - 2, -1, -1):
        p = p * t + c32[k]
    return p


def show(name, c, err_ulp):
    print(f"{name}: f32 max error {err_ulp:.2f} ulp; Horner from the top:")
    print("   ", ", ".join(f"{float(v):.9g}f" for v in np.float32(c)[::-1]))


erfc = np.vectorize(math.erfc)


def cdf(x):
    return 0.5 * erfc(-x / math.sqrt(2))


def mills_g(a):
    """g(a) = a * Mills ratio = a Phi(-a) sqrt(2 pi) exp(a^2/2); continued fraction for large a"""
    if a < 20:
        return 0.5 * math.erfc(a / math.sqrt(2)) * a * math.sqrt(2 * math.pi) / math.exp(-a * a / 2)
    t = a
    for k in range(400, 0, -1):
        t = a + k / t
    return a / t


ULP = 2.0**-24

# exp: e^r = 1 + r + r^2 P(r), |r| <= ln(2)/2
r = np.linspace(-0.3466, 0.3466, 40001)
r = r[r != 0]
g = (np.exp(r) - 1 - r) / r**2
c = lawson(r, g, 5, r**2 / np.exp(r))
r32 = np.float32(r)
y = np.float32(1) + (r32 + r32 * r32 * horner32(c, r32))
show("exp P", c, np.max(np.abs(y - np.exp(r32.astype(float))) / np.exp(r32.astype(float))) / ULP)

# tanh: x + x^3 P(x^2), |x| < 0.625
x = np.linspace(1e-5, 0.625, 40001)
c = lawson(x**2, (np.tanh(x) - x) / x**3, 4, x**3 / np.tanh(x))
x32 = np.float32(x)
y = x32 + x32 * ((x32 * x32) * horner32(c, x32 * x32))
show("tanh P", c, np.max(np.abs(y - np.tanh(x32.astype(float))) / np.tanh(x32.astype(float))) / ULP)

# normal CDF near 0: Phi(x) = 1/2 + x S(x^2), |x| <= 0.8 (error relative to Phi(-|x|))
x = np.linspace(1e-7, 0.8, 40001)
c = lawson(x**2, (cdf(x) - 0.5) / x, 5, x / cdf(-x))
x32 = np.float32(x)
y = np.float32(0.5) - x32 * horner32(c, x32 * x32)
ref = cdf(-x32.astype(float))
show("cdf S", c, np.max(np.abs(y - ref) / ref) / ULP)

# Mills pieces: g(u) on u = 1/a in [0, 0.4] (centre 0.2) and [0.4, 1.25] (centre 0.825)
for lo, hi, ctr in ((0.0, 0.4, 0.2), (0.4, 1.25, 0.825)):
    u = np.linspace(lo, hi, 20001)
    gv = np.array([1.0 if v == 0 else mills_g(1 / v) for v in u])
    c = lawson(u - ctr, gv, 9, 1 / gv)
    p = horner32(c, np.float32(u) - np.float32(ctr))
    show(f"mills g on [{lo}, {hi}] in u - {ctr}", c, np.max(np.abs(p - gv) / gv) / ULP)
